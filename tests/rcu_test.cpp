// Tests for ordo/rcu.hpp: read sections, grace periods, retire, thread exit,
// fork, membarrier fallback, domain independence, sanitizer visibility, and
// the standard's <rcu> interface written as a <rcu> program would be.
#include <ordo/hook.hpp>
#include <ordo/rcu.hpp>

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>
#include "expect_ok.hpp"

namespace {

using namespace std::chrono_literals;

// Collects runtime reports instead of aborting.
struct report_log {
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::vector<ordo::rcu_report>& reports() {
    static std::vector<ordo::rcu_report> r;
    return r;
  }
  static void handler(const ordo::rcu_report& report) {
    std::lock_guard lock(mutex());
    reports().push_back(report);
  }
  static std::size_t count(ordo::rcu_report_kind kind, const ordo::rcu_domain* domain) {
    std::lock_guard lock(mutex());
    std::size_t n = 0;
    for (const auto& r : reports()) n += (r.kind == kind && r.domain == domain) ? 1 : 0;
    return n;
  }
};

class capture_reports {
 public:
  capture_reports() : previous_(ordo::set_rcu_report_handler(&report_log::handler)) {
    std::lock_guard lock(report_log::mutex());
    report_log::reports().clear();
  }
  ~capture_reports() { ordo::set_rcu_report_handler(previous_); }

 private:
  ordo::rcu_report_handler previous_;
};

// Polls `done` for a while; true if it became true. Used only to give a
// wrong implementation the chance to fail (never to assert speed).
template <class Pred>
bool becomes_true_within(Pred done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

// Runs `work` on a detached thread; true if it finished within `limit`.
// On false the thread (and whatever it uses) is leaked on purpose: that is
// how a test reports a hang instead of becoming one.
bool completes_within(std::function<void()> work, std::chrono::milliseconds limit) {
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::thread([work = std::move(work), done] {
    work();
    done->store(true);
  }).detach();
  return becomes_true_within([&] { return done->load(); }, limit);
}

struct config {
  int value;
};
void use(const config& c) { ASSERT_GT(c.value, 0); }

TEST(RcuDomain, ExampleFromHeader) {
  ordo::rcu_domain domain;
  std::atomic<config*> current{new config{1}};
  {
    ordo::rcu_read_guard guard(domain);
    use(*current.load(std::memory_order_acquire));
  }
  config* old = current.exchange(new config{2});
  domain.retire(old);
  domain.barrier();
  EXPECT_EQ(domain.backlog(), 0u);
  domain.synchronize();
  delete current.exchange(nullptr);
}

TEST(RcuDomain, ReadSectionsNest) {
  ordo::rcu_domain domain;
  EXPECT_FALSE(domain.in_read_section());
  domain.read_lock();
  EXPECT_TRUE(domain.in_read_section());
  {
    ordo::rcu_read_guard inner(domain);
    EXPECT_TRUE(domain.in_read_section());
    domain.read_lock();
    domain.read_unlock();
    EXPECT_TRUE(domain.in_read_section());
  }
  EXPECT_TRUE(domain.in_read_section());
  domain.read_unlock();
  EXPECT_FALSE(domain.in_read_section());
  domain.synchronize();  // would report (and abort) if still inside
}

TEST(RcuDomain, NestedSectionStillBlocksGracePeriodUntilOutermostUnlock) {
  ordo::rcu_domain domain;
  std::atomic<int> stage{0};
  std::atomic<bool> synchronized{false};
  std::thread reader([&] {
    domain.read_lock();
    domain.read_lock();
    stage = 1;
    while (stage.load() != 2) std::this_thread::yield();
    domain.read_unlock();  // inner: the section is still open
    stage = 3;
    while (stage.load() != 4) std::this_thread::yield();
    domain.read_unlock();
  });
  while (stage.load() != 1) std::this_thread::yield();
  std::thread writer([&] {
    domain.synchronize();
    synchronized = true;
  });
  stage = 2;
  while (stage.load() != 3) std::this_thread::yield();
  EXPECT_FALSE(becomes_true_within([&] { return synchronized.load(); }, 50ms));
  stage = 4;
  writer.join();
  reader.join();
  EXPECT_TRUE(synchronized.load());
}

TEST(RcuDomain, SynchronizeWaitsForPreexistingReader) {
  ordo::rcu_domain domain;
  std::atomic<bool> inside{false}, release{false}, synchronized{false};
  std::thread reader([&] {
    ordo::rcu_read_guard guard(domain);
    inside = true;
    while (!release.load()) std::this_thread::yield();
  });
  while (!inside.load()) std::this_thread::yield();
  std::thread writer([&] {
    domain.synchronize();
    synchronized = true;
  });
  EXPECT_FALSE(becomes_true_within([&] { return synchronized.load(); }, 100ms));
  release = true;
  writer.join();
  reader.join();
  EXPECT_TRUE(synchronized.load());
  EXPECT_GE(domain.grace_periods(), 1u);
}

TEST(RcuDomain, BusyReadersDoNotStarveGracePeriods) {
  ordo::rcu_domain domain;
  std::atomic<bool> stop{false};
  std::atomic<long> sections{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        ordo::rcu_read_guard guard(domain);
        sections.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  while (sections.load() < 1000) std::this_thread::yield();  // readers are busy
  for (int i = 0; i < 200; ++i) domain.synchronize();  // never idle readers: must still end
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(domain.grace_periods(), 200u);
  EXPECT_GT(sections.load(), 0);
}

TEST(RcuDomain, SlowReaderDoesNotStallUnrelatedDomain) {
  ordo::rcu_domain slow_domain;
  ordo::rcu_domain other_domain;
  std::atomic<bool> inside{false}, release{false};
  std::thread reader([&] {
    ordo::rcu_read_guard guard(slow_domain);
    ordo::rcu_read_guard other(other_domain);  // also a reader of the other
    inside = true;
    while (!release.load()) std::this_thread::yield();
  });
  while (!inside.load()) std::this_thread::yield();
  // Readers of the other domain outside a section, and a grace period of the
  // other domain while the slow reader sits in slow_domain: must complete.
  std::atomic<bool> other_synchronized{false};
  std::thread other_writer([&] {
    {
      ordo::rcu_read_guard guard(other_domain);
    }
    other_synchronized = true;
  });
  other_writer.join();
  std::atomic<bool> slow_synchronized{false};
  std::thread slow_writer([&] {
    slow_domain.synchronize();
    slow_synchronized = true;
  });
  EXPECT_FALSE(becomes_true_within([&] { return slow_synchronized.load(); }, 50ms));
  release = true;
  reader.join();
  slow_writer.join();
  // Now with the slow reader inside slow_domain only.
  inside = false;
  release = false;
  std::thread reader2([&] {
    ordo::rcu_read_guard guard(slow_domain);
    inside = true;
    while (!release.load()) std::this_thread::yield();
  });
  while (!inside.load()) std::this_thread::yield();
  other_domain.synchronize();  // returns although slow_domain has a reader inside
  ordo::rcu_domain third;
  third.retire(new int(3));
  third.barrier();
  EXPECT_EQ(third.backlog(), 0u);
  release = true;
  reader2.join();
  EXPECT_TRUE(other_synchronized.load());
}

TEST(RcuDomain, ThreadExitOutsideSectionUnregisters) {
  ordo::rcu_domain domain;
  EXPECT_EQ(domain.reader_threads(), 0u);
  std::atomic<bool> used{false}, exit_now{false};
  std::thread reader([&] {
    { ordo::rcu_read_guard guard(domain); }
    used = true;
    while (!exit_now.load()) std::this_thread::yield();
  });
  while (!used.load()) std::this_thread::yield();
  EXPECT_EQ(domain.reader_threads(), 1u);
  exit_now = true;
  reader.join();
  EXPECT_EQ(domain.reader_threads(), 0u);
  domain.synchronize();
}

TEST(RcuDomain, ThreadExitInsideSectionIsReportedAndEndsTheSection) {
  capture_reports capture;
  ordo::rcu_domain domain;
  std::thread reader([&] { domain.read_lock(); });  // never unlocks
  reader.join();
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::thread_exit_in_read_section, &domain), 1u);
  EXPECT_EQ(domain.reader_threads(), 0u);
  domain.synchronize();  // does not wait for the dead thread
}

// A thread_local constructed before the thread's first read section is
// destroyed after... nothing of RCU: the thread's RCU state is freed after
// every thread_local destructor (I9), so its sections are ordinary ones.
ordo::rcu_domain* late_domain = nullptr;
std::atomic<int> late_sections{0};
struct late_reader {
  ~late_reader() {
    ordo::rcu_read_guard guard(*late_domain);
    EXPECT_TRUE(late_domain->in_read_section());
    late_sections.fetch_add(1);
  }
};

TEST(RcuDomain, ReadSectionsStillWorkInThreadLocalDestructorsAfterTeardown) {
  ordo::rcu_domain domain;
  late_domain = &domain;
  late_sections = 0;
  std::thread reader([&] {
    thread_local late_reader late;  // constructed first, destroyed last
    (void)&late;
    ordo::rcu_read_guard guard(domain);  // creates the thread's RCU state
  });
  reader.join();
  EXPECT_EQ(late_sections.load(), 1);
  EXPECT_EQ(domain.reader_threads(), 0u);
  domain.synchronize();  // the anonymous section ended: no wait for ever
}

TEST(RcuDomain, UnlockWithoutLockIsReportedAndIgnored) {
  capture_reports capture;
  ordo::rcu_domain domain;
  domain.read_unlock();  // thread has no record yet
  { ordo::rcu_read_guard guard(domain); }
  domain.read_unlock();  // has a record, no section
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::unlock_without_lock, &domain), 2u);
  EXPECT_FALSE(domain.in_read_section());
  domain.synchronize();
}

