// Tests for the standard's RCU interface in ordo/rcu.hpp (C++26
// [saferecl.rcu], P2545): every program here is written as it would be for
// <rcu>, with std:: replaced by ordo:: for the RCU names (the lock types stay
// std::). Plus the reclaimer-thread option.
#include <ordo/rcu.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using namespace std::chrono_literals;

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