TEST(RcuDomain, WaitingInsideOwnReadSectionIsReportedNotADeadlock) {
  capture_reports capture;
  ordo::rcu_domain domain;
  {
    ordo::rcu_read_guard guard(domain);
    domain.synchronize();
    domain.barrier();
  }
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::wait_in_read_section, &domain), 2u);
}

TEST(RcuDomainDeathTest, DefaultHandlerAbortsOnSynchronizeInsideReadSection) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        ordo::rcu_domain domain;
        ordo::rcu_read_guard guard(domain);
        domain.synchronize();
      },
      "ordo: rcu: synchronize\\(\\) inside a read section");
}

TEST(RcuDomain, RetireRunsDeleterOnlyAfterPreexistingReadersLeave) {
  ordo::rcu_domain domain;
  std::atomic<bool> inside{false}, release{false}, deleted{false}, barrier_done{false};
  std::thread reader([&] {
    ordo::rcu_read_guard guard(domain);
    inside = true;
    while (!release.load()) std::this_thread::yield();
  });
  while (!inside.load()) std::this_thread::yield();
  domain.retire(new int(7), [&](int* p) {
    delete p;
    deleted = true;
  });
  EXPECT_EQ(domain.backlog(), 1u);
  std::thread waiter([&] {
    domain.barrier();
    barrier_done = true;
  });
  EXPECT_FALSE(becomes_true_within([&] { return deleted.load(); }, 50ms));
  release = true;
  waiter.join();
  reader.join();
  EXPECT_TRUE(deleted.load());
  EXPECT_TRUE(barrier_done.load());
  EXPECT_EQ(domain.backlog(), 0u);
}

TEST(RcuDomain, RetireBacklogIsBounded) {
  constexpr std::size_t limit = 8;
  ordo::rcu_domain domain(ordo::rcu_domain_options{.backlog_limit = limit});
  std::atomic<int> deleted{0};
  for (int i = 0; i < 100; ++i) {
    domain.retire(new int(i), [&](int* p) {
      delete p;
      deleted.fetch_add(1);
    });
    EXPECT_LT(domain.backlog(), limit);
    EXPECT_EQ(deleted.load() + static_cast<int>(domain.backlog()), i + 1);
  }
  EXPECT_GE(domain.grace_periods(), 100u / limit);
  domain.barrier();
  EXPECT_EQ(deleted.load(), 100);
}

TEST(RcuDomain, RetireInsideReadSectionDefersWithoutWaiting) {
  constexpr std::size_t limit = 4;
  ordo::rcu_domain domain(ordo::rcu_domain_options{.backlog_limit = limit});
  int deleted = 0;
  {
    ordo::rcu_read_guard guard(domain);
    for (int i = 0; i < 10; ++i) {
      domain.retire(new int(i), [&](int* p) {
        delete p;
        ++deleted;
      });
    }
    EXPECT_EQ(deleted, 0);  // a grace period here would wait for ourselves
    EXPECT_EQ(domain.backlog(), 10u);
  }
  domain.retire(new int(10), [&](int* p) {
    delete p;
    ++deleted;
  });  // outside: the full backlog is reclaimed now
  EXPECT_EQ(deleted, 11);
  EXPECT_EQ(domain.backlog(), 0u);
}

TEST(RcuDomain, DeletersRunOldestFirstAndMayRetireMore) {
  ordo::rcu_domain domain(ordo::rcu_domain_options{.backlog_limit = 2});
  std::vector<int> order;
  capture_reports capture;
  domain.retire(new int(1), [&](int* p) {
    order.push_back(*p);
    delete p;
    // A deleter retiring into its own domain must not re-enter reclaim.
    domain.retire(new int(3), [&](int* q) {
      order.push_back(*q);
      delete q;
    });
    domain.barrier();  // reported: it would wait for itself
  });
  domain.retire(new int(2), [&](int* p) {
    order.push_back(*p);
    delete p;
  });  // backlog full: runs 1 then 2
  domain.barrier();  // runs 3
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::wait_in_callback, &domain), 1u);
}

// issue 10, RCU edge 1: a deleter that retires into the same domain (freeing
// a node retires its children) still runs before the domain is gone.
struct tree_node {
  int depth;
  ordo::rcu_domain* domain;
  int* freed;
};
void free_tree_node(tree_node* node) {
  if (node->depth < 3) {
    node->domain->retire(new tree_node{node->depth + 1, node->domain, node->freed},
                         &free_tree_node);
    node->domain->retire(new tree_node{node->depth + 1, node->domain, node->freed},
                         &free_tree_node);
  }
  ++*node->freed;
  delete node;
}

TEST(RcuDomain, DestructorRunsDeletersRetiredByDeleters) {
  int freed = 0;
  {
    ordo::rcu_domain domain;
    domain.retire(new tree_node{0, &domain, &freed}, &free_tree_node);
  }
  EXPECT_EQ(freed, 1 + 2 + 4 + 8);  // every level of the tree
}

// issue 10, RCU edge 2: waits from inside a section opened by a thread_local
// destructor (after the thread's other state is gone) are reported, not
// waits for themselves.
struct waits_in_destructor {
  ordo::rcu_domain* domain = nullptr;
  ordo::hook_ptr<int(int), ordo::rcu_protect>* hook = nullptr;
  std::error_code* clear_error = nullptr;
  bool* in_section = nullptr;
  ~waits_in_destructor() {
    if (domain == nullptr) return;
    ordo::rcu_read_guard guard(*domain);
    *in_section = domain->in_read_section();
    domain->synchronize();
    domain->barrier();
    domain->retire(new int(1));  // backlog full (limit 1): deferred, no wait
    *clear_error = hook->clear().error;
  }
};

int twice(int x) { return 2 * x; }

TEST(RcuDomain, WaitsInsideThreadLocalDestructorSectionsAreReported) {
  capture_reports capture;
  auto* domain = new ordo::rcu_domain(ordo::rcu_domain_options{.backlog_limit = 1});
  auto* hook = new ordo::hook_ptr<int(int), ordo::rcu_protect>(*domain);
  ordo::hook<int(int)> h(&twice);
  ASSERT_OK(hook->publish(h));
  std::error_code clear_error;
  bool in_section = false;
  const bool finished = completes_within(
      [&] {
        std::thread([&] {
          thread_local waits_in_destructor late;  // constructed first, destroyed last
          late.hook = hook;
          late.clear_error = &clear_error;
          late.in_section = &in_section;
          late.domain = domain;
          ordo::rcu_read_guard guard(*domain);  // creates the thread's RCU state
        }).join();
      },
      5000ms);
  ASSERT_TRUE(finished) << "a wait inside the destructor's section waited for itself";
  EXPECT_TRUE(in_section);
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::wait_in_read_section, domain), 2u);
  EXPECT_EQ(clear_error, std::errc::resource_deadlock_would_occur);
  EXPECT_TRUE(hook->is_set());
  (void)hook->clear();
  delete hook;
  delete domain;  // runs the deferred deleter
}

// A POSIX thread-specific-data key whose destructor runs after the RCU
// state's (glibc runs them in key order).
pthread_key_t key_after_rcu(void (*destructor)(void*)) {
  std::vector<pthread_key_t> lower;
  pthread_key_t key;
  for (;;) {
    if (pthread_key_create(&key, destructor) != 0) std::abort();
    if (key > ordo::detail::rcu_thread_key()) break;
    lower.push_back(key);
  }
  for (pthread_key_t k : lower) pthread_key_delete(k);
  return key;
}

// The same from a POSIX thread-specific-data destructor that runs after the
// thread's RCU state is freed: the section is anonymous (I9), counted for
// grace periods and still known to in_read_section().
struct tsd_context {
  ordo::rcu_domain* domain;
  bool in_section = false;
  std::atomic<bool> inside{false};
  std::atomic<bool> release{false};
};
void tsd_reader(void* arg) {
  auto* context = static_cast<tsd_context*>(arg);
  ordo::rcu_read_guard guard(*context->domain);
  context->in_section = context->domain->in_read_section();
  context->domain->synchronize();  // reported: would wait for itself
  context->inside = true;
  while (!context->release.load()) std::this_thread::yield();
}

// The thread links its record in `domain`, then opens a section from a
// destructor that runs after its RCU state is gone (I9).
void expect_anonymous_section_known_and_waited_for(ordo::rcu_domain& domain) {
  capture_reports capture;
  const pthread_key_t key = key_after_rcu(&tsd_reader);
  tsd_context context{&domain};
  std::thread reader([&] {
    { ordo::rcu_read_guard guard(domain); }  // this thread has RCU state
    pthread_setspecific(key, &context);
  });
  while (!context.inside.load()) std::this_thread::yield();
  EXPECT_TRUE(context.in_section);
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::wait_in_read_section, &domain), 1u);
  // The anonymous section holds grace periods back until it ends.
  std::atomic<bool> synchronized{false};
  std::thread writer([&] {
    domain.synchronize();
    synchronized = true;
  });
  EXPECT_FALSE(becomes_true_within([&] { return synchronized.load(); }, 100ms));
  context.release = true;
  writer.join();
  reader.join();
  EXPECT_TRUE(synchronized.load());
  pthread_key_delete(key);
}

TEST(RcuDomain, AnonymousSectionsAreKnownAndWaitedFor) {
  auto domain = std::make_unique<ordo::rcu_domain>();
  expect_anonymous_section_known_and_waited_for(*domain);
}

// issue 10, RCU edge 3: a section opened in the thread body and closed by a
// thread_local destructor: no underflow, no freed record touched (ASan).
ordo::rcu_domain* closing_domain = nullptr;
struct closes_in_destructor {
  bool armed = false;
  ~closes_in_destructor() {
    if (armed) closing_domain->read_unlock();
  }
};

TEST(RcuDomain, SectionClosedByThreadLocalDestructor) {
  capture_reports capture;
  auto* domain = new ordo::rcu_domain;
  closing_domain = domain;
  std::thread([&] {
    thread_local closes_in_destructor closer;
    thread_local std::optional<ordo::rcu_read_guard> guard;
    closer.armed = true;
    domain->read_lock();    // closed by closer's destructor
    guard.emplace(*domain);  // closed by the optional's destructor
  }).join();
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::unlock_without_lock, domain), 0u);
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::thread_exit_in_read_section, domain), 0u);
  EXPECT_EQ(domain->reader_threads(), 0u);
  const bool finished = completes_within([domain] { domain->synchronize(); }, 5000ms);
  ASSERT_TRUE(finished) << "a grace period waits for a section that ended";
  delete domain;
}

// A section still open when the thread's RCU state goes (closed by a later
// thread-specific-data destructor): ended and reported at teardown, and the
// late unlock is reported, not applied to freed or anonymous state (I10).
struct late_guard_context {
  ordo::rcu_domain* domain;
  std::optional<ordo::rcu_read_guard> guard;
};
void close_late_guard(void* arg) { static_cast<late_guard_context*>(arg)->guard.reset(); }

TEST(RcuDomain, SectionOutlivingTheThreadStateIsEndedAndItsUnlockReported) {
  capture_reports capture;
  auto* domain = new ordo::rcu_domain;
  const pthread_key_t key = key_after_rcu(&close_late_guard);
  late_guard_context context{domain, std::nullopt};
  std::thread([&] {
    context.guard.emplace(*domain);
    pthread_setspecific(key, &context);
  }).join();
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::thread_exit_in_read_section, domain), 1u);
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::unlock_without_lock, domain), 1u);
  const bool finished = completes_within([domain] { domain->synchronize(); }, 5000ms);
  ASSERT_TRUE(finished);
  pthread_key_delete(key);
  delete domain;
}

// issue 10, RCU edge 4: the ignored 65536th read_lock() has an ignored
// read_unlock(), so the outermost section does not end one unlock early.
TEST(RcuDomain, NestingOverflowUnlockIsIgnoredToo) {
  capture_reports capture;
  ordo::rcu_domain domain;
  constexpr int limit = 65535;
  for (int i = 0; i < limit; ++i) domain.read_lock();
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::nesting_overflow, &domain), 0u);
  domain.read_lock();                 // reported, ignored
  const auto token = domain.enter();  // the token form (guards, hooks): alike
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::nesting_overflow, &domain), 2u);
  domain.leave(token);
  domain.read_unlock();
  for (int i = 0; i < limit - 1; ++i) domain.read_unlock();
  EXPECT_TRUE(domain.in_read_section());  // the outermost section is still open
  domain.read_unlock();
  EXPECT_FALSE(domain.in_read_section());
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::unlock_without_lock, &domain), 0u);
  domain.synchronize();
}

// issue 10, RCU edge 5: fork() while another thread is inside a read
// section. The child has no such thread: its grace periods must not wait.
TEST(RcuDomain, ForkChildDoesNotWaitForTheParentsReaders) {
  ordo::rcu_domain domain;
  std::atomic<bool> inside{false}, release{false};
  std::thread reader([&] {
    ordo::rcu_read_guard guard(domain);
    ordo::rcu_read_guard default_guard;  // and in the default domain
    inside = true;
    while (!release.load()) std::this_thread::yield();
  });
  while (!inside.load()) std::this_thread::yield();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    domain.synchronize();
    ordo::rcu_default_domain().synchronize();
    int freed = 0;
    domain.retire(&freed, [](int* p) { *p = 1; });
    domain.barrier();
    { ordo::rcu_read_guard guard(domain); }
    _exit(freed == 1 && !domain.in_read_section() ? 0 : 2);
  }
  int status = 0;
  pid_t waited = 0;
  for (int i = 0; i < 5000 && waited == 0; ++i) {
    waited = waitpid(child, &status, WNOHANG);
    if (waited == 0) std::this_thread::sleep_for(1ms);
  }
  if (waited == 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  release = true;
  reader.join();
  ASSERT_NE(waited, 0) << "the fork child's grace period waited for a thread it does not have";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  domain.synchronize();  // the parent's reader is still known and has left
}

TEST(RcuDomain, DestructorRunsPendingDeleters) {
  int deleted = 0;
  {
    ordo::rcu_domain domain;
    domain.retire(new int(1), [&](int* p) {
      delete p;
      ++deleted;
    });
  }
  EXPECT_EQ(deleted, 1);
}

TEST(RcuDomain, DefaultDomainIsOneObject) {
  EXPECT_EQ(&ordo::rcu_default_domain(), &ordo::rcu_default_domain());
  {
    ordo::rcu_read_guard guard;
    EXPECT_TRUE(ordo::rcu_default_domain().in_read_section());
  }
  ordo::rcu_default_domain().synchronize();
}

// I14: in membarrier mode the default domain's sections use a record in the
// thread's TLS block, not one from the heap. Its life follows the same
// rules: linked by the first section, waited for, unlinked at thread exit,
// and a section or token that outlives the thread's state is ended and
// reported (I9, I10). These run the heap records' cases on it.
// The n-th call waits until hook_released reaches n.
std::atomic<int> hook_entered{0}, hook_released{0};
int blocking_hook_function(int x) {
  const int n = hook_entered.fetch_add(1) + 1;
  while (hook_released.load() < n) std::this_thread::yield();
  return x;
}
ordo::hook<int(int)> blocking_hook(&blocking_hook_function);
int reentering_hook_function(int x) {
  ordo::rcu_default_domain().read_lock();  // closed after the call returns
  return x + 1;
}
ordo::hook<int(int)> reentering_hook(&reentering_hook_function);

TEST(RcuDefaultRecord, LinkedByTheFirstSectionAndUnlinkedAtThreadExit) {
  ordo::rcu_domain& domain = ordo::rcu_default_domain();
  const std::size_t before = domain.reader_threads();
  std::atomic<bool> used{false}, exit_now{false};
  std::thread reader([&] {
    EXPECT_FALSE(domain.in_read_section());
    {
      ordo::rcu_read_guard guard;
      EXPECT_TRUE(domain.in_read_section());
    }
    EXPECT_FALSE(domain.in_read_section());
    used = true;
    while (!exit_now.load()) std::this_thread::yield();
  });
  while (!used.load()) std::this_thread::yield();
  EXPECT_EQ(domain.reader_threads(), before + 1);
  exit_now = true;
  reader.join();
  EXPECT_EQ(domain.reader_threads(), before);
  domain.synchronize();
}

TEST(RcuDefaultRecord, SynchronizeWaitsForAHookCallAndForANestedSection) {
  ordo::hook_ptr<int(int), ordo::rcu_protect> ptr;  // the default domain
  ASSERT_FALSE(ptr.publish(blocking_hook));
  hook_entered = 0;
  hook_released = 0;
  std::thread reader([&] {
    EXPECT_EQ(ptr.call(1), 1);  // the thread's first section: the slow path
    {
      ordo::rcu_read_guard guard;
      EXPECT_EQ(ptr.call(2), 2);  // nested in the guard's section
    }
    EXPECT_EQ(ptr.call(3), 3);  // the inlined path
  });
  for (int call = 1; call <= 3; ++call) {
    while (hook_entered.load() < call) std::this_thread::yield();
    std::atomic<bool> synchronized{false};
    std::thread writer([&] {
      ordo::rcu_default_domain().synchronize();
      synchronized = true;
    });
    EXPECT_FALSE(becomes_true_within([&] { return synchronized.load(); }, 50ms))
        << "call " << call;
    hook_released = call;
    writer.join();
    EXPECT_TRUE(synchronized.load());
  }
  reader.join();
  ptr.clear();
}

TEST(RcuDefaultRecord, EnterResidentOpensOnlyAnOutermostDefaultDomainSection) {
  ordo::rcu_domain other;
  EXPECT_EQ(other.enter_resident(), 0u);  // not the default domain: nothing opened
  EXPECT_FALSE(other.in_read_section());
  ordo::rcu_domain& domain = ordo::rcu_default_domain();
  EXPECT_TRUE(domain.is_default());
  EXPECT_FALSE(other.is_default());
  { ordo::rcu_read_guard guard; }  // the thread's record is linked
  EXPECT_FALSE(domain.in_read_section());
  if (domain.fence_mode() != ordo::rcu_fence_mode::membarrier) {
    EXPECT_EQ(domain.enter_resident(), 0u);  // fallback mode keeps heap records
    return;
  }
  const std::uint64_t entered = domain.enter_resident();
  ASSERT_NE(entered, 0u);
  EXPECT_TRUE(domain.in_read_section());
  EXPECT_FALSE(other.in_read_section());
  EXPECT_EQ(domain.enter_resident(), 0u);  // nested: nothing opened
  domain.leave_resident(entered);
  EXPECT_FALSE(domain.in_read_section());
}

TEST(RcuDefaultRecord, ASectionLeftOpenInsideAHookCallStaysOpenAfterIt) {
  capture_reports capture;
  ordo::hook_ptr<int(int), ordo::rcu_protect> ptr;
  ASSERT_FALSE(ptr.publish(reentering_hook));
  ordo::rcu_domain& domain = ordo::rcu_default_domain();
  EXPECT_EQ(ptr.call(1), 2);  // the hook's read_lock() outlives the call
  EXPECT_TRUE(domain.in_read_section());
  domain.read_unlock();
  EXPECT_FALSE(domain.in_read_section());
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::unlock_without_lock, &domain), 0u);
  ptr.clear();
}

TEST(RcuDefaultRecord, ThreadExitInsideSectionIsReportedAndEndsTheSection) {
  capture_reports capture;
  ordo::rcu_domain& domain = ordo::rcu_default_domain();
  const std::size_t before = domain.reader_threads();
  std::thread reader([&] { domain.read_lock(); });  // never unlocks
  reader.join();
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::thread_exit_in_read_section, &domain), 1u);
  EXPECT_EQ(domain.reader_threads(), before);
  const bool finished = completes_within([&domain] { domain.synchronize(); }, 5000ms);
  ASSERT_TRUE(finished) << "a grace period waits for a thread that exited";
  // A new thread (perhaps in the same TLS memory) starts unregistered.
  std::thread([&] {
    EXPECT_FALSE(domain.in_read_section());
    { ordo::rcu_read_guard guard; }
    EXPECT_FALSE(domain.in_read_section());
  }).join();
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::unlock_without_lock, &domain), 0u);
}

TEST(RcuDefaultRecord, ThreadLocalDestructorsStillHaveTheRecord) {
  late_domain = &ordo::rcu_default_domain();
  late_sections = 0;
  std::thread reader([&] {
    thread_local late_reader late;  // destroyed before the thread's RCU state (I9)
    (void)&late;
    ordo::rcu_read_guard guard;  // links the thread's record
  });
  reader.join();
  EXPECT_EQ(late_sections.load(), 1);
  const bool finished =
      completes_within([] { ordo::rcu_default_domain().synchronize(); }, 5000ms);
  ASSERT_TRUE(finished);
}

TEST(RcuDefaultRecord, SectionsAfterTeardownAreAnonymousAndWaitedFor) {
  expect_anonymous_section_known_and_waited_for(ordo::rcu_default_domain());
}

TEST(RcuDefaultRecord, SectionOutlivingTheThreadStateIsEndedAndItsUnlockReported) {
  capture_reports capture;
  ordo::rcu_domain& domain = ordo::rcu_default_domain();
  const pthread_key_t key = key_after_rcu(&close_late_guard);
  late_guard_context context{&domain, std::nullopt};
  std::thread([&] {
    context.guard.emplace(domain);  // its token names the TLS record
    pthread_setspecific(key, &context);
  }).join();
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::thread_exit_in_read_section, &domain), 1u);
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::unlock_without_lock, &domain), 1u);
  const bool finished = completes_within([&domain] { domain.synchronize(); }, 5000ms);
  ASSERT_TRUE(finished);
  pthread_key_delete(key);
}

TEST(RcuDomain, MoreDomainsThanThreadLocalSlots) {
  std::vector<std::unique_ptr<ordo::rcu_domain>> domains;
  for (int i = 0; i < 40; ++i) domains.push_back(std::make_unique<ordo::rcu_domain>());
  for (auto& d : domains) d->read_lock();
  for (auto& d : domains) EXPECT_TRUE(d->in_read_section());
  for (auto& d : domains) d->read_unlock();
  std::thread other([&] {
    for (auto& d : domains) {
      ordo::rcu_read_guard guard(*d);
    }
  });
  other.join();
  for (auto& d : domains) {
    EXPECT_FALSE(d->in_read_section());
    d->synchronize();
  }
}

TEST(RcuDomain, DomainDestroyedBeforeItsReaderThreadExits) {
  std::atomic<int> stage{0};
  auto domain = std::make_unique<ordo::rcu_domain>();
  ordo::rcu_domain* raw = domain.get();
  std::thread reader([&] {
    { ordo::rcu_read_guard guard(*raw); }
    stage = 1;
    while (stage.load() != 2) std::this_thread::yield();
    // The old record is an orphan now; a new domain (possibly reusing the
    // slot) must get a fresh record.
    ordo::rcu_domain fresh;
    { ordo::rcu_read_guard guard(fresh); }
    EXPECT_EQ(fresh.reader_threads(), 1u);
    fresh.synchronize();
  });
  while (stage.load() != 1) std::this_thread::yield();
  domain.reset();
  stage = 2;
  reader.join();
}

// --- membarrier probe and fallback ------------------------------------------

long fake_enosys(int, unsigned, int) noexcept {
  errno = ENOSYS;
  return -1;
}
long fake_eperm(int, unsigned, int) noexcept {
  errno = EPERM;
  return -1;
}
long fake_no_private_expedited(int cmd, unsigned, int) noexcept {
  return cmd == MEMBARRIER_CMD_QUERY ? MEMBARRIER_CMD_GLOBAL : 0;
}
long fake_register_refused(int cmd, unsigned, int) noexcept {
  if (cmd == MEMBARRIER_CMD_QUERY) {
    return MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED;
  }
  errno = EPERM;
  return -1;
}
long fake_working(int cmd, unsigned, int) noexcept {
  if (cmd == MEMBARRIER_CMD_QUERY) {
    return MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED;
  }
  return 0;
}

TEST(RcuMembarrierProbe, DetectsEveryUnavailableCase) {
  auto p = ordo::detail::probe_membarrier(&fake_enosys);
  EXPECT_FALSE(p.available);
  EXPECT_EQ(p.error, ENOSYS);
  p = ordo::detail::probe_membarrier(&fake_eperm);  // e.g. seccomp
  EXPECT_FALSE(p.available);
  EXPECT_EQ(p.error, EPERM);
  p = ordo::detail::probe_membarrier(&fake_no_private_expedited);
  EXPECT_FALSE(p.available);
  EXPECT_EQ(p.error, EINVAL);
  p = ordo::detail::probe_membarrier(&fake_register_refused);
  EXPECT_FALSE(p.available);
  EXPECT_EQ(p.error, EPERM);
  p = ordo::detail::probe_membarrier(&fake_working);
  EXPECT_TRUE(p.available);
  EXPECT_EQ(p.error, 0);
}

TEST(RcuDomain, AutomaticModeFollowsTheProbe) {
  ordo::rcu_domain domain;
  EXPECT_EQ(domain.fence_mode() == ordo::rcu_fence_mode::membarrier,
            ordo::rcu_membarrier_available());
}

struct poisonable {
  static constexpr long alive = 0x600d;
  static constexpr long poison = 0xdead;
  long state = alive;
};

// Readers check every object they reach is alive; the writer replaces,
// waits (or retires) and poisons. Works in either fence mode.
void run_replace_and_poison(ordo::rcu_domain& domain, bool use_retire,
                            std::chrono::milliseconds duration) {
  std::atomic<poisonable*> current{new poisonable};
  std::atomic<bool> stop{false};
  std::atomic<long> bad{0}, reads{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        ordo::rcu_read_guard guard(domain);
        const poisonable* p = current.load(std::memory_order_acquire);
        if (p->state != poisonable::alive) bad.fetch_add(1);
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + duration;
  long swaps = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    poisonable* old = current.exchange(new poisonable);
    if (use_retire) {
      domain.retire(old, [](poisonable* p) {
        p->state = poisonable::poison;
        delete p;
      });
    } else {
      domain.synchronize();
      old->state = poisonable::poison;
      delete old;
    }
    ++swaps;
  }
  stop = true;
  for (auto& t : readers) t.join();
  domain.barrier();
  delete current.load();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(swaps, 0);
  EXPECT_GT(reads.load(), 0);
}

TEST(RcuDomain, ForcedFallbackModeIsUsedAndCorrect) {
  ordo::rcu_domain domain(ordo::rcu_domain_options{.fence = ordo::rcu_fence::fallback});
  EXPECT_EQ(domain.fence_mode(), ordo::rcu_fence_mode::fallback);
  run_replace_and_poison(domain, /*use_retire=*/false, 200ms);
  run_replace_and_poison(domain, /*use_retire=*/true, 200ms);
}

TEST(RcuDomain, AutomaticModeIsCorrect) {
  ordo::rcu_domain domain(ordo::rcu_domain_options{.backlog_limit = 16});
  run_replace_and_poison(domain, /*use_retire=*/false, 200ms);
  run_replace_and_poison(domain, /*use_retire=*/true, 200ms);
}

// --- the heavy fence ----------------------------------------------------------

// Each grace period of a membarrier-mode domain issues
// MEMBARRIER_CMD_PRIVATE_EXPEDITED after advancing the epoch and before it
// finishes scanning the readers (O2): the fence that orders every reader's
// counter store before that reader's loads. Without it a reader's store can
// sit in its store buffer while it loads the old pointer, the scan reads the
// stale counter and the grace period ends too early: a race no test can
// provoke reliably on a loaded machine, so this test checks the call itself
// through the system-call seam (detail::membarrier_syscall).
std::atomic<int> fence_calls{0};
std::atomic<std::uint64_t> grace_periods_at_fence{0};
ordo::rcu_domain* fenced_domain = nullptr;
long counting_membarrier(int cmd, unsigned flags, int cpu_id) noexcept {
  if (cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED && fenced_domain != nullptr) {
    fence_calls.fetch_add(1);
    grace_periods_at_fence.store(fenced_domain->grace_periods());
  }
  return ordo::detail::sys_membarrier(cmd, flags, cpu_id);
}

TEST(RcuDomain, EveryGracePeriodIssuesTheHeavyFenceBeforeItEnds) {
  ordo::rcu_domain domain;
  if (domain.fence_mode() != ordo::rcu_fence_mode::membarrier) {
    GTEST_SKIP() << "membarrier(2) unavailable: the fallback fences are seq_cst fences";
  }
  std::atomic<bool> stop{false}, registered{false};
  std::thread reader([&] {
    while (!stop.load()) {
      ordo::rcu_read_guard guard(domain);
      registered = true;
    }
  });
  while (!registered.load()) std::this_thread::yield();
  fence_calls = 0;
  fenced_domain = &domain;
  const auto previous = ordo::detail::membarrier_syscall.exchange(&counting_membarrier);
  for (int i = 0; i < 4; ++i) {
    const std::uint64_t before = domain.grace_periods();
    domain.synchronize();
    EXPECT_GE(fence_calls.load(), i + 1);  // a second one if it slept (I13)
    EXPECT_EQ(grace_periods_at_fence.load(), before);  // issued before the period ended
  }
  ordo::detail::membarrier_syscall.store(previous);
  fenced_domain = nullptr;
  stop = true;
  reader.join();
}

// Fence skip 1 of rcu.hpp: a grace period of a domain without reader
// records, or whose only record is the caller's own, issues no heavy fence;
// one with another thread's record does.
TEST(RcuDomain, GracePeriodsWithoutOtherReadersSkipTheHeavyFence) {
  ordo::rcu_domain domain;
  if (domain.fence_mode() != ordo::rcu_fence_mode::membarrier) {
    GTEST_SKIP() << "membarrier(2) unavailable: the fallback fences are seq_cst fences";
  }
  fence_calls = 0;
  fenced_domain = &domain;
  const auto previous = ordo::detail::membarrier_syscall.exchange(&counting_membarrier);
  domain.synchronize();  // no record at all
  EXPECT_EQ(fence_calls.load(), 0);
  { ordo::rcu_read_guard guard(domain); }
  domain.synchronize();  // only this thread's record
  EXPECT_EQ(fence_calls.load(), 0);
  std::atomic<bool> registered{false}, release{false};
  std::thread other([&] {
    { ordo::rcu_read_guard guard(domain); }
    registered = true;
    while (!release.load()) std::this_thread::yield();
  });
  while (!registered.load()) std::this_thread::yield();
  domain.synchronize();  // another thread's record: fenced
  EXPECT_GE(fence_calls.load(), 1);
  release = true;
  other.join();
  const int after_exit = fence_calls.load();
  domain.synchronize();  // its record left with the thread
  EXPECT_EQ(fence_calls.load(), after_exit);
  ordo::detail::membarrier_syscall.store(previous);
  fenced_domain = nullptr;
}

// --- grace periods sleep and are woken (I12, I13) -----------------------------

// The futex seam (detail::futex_syscall): counts the threads that slept,
// the wake-ups and the sleeps that ended by timeout. The timeout is raised
// to 3 s, so a lost wake-up shows as a timeout instead of hiding behind the
// 1 ms safety net.
std::atomic<int> futex_sleepers{0};
std::atomic<int> futex_wakes{0};
std::atomic<int> futex_timeouts{0};
thread_local bool this_thread_slept = false;
long counting_futex(std::atomic<std::uint32_t>* word, ordo::detail::futex_op op,
                    std::uint32_t expected, std::chrono::nanoseconds) noexcept {
  if (op == ordo::detail::futex_op::wake) {
    futex_wakes.fetch_add(1);
    return ordo::detail::sys_futex(word, op, expected, 0ns);
  }
  if (!this_thread_slept) {
    this_thread_slept = true;
    futex_sleepers.fetch_add(1);
  }
  const long result = ordo::detail::sys_futex(word, op, expected, 3s);
  const int saved = errno;
  if (result != 0 && saved == ETIMEDOUT) futex_timeouts.fetch_add(1);
  errno = saved;
  return result;
}

class futex_counting {
 public:
  futex_counting() {
    futex_sleepers = 0;
    futex_wakes = 0;
    futex_timeouts = 0;
    previous_ = ordo::detail::futex_syscall.exchange(&counting_futex);
  }
  ~futex_counting() { ordo::detail::futex_syscall.store(previous_); }
  futex_counting(const futex_counting&) = delete;
  futex_counting& operator=(const futex_counting&) = delete;

 private:
  ordo::detail::futex_call previous_;
};

// I13: a writer whose reader stays inside sleeps, is not ended by the end of
// a nested section (read_unlock) and is woken by the end of the outermost
// one (the guard), with no sleep ending by timeout. In both fence modes (in
// fallback mode only a store-buffering race is left to the timeout, and
// here the reader leaves long after the writer flagged it).
void writer_sleeps_until_the_reader_leaves(ordo::rcu_domain& domain) {
  futex_counting counting;
  std::atomic<bool> inside{false}, leave_inner{false}, inner_left{false}, leave_outer{false};
  std::atomic<bool> synchronized{false};
  std::thread reader([&] {
    ordo::rcu_read_guard outer(domain);
    domain.read_lock();
    inside = true;
    while (!leave_inner.load()) std::this_thread::yield();
    domain.read_unlock();
    inner_left = true;
    while (!leave_outer.load()) std::this_thread::yield();
  });
  while (!inside.load()) std::this_thread::yield();
  std::thread writer([&] {
    domain.synchronize();
    synchronized = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (futex_sleepers.load() < 1) {  // the writer sleeps
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "the writer never slept on the futex (it polls)";
      break;
    }
    std::this_thread::yield();
  }
  leave_inner = true;
  while (!inner_left.load()) std::this_thread::yield();
  EXPECT_FALSE(synchronized.load());  // the outer section still holds it
  leave_outer = true;
  writer.join();
  reader.join();
  EXPECT_TRUE(synchronized.load());
  EXPECT_GE(futex_wakes.load(), 1);
  EXPECT_EQ(futex_timeouts.load(), 0);
}

TEST(RcuDomain, WaitingWriterSleepsUntilTheReaderLeavesItsOutermostSection) {
  ordo::rcu_domain domain;
  if (domain.fence_mode() != ordo::rcu_fence_mode::membarrier) {
    GTEST_SKIP() << "no membarrier(2) here: the fallback twin below runs";
  }
  writer_sleeps_until_the_reader_leaves(domain);
}

TEST(RcuDomain, FallbackWaitingWriterSleepsUntilTheReaderLeavesItsOutermostSection) {
  ordo::rcu_domain domain(ordo::rcu_domain_options{.fence = ordo::rcu_fence::fallback});
  ASSERT_EQ(domain.fence_mode(), ordo::rcu_fence_mode::fallback);
  writer_sleeps_until_the_reader_leaves(domain);
}

// O5 and I12: writer A's grace period waits for reader R1. Reader R2 enters
// after it started (A does not wait for R2). Writers B and C arrive while
// A's grace period runs, so they need the next one, which must wait for R2;
// they share it: two grace periods for three calls, every sleep woken.
TEST(RcuDomain, CallersShareTheNextGracePeriodAndItWaitsForTheirReaders) {
  ordo::rcu_domain domain;
  if (domain.fence_mode() != ordo::rcu_fence_mode::membarrier) {
    GTEST_SKIP() << "the test knows A is inside its grace period when A sleeps (I13)";
  }
  futex_counting counting;
  std::atomic<bool> r1_inside{false}, r1_leave{false}, r2_inside{false}, r2_leave{false};
  std::atomic<int> r2_done_work{0};
  std::thread r1([&] {
    ordo::rcu_read_guard guard(domain);
    r1_inside = true;
    while (!r1_leave.load()) std::this_thread::yield();
  });
  while (!r1_inside.load()) std::this_thread::yield();
  const std::uint64_t before = domain.grace_periods();
  std::atomic<bool> a_done{false};
  std::thread a([&] {
    domain.synchronize();
    a_done = true;
  });
  while (futex_sleepers.load() < 1) std::this_thread::yield();  // A's grace period runs
  std::thread r2([&] {
    ordo::rcu_read_guard guard(domain);
    r2_inside = true;
    while (!r2_leave.load()) std::this_thread::yield();
    // relaxed: only the grace period may order it before B's and C's check.
    r2_done_work.store(1, std::memory_order_relaxed);
  });
  while (!r2_inside.load()) std::this_thread::yield();
  std::atomic<int> shared_done{0};
  std::atomic<int> saw_r2_work{0};
  auto sharer = [&] {
    domain.synchronize();
    // relaxed: the grace period is the only edge (O1).
    saw_r2_work.fetch_add(r2_done_work.load(std::memory_order_relaxed));
    shared_done.fetch_add(1);
  };
  std::thread b(sharer), c(sharer);
  while (futex_sleepers.load() < 3) std::this_thread::yield();  // B and C sleep in A's
  r1_leave = true;
  a.join();
  EXPECT_TRUE(a_done.load());
  // B and C arrived after R2 entered: they must wait for it.
  EXPECT_FALSE(becomes_true_within([&] { return shared_done.load() != 0; }, 100ms));
  r2_leave = true;
  b.join();
  c.join();
  r1.join();
  r2.join();
  EXPECT_EQ(shared_done.load(), 2);
  EXPECT_EQ(saw_r2_work.load(), 2);
  EXPECT_EQ(domain.grace_periods() - before, 2u);
  EXPECT_EQ(futex_timeouts.load(), 0);
}

// I13 and I10: a writer sleeping for a thread that exits inside its section
// is woken by the exit, which ends the section.
TEST(RcuDomain, WriterSleepingForAThreadThatExitsInsideItsSectionIsWoken) {
  capture_reports capture;
  ordo::rcu_domain domain;
  if (domain.fence_mode() != ordo::rcu_fence_mode::membarrier) {
    GTEST_SKIP() << "fallback mode polls (I13)";
  }
  futex_counting counting;
  std::atomic<bool> inside{false}, exit_now{false};
  std::thread reader([&] {
    domain.read_lock();  // never unlocked: the thread exits inside
    inside = true;
    while (!exit_now.load()) std::this_thread::yield();
  });
  while (!inside.load()) std::this_thread::yield();
  std::thread writer([&] { domain.synchronize(); });
  while (futex_sleepers.load() < 1) std::this_thread::yield();  // the writer sleeps
  exit_now = true;
  reader.join();
  writer.join();
  EXPECT_EQ(report_log::count(ordo::rcu_report_kind::thread_exit_in_read_section, &domain), 1u);
  EXPECT_EQ(futex_timeouts.load(), 0);
}

// Concurrent writers each unpublish, synchronize and free their own object
// while readers use every object: the sharing of O5 never frees too early.
TEST(RcuDomain, ConcurrentWritersFreeOnlyWhatNoReaderStillUses) {
  ordo::rcu_domain domain;
  constexpr int writers = 3;
  std::atomic<poisonable*> slots[writers];
  for (auto& slot : slots) slot.store(new poisonable);
  std::atomic<bool> stop{false};
  std::atomic<long> bad{0}, reads{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      long mine = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        ordo::rcu_read_guard guard(domain);
        for (auto& slot : slots) {
          const volatile long* state = &slot.load(std::memory_order_acquire)->state;
          if (*state != poisonable::alive) bad.fetch_add(1);
          ++mine;
        }
      }
      reads.fetch_add(mine);
    });
  }
  std::atomic<long> frees{0};
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 300; ++i) {
        poisonable* old = slots[w].exchange(new poisonable);
        if ((i & 1) != 0) {
          domain.retire(old, [](poisonable* p) {
            p->state = poisonable::poison;
            delete p;
          });
          continue;
        }
        domain.synchronize();
        old->state = poisonable::poison;  // plain store: after every read
        delete old;
        frees.fetch_add(1);
      }
    });
  }
  for (std::size_t t = 2; t < threads.size(); ++t) threads[t].join();
  stop = true;
  threads[0].join();
  threads[1].join();
  domain.barrier();
  for (auto& slot : slots) delete slot.load();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(frees.load(), writers * 150);
  EXPECT_GT(reads.load(), 0);
}

// --- sanitizers see the grace period ------------------------------------------

// A reader that keeps using an object after its read section ended, while
// the writer frees it after a grace period: a real use-after-retire. The
// reader waits for the free through a relaxed flag, which creates no
// happens-before edge, so only the (missing) grace-period edge could order
// the two accesses. TSan must report it; ASan must report the use after free.
[[maybe_unused]] void use_after_retire() {
  ordo::rcu_domain domain;
  std::atomic<poisonable*> current{new poisonable};
  std::atomic<bool> reader_done_section{false}, freed{false};
  std::thread reader([&] {
    poisonable* p;
    {
      ordo::rcu_read_guard guard(domain);
      p = current.load(std::memory_order_acquire);
    }
    // relaxed on purpose: no happens-before edge with the writer.
    reader_done_section.store(true, std::memory_order_relaxed);
    while (!freed.load(std::memory_order_relaxed)) std::this_thread::yield();
    volatile long state = p->state;  // BUG: outside the read section
    (void)state;
  });
  while (!reader_done_section.load(std::memory_order_relaxed)) std::this_thread::yield();
  poisonable* old = current.exchange(nullptr);
  domain.synchronize();
  delete old;
  freed.store(true, std::memory_order_relaxed);
  reader.join();
  std::exit(0);
}

// The same program used correctly (the read is inside the section) is clean.
void use_inside_section_then_free() {
  ordo::rcu_domain domain;
  std::atomic<poisonable*> current{new poisonable};
  std::atomic<bool> reader_done{false};
  std::thread reader([&] {
    ordo::rcu_read_guard guard(domain);
    poisonable* p = current.load(std::memory_order_acquire);
    volatile long state = p->state;
    (void)state;
    reader_done.store(true, std::memory_order_relaxed);
  });
  while (!reader_done.load(std::memory_order_relaxed)) std::this_thread::yield();
  poisonable* old = current.exchange(nullptr);
  domain.synchronize();  // the only edge between the read and the free
  delete old;
  reader.join();
}

TEST(RcuDomain, CorrectUseIsSanitizerClean) { use_inside_section_then_free(); }

#if ORDO_TSAN
TEST(RcuDomainDeathTest, TsanReportsUseAfterRetire) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(use_after_retire(), testing::ExitedWithCode(66),
              "ThreadSanitizer: (data race|heap-use-after-free)");
}
#elif ORDO_ASAN
TEST(RcuDomainDeathTest, AsanReportsUseAfterRetire) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(use_after_retire(), "AddressSanitizer: heap-use-after-free");
}
#endif

}  // namespace

// ===========================================================================
// The standard's RCU interface (C++26 [saferecl.rcu], P2545): every program
// below is written as it would be for <rcu>, with std:: replaced by ordo::
// for the RCU names (the lock types stay std::). Plus the reclaimer thread.

namespace {

// --- the interface as the standard declares it --------------------------------

static_assert(noexcept(ordo::rcu_default_domain()));
static_assert(noexcept(ordo::rcu_synchronize()));
static_assert(noexcept(ordo::rcu_barrier()));
static_assert(noexcept(ordo::rcu_default_domain().lock()));
static_assert(noexcept(ordo::rcu_default_domain().try_lock()));
static_assert(noexcept(ordo::rcu_default_domain().unlock()));
static_assert(std::is_same_v<decltype(ordo::rcu_default_domain()), ordo::rcu_domain&>);
static_assert(!std::is_copy_constructible_v<ordo::rcu_domain>);
static_assert(!std::is_copy_assignable_v<ordo::rcu_domain>);

struct Data : ordo::rcu_obj_base<Data> {
  int m1 = 0, m2 = 0;
  Data(int a, int b) : m1(a), m2(b) {}
};
static_assert(noexcept(std::declval<Data&>().retire()));
// rcu_obj_base's special members are protected: not an object on its own.
static_assert(!std::is_default_constructible_v<ordo::rcu_obj_base<Data>>);

// cppreference's rcu_obj_base example, with std:: -> ordo:: for RCU.
TEST(RcuStd, ObjBaseReaderUpdater) {
  std::atomic<Data*> data{new Data{0, 0}};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    for (int i = 0; i < 1000; ++i) {
      std::scoped_lock slk{ordo::rcu_default_domain()};
      Data* p = data.load(std::memory_order_acquire);
      if (p->m1 != p->m2) bad.fetch_add(1);
    }
  });
  for (int i = 1; i <= 100; ++i) {
    Data* old_data = data.exchange(new Data{i, i});
    old_data->retire();
  }
  reader.join();
  data.load()->retire();
  ordo::rcu_barrier();
  EXPECT_EQ(bad.load(), 0);
}

TEST(RcuStd, ScopedLockAndUniqueLockOpenReadSections) {
  ordo::rcu_domain& dom = ordo::rcu_default_domain();
  EXPECT_FALSE(dom.in_read_section());  // (ordo extension)
  {
    std::scoped_lock rlock(dom);
    EXPECT_TRUE(dom.in_read_section());
    {
      std::unique_lock<ordo::rcu_domain> nested(dom);  // regions nest
      EXPECT_TRUE(nested.owns_lock());
      nested.unlock();
      EXPECT_TRUE(dom.in_read_section());
      EXPECT_TRUE(nested.try_lock());  // try_lock: equivalent to lock(), true
    }
    EXPECT_TRUE(dom.in_read_section());
  }
  EXPECT_FALSE(dom.in_read_section());
  std::unique_lock<ordo::rcu_domain> deferred(dom, std::defer_lock);
  EXPECT_FALSE(dom.in_read_section());
  deferred.lock();
  EXPECT_TRUE(dom.in_read_section());
}

// rcu_synchronize: a region that began before it has ended when it returns.
TEST(RcuStd, SynchronizeWaitsForARegionThatBeganBefore) {
  ordo::rcu_domain dom;  // (ordo extension: a domain of one's own)
  std::atomic<bool> inside{false}, leave{false}, synchronized{false};
  std::thread reader([&] {
    std::scoped_lock region(dom);
    inside = true;
    while (!leave.load()) std::this_thread::yield();
  });
  while (!inside.load()) std::this_thread::yield();
  std::thread writer([&] {
    ordo::rcu_synchronize(dom);
    synchronized = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(synchronized.load());
  leave = true;
  reader.join();
  writer.join();
  EXPECT_TRUE(synchronized.load());
}

// Retire of a derived object through its base, with a custom deleter.
std::atomic<int> destroyed_derived{0};
std::atomic<int> deleter_calls{0};
struct Base;
struct BaseDeleter {
  void operator()(Base* p) const;
};
struct Base : ordo::rcu_obj_base<Base, BaseDeleter> {
  virtual ~Base() = default;
  virtual int kind() const { return 0; }
};
void BaseDeleter::operator()(Base* p) const {
  deleter_calls.fetch_add(1);
  delete p;  // virtual: ~Derived runs
}
struct Derived : Base {
  std::vector<int> payload = std::vector<int>(16, 7);
  ~Derived() override { destroyed_derived.fetch_add(1); }
  int kind() const override { return 1; }
};

TEST(RcuStd, RetireDerivedThroughBaseWithCustomDeleter) {
  destroyed_derived = 0;
  deleter_calls = 0;
  std::atomic<Base*> current{new Derived};
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!stop.load()) {
      std::scoped_lock region(ordo::rcu_default_domain());
      const Base* p = current.load(std::memory_order_acquire);
      if (p->kind() != 1) bad.fetch_add(1);
    }
  });
  for (int i = 0; i < 50; ++i) {
    Base* old = current.exchange(new Derived);
    old->retire();  // D() = BaseDeleter{}, the default domain
  }
  stop = true;
  reader.join();
  current.load()->retire(BaseDeleter{}, ordo::rcu_default_domain());
  ordo::rcu_barrier(ordo::rcu_default_domain());
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(deleter_calls.load(), 51);
  EXPECT_EQ(destroyed_derived.load(), 51);
}

// Both rcu_retire overloads (default deleter and domain; explicit both).
TEST(RcuStd, FreeRetireBothForms) {
  static std::atomic<int> freed;
  freed = 0;
  struct counted {
    ~counted() { freed.fetch_add(1); }
  };
  ordo::rcu_retire(new counted);
  ordo::rcu_barrier();
  EXPECT_EQ(freed.load(), 1);
  ordo::rcu_domain dom;
  int value = 0;
  ordo::rcu_retire(&value, [](int* p) { *p = 42; }, dom);
  ordo::rcu_barrier(dom);
  EXPECT_EQ(value, 42);
  ordo::rcu_retire(static_cast<counted*>(nullptr));  // (ordo: nullptr ignored)
  ordo::rcu_barrier();
  EXPECT_EQ(freed.load(), 1);
}

// rcu_obj_base::retire never allocates: retiring from a noexcept release
// function while inside a read section defers without waiting.
TEST(RcuStd, ObjBaseRetireInsideARegionDefers) {
  ordo::rcu_domain dom(ordo::rcu_domain_options{.backlog_limit = 1});
  static std::atomic<int> freed;
  freed = 0;
  struct node : ordo::rcu_obj_base<node> {
    ~node() { freed.fetch_add(1); }
  };
  {
    std::scoped_lock region(dom);
    (new node)->retire({}, dom);
    EXPECT_EQ(freed.load(), 0);  // a full backlog does not wait in a region
  }
  ordo::rcu_barrier(dom);
  EXPECT_EQ(freed.load(), 1);
}

// --- ordo extension: the reclaimer thread ------------------------------------------

// A retire() under a lock that the deleter takes: with rcu_reclaim::caller a
// full backlog would run the deleter here and self-deadlock; with the
// reclaimer thread, retire never runs a deleter on the caller's thread.
TEST(RcuReclaimerThread, RetireNeverRunsDeletersOnTheCallersThread) {
  ordo::rcu_domain dom(
      ordo::rcu_domain_options{.backlog_limit = 1, .reclaim = ordo::rcu_reclaim::thread});
  EXPECT_EQ(dom.reclaim_mode(), ordo::rcu_reclaim::thread);
  static std::mutex table_lock;
  static std::atomic<int> freed;
  static std::thread::id freed_on;
  freed = 0;
  struct entry : ordo::rcu_obj_base<entry> {
    ~entry() {
      std::lock_guard lock(table_lock);  // the deleter takes the table lock
      freed_on = std::this_thread::get_id();
      freed.fetch_add(1);
    }
  };
  for (int i = 0; i < 20; ++i) {
    std::lock_guard lock(table_lock);
    (new entry)->retire({}, dom);  // backlog full every time: still no wait here
  }
  // The reclaimer thread runs them all (barrier() would run leftovers here).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (freed.load() < 20 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(freed.load(), 20);
  std::lock_guard lock(table_lock);
  EXPECT_NE(freed_on, std::this_thread::get_id());
}

TEST(RcuReclaimerThread, DeletersRunWithoutBarrierAndTheDestructorRunsTheRest) {
  static std::atomic<int> freed;
  freed = 0;
  {
    ordo::rcu_domain dom(ordo::rcu_domain_options{.reclaim = ordo::rcu_reclaim::thread});
    ordo::rcu_retire(new int(1), [](int* p) {
      delete p;
      freed.fetch_add(1);
    }, dom);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (freed.load() == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(freed.load(), 1);  // the thread ran it: nobody called barrier
    for (int i = 0; i < 10; ++i) {
      ordo::rcu_retire(new int(i), [](int* p) {
        delete p;
        freed.fetch_add(1);
      }, dom);
    }
  }
  EXPECT_EQ(freed.load(), 11);
}

TEST(RcuReclaimerThread, DefaultIsTheCallersThread) {
  ordo::rcu_domain dom;
  EXPECT_EQ(dom.reclaim_mode(), ordo::rcu_reclaim::caller);
  EXPECT_EQ(ordo::rcu_default_domain().reclaim_mode(), ordo::rcu_reclaim::caller);
}

}  // namespace
