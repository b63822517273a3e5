// Tests for ordo/lockdep.hpp: the runtime validator. Every lock here names
// ordo::validator_on explicitly, so these tests run (and prove the same
// thing) in every preset, release included.
//
// The compile-time rules make an inversion between two levels impossible
// to *write* through one chain of contexts. What the validator sees are the
// places the types cannot: a fresh root context made while locks are held
// (a callback behind type erasure), a stale context, guards that travel,
// nestable instances, waits with locks the guard's type does not show.
#include <ordo/ordered_mutex.hpp>
#include <ordo/lockdep.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

template <class Level, class Lockable = absl::Mutex>
using checked_mutex = ordo::ordered_mutex<Level, Lockable, ordo::validator_on>;
using root = ordo::basic_unlocked<ordo::validator_on>;

// Takes `outer` from `ctx`, then `inner` from a fresh root context made while
// `outer` is held (itself a report): an order the types cannot see, left to
// the validator.
template <class Outer, class Inner>
void lock_behind_the_types(root& ctx, Outer& outer, Inner& inner) {
  auto outer_guard = outer.lock(ctx);
  root callback_ctx;
  auto inner_guard = inner.lock(callback_ctx);
}

// A Lockable that may be released by any thread (absl::Mutex and
// std::mutex may not), for the guard-moved-to-another-thread case.
class any_thread_lock {
 public:
  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire)) std::this_thread::yield();
  }
  bool try_lock() { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};  // acquire in lock pairs with release in unlock
};

}  // namespace

// any_thread_lock is made of atomics in instrumented code: TSan sees its
// acquire/release pairs itself, so ordo adds no mutex annotations (which
// would model "unlock by another thread" as a misuse).
template <>
inline constexpr bool ordo::lockable_is_tsan_visible_v<any_thread_lock> = true;
static_assert(ordo::lockable_is_tsan_visible_v<any_thread_lock>);
static_assert(!ordo::lockable_is_tsan_visible_v<absl::Mutex>);

namespace {

// Records reports instead of aborting.
class Lockdep : public ::testing::Test {
 protected:
  void SetUp() override {
    std::lock_guard<std::mutex> lock(mutex());
    reports().clear();
    previous_ = ordo::lockdep::set_report_handler(&record);
  }
  void TearDown() override { ordo::lockdep::set_report_handler(previous_); }

  static void record(const ordo::lockdep::report& r) {
    std::lock_guard<std::mutex> lock(mutex());
    reports().push_back(r);
  }
  static std::vector<ordo::lockdep::report> taken() {
    std::lock_guard<std::mutex> lock(mutex());
    return reports();
  }
  static std::vector<ordo::lockdep::report> of_kind(ordo::lockdep::report_kind kind) {
    std::vector<ordo::lockdep::report> out;
    for (auto& r : taken()) {
      if (r.kind == kind) out.push_back(r);
    }
    return out;
  }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::vector<ordo::lockdep::report>& reports() {
    static std::vector<ordo::lockdep::report> r;
    return r;
  }
  ordo::lockdep::report_handler previous_ = nullptr;

 protected:
  struct abandoned {};
};

// A handler for death tests: tolerate the root-context report that the
// test provokes on purpose to bypass the types, abort on anything else.
void abort_unless_root_report(const ordo::lockdep::report& r) {
  if (r.kind == ordo::lockdep::report_kind::root_with_locks_held) return;
  ordo::lockdep::default_report_handler(r);
}

TEST_F(Lockdep, CorrectChainsFromManyThreadsReportNothing) {
  struct a_level : ordo::level<> {};
  struct b_level : ordo::level<a_level> {};
  struct c_level : ordo::level<b_level> {};
  checked_mutex<a_level> a;
  checked_mutex<b_level> b;
  checked_mutex<c_level> c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      root ctx;
      for (int i = 0; i < 200; ++i) {
        if (t % 2 == 0) {
          auto ga = a.lock(ctx);
          auto gb = b.lock(ga);
          auto gc = c.lock(gb);
          EXPECT_EQ(ordo::lockdep::held_count(), 3u);
        } else {
          auto ga = a.lock(ctx);  // a skip-level chain: a -> c
          auto gc = c.lock(ga);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(taken().empty());
  EXPECT_EQ(ordo::lockdep::held_count(), 0u);
}

// Thread 1 takes A then B and exits. Later, thread 2 holds B and a callback
// (behind a fresh root context) takes A: never overlapping, still reported.
// Like the kernel's lockdep, the graph is between lock classes (levels), so
// the second thread uses other instances of the same levels: a class-level
// inversion that no address-based detector (TSan's, Abseil's) can see.
TEST_F(Lockdep, InversionIsReportedTheFirstTimeBothOrdersAreSeen) {
  struct a_level : ordo::level<> {};
  struct b_level : ordo::level<a_level> {};
  checked_mutex<a_level> a, other_a;
  checked_mutex<b_level> b, other_b;
  int a_line = 0, b_line = 0;
  std::thread([&] {
    root ctx;
    auto ga = a.lock(ctx);
    auto gb = b.lock(ga);
  }).join();
  ASSERT_TRUE(taken().empty());
  std::thread([&] {
    root ctx;
    b_line = __LINE__ + 1;
    auto gb = other_b.lock(ctx);
    root callback_ctx;  // the type system is bypassed here (itself a report)
    a_line = __LINE__ + 1;
    auto ga = other_a.lock(callback_ctx);
  }).join();
  const auto cycles = of_kind(ordo::lockdep::report_kind::circular_dependency);
  ASSERT_EQ(cycles.size(), 1u);
  const auto& r = cycles[0];
  EXPECT_NE(r.subject.level.find("a_level"), std::string_view::npos);
  EXPECT_NE(r.other.level.find("b_level"), std::string_view::npos);
  EXPECT_EQ(r.subject.where.line(), static_cast<unsigned>(a_line));
  EXPECT_EQ(r.other.where.line(), static_cast<unsigned>(b_line));
  EXPECT_NE(r.text.find("circular locking dependency"), std::string::npos);
  EXPECT_NE(r.text.find("lockdep_test.cpp:" + std::to_string(a_line)), std::string::npos);
  EXPECT_NE(r.text.find("lockdep_test.cpp:" + std::to_string(b_line)), std::string::npos);
  EXPECT_EQ(of_kind(ordo::lockdep::report_kind::root_with_locks_held).size(), 1u);
}

TEST_F(Lockdep, ThreeLockCycleThroughThreeThreadsIsReported) {
  struct x_level : ordo::level<> {};
  struct y_level : ordo::level<x_level> {};
  struct z_level : ordo::level<y_level> {};
  // One instance set per thread: only the classes form a cycle.
  checked_mutex<x_level> x1, x3;
  checked_mutex<y_level> y1, y2;
  checked_mutex<z_level> z2, z3;
  std::thread([&] {
    root ctx;
    auto gx = x1.lock(ctx);
    auto gy = y1.lock(gx);
  }).join();
  std::thread([&] {
    root ctx;
    auto gy = y2.lock(ctx);
    auto gz = z2.lock(gy);
  }).join();
  EXPECT_TRUE(taken().empty());
  std::thread([&] {
    root ctx;
    auto gz = z3.lock(ctx);
    root callback_ctx;
    auto gx = x3.lock(callback_ctx);  // z -> x closes x -> y -> z -> x
  }).join();
  const auto cycles = of_kind(ordo::lockdep::report_kind::circular_dependency);
  ASSERT_EQ(cycles.size(), 1u);
  const std::string& text = cycles[0].text;
  // The splat walks the whole cycle: every level appears with its site.
  EXPECT_NE(text.find("x_level"), std::string::npos);
  EXPECT_NE(text.find("y_level"), std::string::npos);
  EXPECT_NE(text.find("z_level"), std::string::npos);
  EXPECT_NE(text.find("y_level acquired at"), std::string::npos);
}

TEST_F(Lockdep, StaleContextIsReported) {
  struct parent_level : ordo::level<> {};
  struct child_level : ordo::level<parent_level> {};
  checked_mutex<parent_level> parent;
  checked_mutex<child_level> child;
  root ctx;
  const int parent_line = __LINE__ + 1;
  auto gp = parent.lock(ctx);
  const int child_line = __LINE__ + 1;
  auto gc = child.lock(ctx);  // compiles (root may take child) but ctx is stale
  const auto stale = of_kind(ordo::lockdep::report_kind::stale_context);
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].subject.where.line(), static_cast<unsigned>(child_line));
  EXPECT_EQ(stale[0].other.where.line(), static_cast<unsigned>(parent_line));
  EXPECT_NE(stale[0].other.level.find("parent_level"), std::string_view::npos);
}

TEST_F(Lockdep, RootContextMadeWhileHoldingIsReported) {
  struct held_level : ordo::level<> {};
  checked_mutex<held_level> m;
  root ctx;
  auto g = m.lock(ctx);
  EXPECT_TRUE(taken().empty());
  root inner;
  const auto r = of_kind(ordo::lockdep::report_kind::root_with_locks_held);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NE(r[0].other.level.find("held_level"), std::string_view::npos);
}

TEST_F(Lockdep, UnlockOfALockNotHeldIsReported) {
  struct moved_level : ordo::level<> {};
  checked_mutex<moved_level, any_thread_lock> m;
  // Both threads are scratch threads: the locker's held stack keeps the
  // entry its guard left behind.
  std::thread([&] {
    root ctx;
    auto g = std::optional(m.lock(ctx));
    std::thread([moved = std::move(g)]() mutable { moved.reset(); }).join();
    EXPECT_EQ(ordo::lockdep::held_count(), 1u);
  }).join();
  const auto r = of_kind(ordo::lockdep::report_kind::unlock_not_held);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NE(r[0].subject.level.find("moved_level"), std::string_view::npos);
}

TEST_F(Lockdep, UnlockOutOfOrderIsReported) {
  struct first_level : ordo::level<> {};
  struct second_level : ordo::level<first_level> {};
  checked_mutex<first_level> first;
  checked_mutex<second_level> second;
  root ctx;
  auto g1 = std::optional(first.lock(ctx));
  auto g2 = second.lock(*g1);
  g1.reset();  // first released while second is held
  const auto r = of_kind(ordo::lockdep::report_kind::unlock_out_of_order);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NE(r[0].subject.level.find("first_level"), std::string_view::npos);
  EXPECT_NE(r[0].other.level.find("second_level"), std::string_view::npos);
}

TEST_F(Lockdep, NestableInstancesOutOfOrderAreReported) {
  struct table_level : ordo::level<> {};
  struct bucket_level : ordo::nestable_level<table_level> {};
  checked_mutex<bucket_level> low(ordo::nest_key{1});
  checked_mutex<bucket_level> high(ordo::nest_key{2});
  checked_mutex<bucket_level> other_low(ordo::nest_key{1});
  checked_mutex<bucket_level> other_high(ordo::nest_key{2});
  checked_mutex<bucket_level> also_low(ordo::nest_key{1});
  root ctx;
  {
    auto a = low.lock(ctx);
    auto b = high.lock(a);  // ascending keys: fine
  }
  EXPECT_TRUE(taken().empty());
  {
    auto b = other_high.lock(ctx);
    auto a = other_low.lock(b);  // descending: reported
  }
  {
    auto a = low.lock(ctx);
    auto a2 = also_low.lock(a);  // equal keys: no order between them
  }
  const auto r = of_kind(ordo::lockdep::report_kind::nest_order);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_NE(r[0].text.find("bucket_level/key 1"), std::string::npos);
  EXPECT_NE(r[0].text.find("bucket_level/key 2"), std::string::npos);
}

TEST_F(Lockdep, WaitWithALockTheGuardTypeDoesNotShowIsReported) {
  struct outer_level : ordo::level<> {};
  struct inner_level : ordo::level<outer_level> {};
  checked_mutex<outer_level> outer;
  checked_mutex<inner_level> inner;
  // The handler records and then throws: the wait is abandoned before it
  // drops anything (carrying on would re-take outer while holding inner,
  // the very inversion being reported).
  ordo::lockdep::set_report_handler([](const ordo::lockdep::report& r) {
    record(r);
    throw abandoned{};
  });
  root ctx;
  auto go = outer.lock(ctx);
  auto gi = inner.lock(go);
  // go's type holds only outer_level, so this compiles; but inner is held
  // at run time, across the wait.
  EXPECT_THROW(ordo::wait(go, [] { return true; }), abandoned);
  EXPECT_EQ(ordo::lockdep::held_count(), 2u);
  const auto all = taken();
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all[0].kind, ordo::lockdep::report_kind::wait_with_locks_held);
  EXPECT_NE(all[0].subject.level.find("outer_level"), std::string_view::npos);
  EXPECT_NE(all[0].other.level.find("inner_level"), std::string_view::npos);
}

TEST_F(Lockdep, UnlockedCallWithAHiddenLockIsReported) {
  struct hidden_level : ordo::level<> {};
  struct dropped_level : ordo::level<> {};
  checked_mutex<hidden_level> hidden;
  checked_mutex<dropped_level> dropped;
  std::thread([&] {
    root ctx;
    auto gh = hidden.lock(ctx);
    root callback_ctx;  // hidden_level is invisible to this chain's types
    auto gd = dropped.lock(callback_ctx);
    ordo::unlocked_call(gd, [] {});
  }).join();
  const auto r = of_kind(ordo::lockdep::report_kind::wait_with_locks_held);
  ASSERT_GE(r.size(), 1u);
  EXPECT_NE(r[0].other.level.find("hidden_level"), std::string_view::npos);
}

TEST_F(Lockdep, LockAllIsNotASameLevelViolation) {
  struct slot_level : ordo::level<> {};
  checked_mutex<slot_level> a, b, c;
  root ctx;
  {
    auto all = ordo::lock_all(ctx, c, b, a);
    EXPECT_EQ(ordo::lockdep::held_count(), 3u);
  }
  EXPECT_TRUE(taken().empty());
  EXPECT_EQ(ordo::lockdep::held_count(), 0u);
}

TEST_F(Lockdep, TryLockAddsNoDependencyButOrdersWhatFollows) {
  struct p_level : ordo::level<> {};
  struct q_level : ordo::level<p_level> {};
  checked_mutex<p_level> p;
  checked_mutex<q_level> q;
  root ctx;
  {
    auto gq = q.lock(ctx);
    root callback_ctx;
    auto gp = p.try_lock(callback_ctx);  // q -> p by trylock: cannot deadlock
    EXPECT_TRUE(gp.has_value());
  }
  {
    auto gp = p.lock(ctx);
    auto gq = q.lock(gp);  // p -> q: no cycle, since trylock added no edge
  }
  EXPECT_TRUE(of_kind(ordo::lockdep::report_kind::circular_dependency).empty());
}

// ---------------------------------------------------------------------------
// The chain cache: an acquisition whose chain of classes was validated before
// skips the scan of the held stack (lockdep.hpp, "The chain cache").

// A chain taken many times is cached; the opposite order of the same
// classes is another chain, so it is scanned and the inversion reported.
TEST_F(Lockdep, ChainCacheStillReportsANewInversion) {
  struct a_level : ordo::level<> {};
  struct b_level : ordo::level<a_level> {};
  checked_mutex<a_level> a, other_a;  // the opposite order takes the others:
  checked_mutex<b_level> b, other_b;  // absl::Mutex aborts on one pair both ways
  root ctx;
  for (int i = 0; i < 3; ++i) {  // the first validates a -> b, the others hit the cache
    auto ga = a.lock(ctx);
    auto gb = b.lock(ga);
  }
  ASSERT_TRUE(taken().empty());
  lock_behind_the_types(ctx, other_b, other_a);
  EXPECT_EQ(of_kind(ordo::lockdep::report_kind::circular_dependency).size(), 1u);
}

// A try_lock's chain is validated without its dependency (a try adds
// none), so it must not stand for the same chain taken with lock(): that
// one still records a -> b, and b -> a afterwards is an inversion.
TEST_F(Lockdep, ChainCacheKeepsATryLockChainApartFromALockChain) {
  struct a_level : ordo::level<> {};
  struct b_level : ordo::level<a_level> {};
  checked_mutex<a_level> a, other_a;  // the opposite order takes the others:
  checked_mutex<b_level> b, other_b;  // absl::Mutex aborts on one pair both ways
  root ctx;
  for (int i = 0; i < 2; ++i) {
    auto ga = a.lock(ctx);
    auto gb = b.try_lock(ga);
    ASSERT_TRUE(gb.has_value());
  }
  {
    auto ga = a.lock(ctx);
    auto gb = b.lock(ga);  // a -> b enters the graph now
  }
  ASSERT_TRUE(taken().empty());
  lock_behind_the_types(ctx, other_b, other_a);
  EXPECT_EQ(of_kind(ordo::lockdep::report_kind::circular_dependency).size(), 1u);
}

// A lock released out of order (hand-over-hand) leaves the locks above it
// with the chain of what is held now (I5): after a, b, c with b released
// early, d is taken against a and c, silently, the second time through the
// cache; the opposite order of c and d is still reported.
TEST_F(Lockdep, ChainCacheFollowsAnEarlyRelease) {
  struct a_level : ordo::level<> {};
  struct b_level : ordo::level<a_level> {};
  struct c_level : ordo::level<b_level> {};
  struct d_level : ordo::level<c_level> {};
  checked_mutex<a_level> a, other_a;  // the opposite order takes the others:
  checked_mutex<b_level> b, other_b;  // absl::Mutex aborts on one pair both ways
  checked_mutex<c_level> c, other_c;
  checked_mutex<d_level> d, other_d;
  root ctx;
  for (int i = 0; i < 2; ++i) {
    auto ga = a.lock(ctx);
    auto gb = b.lock(ga);
    auto gc = c.lock(gb);
    gb.unlock();                     // hand-over-hand: a, c held
    EXPECT_EQ(ordo::lockdep::held_count(), 2u);
    auto gd = d.lock(gc);            // a -> d and c -> d
  }
  EXPECT_TRUE(taken().empty());
  lock_behind_the_types(ctx, other_d, other_c);  // d -> c against c -> d: reported
  EXPECT_EQ(of_kind(ordo::lockdep::report_kind::circular_dependency).size(), 1u);
}

// reset_for_testing forgets the edges, so it forgets the chains validated
// with them: after it, b -> a is a new order and a -> b an inversion of it,
// even though a -> b was a cached chain before the reset.
TEST_F(Lockdep, ChainCacheIsForgottenWithTheGraph) {
  struct a_level : ordo::level<> {};
  struct b_level : ordo::level<a_level> {};
  checked_mutex<a_level> a, other_a;  // the opposite order takes the others:
  checked_mutex<b_level> b, other_b;  // absl::Mutex aborts on one pair both ways
  root ctx;
  for (int i = 0; i < 2; ++i) {
    auto ga = a.lock(ctx);
    auto gb = b.lock(ga);
  }
  ordo::lockdep::detail::reset_for_testing();
  lock_behind_the_types(ctx, other_b, other_a);  // the root-context report only
  ASSERT_TRUE(of_kind(ordo::lockdep::report_kind::circular_dependency).empty());
  {
    auto ga = a.lock(ctx);
    auto gb = b.lock(ga);  // closes b -> a -> b
  }
  EXPECT_EQ(of_kind(ordo::lockdep::report_kind::circular_dependency).size(), 1u);
  ordo::lockdep::detail::reset_for_testing();  // leave no b -> a for later tests
}

// ---------------------------------------------------------------------------
// The callback escape: a callback that cannot receive its caller's context.

using callback = ordo::basic_callback_context<ordo::validator_on>;

// A second unlock() of one guard, on purpose. Clang's analysis rejects it
// at compile time already ("releasing mutex that was not held"); the
// validator is for the paths the analysis cannot follow.
template <class G>
void unlock_twice(G& g) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  g.unlock();
  g.unlock();
}

TEST_F(Lockdep, CallbackContextInTheDeclaredOrderIsSilent) {
  struct caller_level : ordo::level<> {};
  struct callee_level : ordo::level<caller_level> {};
  checked_mutex<caller_level> caller;
  checked_mutex<callee_level> callee;
  root ctx;
  auto g = caller.lock(ctx);
  std::function<void()> hook = [&] {
    callback cb;  // the caller's guard cannot reach through std::function
    auto inner = callee.lock(cb);
    auto again = callee.try_lock(inner);  // a try of a held lock: fails, silently
    EXPECT_FALSE(again.has_value());
  };
  hook();
  EXPECT_TRUE(taken().empty());
  EXPECT_EQ(ordo::lockdep::held_count(), 1u);
}

TEST_F(Lockdep, CallbackContextTryLockIsSilentWhateverIsHeld) {
  struct low_level : ordo::level<> {};
  struct high_level : ordo::level<low_level> {};
  checked_mutex<low_level> low;
  checked_mutex<high_level> high;
  root ctx;
  auto gh = high.lock(ctx);
  std::function<void()> hook = [&] {
    callback cb;
    auto gl = low.try_lock(cb);  // against the order, but a try cannot wait
    EXPECT_TRUE(gl.has_value());
  };
  hook();
  EXPECT_TRUE(taken().empty());
}

// The callback's lock enters the dependency graph: against an order seen
// before, it is a circular dependency that names both levels and both
// sites, and nothing else is reported.
TEST_F(Lockdep, CallbackContextInversionIsACircularDependencyNamingBothSites) {
  struct table_level : ordo::level<> {};
  struct entry_level : ordo::level<table_level> {};
  checked_mutex<table_level> table, other_table;
  checked_mutex<entry_level> entry, other_entry;
  root ctx;
  {
    auto gt = table.lock(ctx);
    auto ge = entry.lock(gt);
  }
  const int entry_line = __LINE__ + 1;
  auto ge = other_entry.lock(ctx);
  int table_line = 0;
  std::function<void()> hook = [&] {
    callback cb;
    table_line = __LINE__ + 1;
    auto gt = other_table.lock(cb);
  };
  hook();
  const auto all = taken();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].kind, ordo::lockdep::report_kind::circular_dependency);
  EXPECT_NE(all[0].subject.level.find("table_level"), std::string_view::npos);
  EXPECT_NE(all[0].other.level.find("entry_level"), std::string_view::npos);
  EXPECT_EQ(all[0].subject.where.line(), static_cast<unsigned>(table_line));
  EXPECT_EQ(all[0].other.where.line(), static_cast<unsigned>(entry_line));
}

// Found by tests/fuzz/lockdep_fuzz.cpp (regressions/lockdep_fuzz/
// two_batches_of_equal_keys): the validator took "both entries are of a
// lock_all batch" for "of one batch", so a second batch of a level taken
// while a first was held was never checked against it. Two threads taking
// the two batches in opposite orders deadlock.
TEST_F(Lockdep, SecondLockAllBatchOfANonNestableLevelIsASameLevelViolation) {
  struct slot_level : ordo::level<> {};
  checked_mutex<slot_level> a, b, c, d;
  root ctx;
  auto first = ordo::lock_all(ctx, a, b);
  EXPECT_TRUE(taken().empty());  // one batch: fine
  callback cb;                   // the types forbid the second batch here
  auto second = ordo::lock_all(cb, c, d);
  ASSERT_FALSE(taken().empty());
  for (const auto& r : taken()) EXPECT_EQ(r.kind, ordo::lockdep::report_kind::same_level);
}

TEST_F(Lockdep, SecondLockAllBatchOfEqualKeysIsANestOrderViolation) {
  struct bucket_level : ordo::nestable_level<> {};
  checked_mutex<bucket_level> one(ordo::nest_key{1});
  checked_mutex<bucket_level> other_one(ordo::nest_key{1});
  checked_mutex<bucket_level> two(ordo::nest_key{2});
  root ctx;
  auto first = ordo::lock_all(ctx, one);
  auto second = ordo::lock_all(first, other_one, two);  // key 1 again, not in one batch
  const auto r = taken();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].kind, ordo::lockdep::report_kind::nest_order);
}

// Found by the same fuzzer: a batch of ascending keys added no edge
// between them, so a cycle through the batch's order went unseen, though
// lock_all's order is the one one-by-one nesting must follow (I5).
TEST_F(Lockdep, LockAllOfAscendingKeysOrdersThemLikeNesting) {
  struct bucket_level : ordo::nestable_level<> {};
  struct after_level : ordo::level<bucket_level> {};
  checked_mutex<bucket_level> one(ordo::nest_key{1});
  checked_mutex<bucket_level> two(ordo::nest_key{2});
  checked_mutex<bucket_level> other_one(ordo::nest_key{1});  // the class of `one`
  checked_mutex<after_level> after;
  root ctx;
  {
    auto both = ordo::lock_all(ctx, two, one);  // key 1 -> key 2
  }
  {
    auto g2 = two.lock(ctx);
    auto ga = after.lock(g2);  // key 2 -> after
  }
  EXPECT_TRUE(taken().empty());
  {
    auto ga = after.lock(ctx);
    callback cb;
    // after -> key 1 closes key 1 -> key 2 -> after -> key 1. Another
    // instance of key 1's class: absl::Mutex's own detector, which works
    // on addresses, sees no cycle and lets the validator's report through.
    auto g1 = other_one.lock(cb);
  }
  const auto r = taken();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].kind, ordo::lockdep::report_kind::circular_dependency);
}

TEST_F(Lockdep, CallbackContextSecondLockOfAHeldLevelIsReported) {
  struct node_level : ordo::level<> {};
  checked_mutex<node_level> a, b;
  root ctx;
  auto ga = a.lock(ctx);
  callback cb;
  auto gb = b.lock(cb);
  ASSERT_EQ(taken().size(), 1u);
  EXPECT_EQ(taken()[0].kind, ordo::lockdep::report_kind::same_level);
}

// ---------------------------------------------------------------------------
// Early release and re-take

TEST_F(Lockdep, EarlyReleaseOfAnOuterGuardIsNotOutOfOrder) {
  struct first_level : ordo::level<> {};
  struct second_level : ordo::level<first_level> {};
  struct third_level : ordo::level<second_level> {};
  checked_mutex<first_level> first;
  checked_mutex<second_level> second;
  checked_mutex<third_level> third;
  root ctx;
  auto g1 = first.lock(ctx);
  auto g2 = second.lock(g1);
  g1.unlock();  // hand-over-hand: on purpose
  EXPECT_EQ(ordo::lockdep::held_count(), 1u);
  auto g3 = third.lock(g2);  // g2 is still the current context
  EXPECT_TRUE(taken().empty());
}

TEST_F(Lockdep, ReleasedGuardUsedAsAContextIsReported) {
  struct first_level : ordo::level<> {};
  struct second_level : ordo::level<first_level> {};
  checked_mutex<first_level> first;
  checked_mutex<second_level> second;
  root ctx;
  auto g1 = first.lock(ctx);
  g1.unlock();
  const int line = __LINE__ + 1;
  auto g2 = second.lock(g1);  // g1's type still claims first_level
  const auto all = taken();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].kind, ordo::lockdep::report_kind::released_guard_used);
  EXPECT_EQ(all[0].subject.where.line(), static_cast<unsigned>(line));
}

TEST_F(Lockdep, SecondUnlockOfAGuardIsReported) {
  struct once_level : ordo::level<> {};
  checked_mutex<once_level> m;
  root ctx;
  auto g = m.lock(ctx);
  unlock_twice(g);
  const auto all = taken();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].kind, ordo::lockdep::report_kind::unlock_not_held);
  EXPECT_NE(all[0].text.find("double unlock"), std::string::npos);
}

TEST_F(Lockdep, RetakeWhenTheParentIsNoLongerInnermostIsReported) {
  struct outer_level : ordo::level<> {};
  struct inner_level : ordo::level<outer_level> {};
  struct side_level : ordo::level<outer_level> {};
  checked_mutex<outer_level> outer;
  checked_mutex<inner_level> inner;
  checked_mutex<side_level> side;
  root ctx;
  auto go = outer.lock(ctx);
  auto gi = inner.lock(go);
  gi.unlock();
  auto gs = side.lock(go);
  ordo::relockable lk(gi, ordo::allow_held<outer_level>);
  lk.lock();  // inner re-taken through go while gs (taken through go) is held
  ASSERT_EQ(taken().size(), 1u);
  EXPECT_EQ(taken()[0].kind, ordo::lockdep::report_kind::stale_context);
}

TEST_F(Lockdep, TryLockOfASecondLockOfAHeldLevelIsSilent) {
  struct slot_level : ordo::level<> {};
  checked_mutex<slot_level> a, b;
  root ctx;
  auto ga = a.lock(ctx);
  auto gb = b.try_lock(ga);
  EXPECT_TRUE(gb.has_value());
  EXPECT_TRUE(taken().empty());
}

// The batch's entries carry the caller's line, not the header's.
TEST_F(Lockdep, LockAllRecordsTheCallersLine) {
  struct slot_level : ordo::level<> {};
  checked_mutex<slot_level> a, b;
  root ctx;
  const int line = __LINE__ + 1;
  auto all = ordo::lock_all(ctx, a, b);
  root misplaced;  // a report that names the innermost held lock's site
  const auto all_reports = taken();
  ASSERT_EQ(all_reports.size(), 1u);
  EXPECT_EQ(all_reports[0].other.where.line(), static_cast<unsigned>(line));
  EXPECT_NE(std::string_view(all_reports[0].other.where.file_name()).find("lockdep_test.cpp"),
            std::string_view::npos);
}

TEST_F(Lockdep, DestroyingAnUnheldMutexIsSilent) {
  struct gone_level : ordo::level<> {};
  auto m = std::make_unique<checked_mutex<gone_level>>();
  root ctx;
  { auto g = m->lock(ctx); }
  m.reset();
  EXPECT_TRUE(taken().empty());
}

// lockdep_assert_held: a level is a lock class, so a context's type cannot
// tell two instances of it apart; the held stack can.
TEST_F(Lockdep, AssertHeldThroughALaterLockChecksTheInstance) {
  struct guest_level : ordo::level<> {};
  struct table_level : ordo::level<guest_level> {};
  checked_mutex<guest_level> mine;
  checked_mutex<guest_level> other;
  checked_mutex<table_level> table;
  root ctx;
  auto g = mine.lock(ctx);
  auto t = table.lock(g);
  auto proof = mine.assert_held(t);
  static_assert(ordo::holds<decltype(proof), guest_level, table_level>);
  EXPECT_EQ(proof.lockdep_position(), t.lockdep_position());
  EXPECT_TRUE(taken().empty());
  (void)other.assert_held(t);
  const auto reports = of_kind(ordo::lockdep::report_kind::not_held);
  ASSERT_EQ(taken().size(), 1u);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].subject.lock, &other);
  EXPECT_NE(reports[0].text.find("lockdep_assert_held failed"), std::string::npos);
}

TEST_F(Lockdep, AssertHeldOnAGuardChecksItsOwnLock) {
  struct guest_level : ordo::level<> {};
  checked_mutex<guest_level> mine;
  checked_mutex<guest_level> other;
  root ctx;
  auto g = mine.lock(ctx);
  (void)mine.assert_held(g);
  EXPECT_TRUE(taken().empty());
  (void)other.assert_held(g);
  ASSERT_EQ(taken().size(), 1u);
  EXPECT_EQ(taken()[0].kind, ordo::lockdep::report_kind::not_held);
  EXPECT_EQ(taken()[0].subject.lock, &other);
  EXPECT_EQ(taken()[0].other.lock, &mine);  // the lock the guard does hold
  g.unlock();
  (void)mine.assert_held(g);  // released: holds nothing any more
  ASSERT_EQ(taken().size(), 2u);
  EXPECT_EQ(taken()[1].kind, ordo::lockdep::report_kind::not_held);
  EXPECT_EQ(taken()[1].other.lock, nullptr);
}

// The std Lockable view of the escape is checked like the escape.
TEST_F(Lockdep, CallbackLockableInversionIsACircularDependency) {
  struct upper_level : ordo::level<> {};
  struct lower_level : ordo::level<upper_level> {};
  checked_mutex<upper_level> upper, other_upper;
  checked_mutex<lower_level> lower, other_lower;
  root ctx;
  {
    auto gu = upper.lock(ctx);
    auto gl = lower.lock(gu);
  }
  auto gl = other_lower.lock(ctx);
  ordo::callback_lockable view(other_upper);
  std::unique_lock lk(view);
  const auto all = taken();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].kind, ordo::lockdep::report_kind::circular_dependency);
  EXPECT_NE(all[0].subject.level.find("upper_level"), std::string_view::npos);
}

// A condition wait with a lock the guard's type does not show: reported
// before anything is dropped.
TEST_F(Lockdep, ConditionVariableWaitWithAHiddenLockIsReported) {
  struct hidden_level : ordo::level<> {};
  struct waited_level : ordo::level<> {};
  checked_mutex<hidden_level> hidden;
  checked_mutex<waited_level, std::mutex> waited;
  ordo::condition_variable cv;
  ordo::lockdep::set_report_handler([](const ordo::lockdep::report& r) {
    record(r);
    throw abandoned{};
  });
  root ctx;
  auto gh = hidden.lock(ctx);
  callback cb;
  auto gw = waited.lock(cb);
  EXPECT_THROW(cv.wait(gw, [] { return true; }), abandoned);
  EXPECT_TRUE(gw.owns_lock());
  ASSERT_EQ(taken().size(), 1u);
  EXPECT_EQ(taken()[0].kind, ordo::lockdep::report_kind::wait_with_locks_held);
  EXPECT_NE(taken()[0].other.level.find("hidden_level"), std::string_view::npos);
}

TEST(LockdepHandler, SetReturnsThePreviousAndNullRestoresTheDefault) {
  auto mine = +[](const ordo::lockdep::report&) {};
  const auto before = ordo::lockdep::set_report_handler(mine);
  EXPECT_EQ(before, &ordo::lockdep::default_report_handler);
  EXPECT_EQ(ordo::lockdep::set_report_handler(nullptr), mine);
  EXPECT_EQ(ordo::lockdep::set_report_handler(nullptr), &ordo::lockdep::default_report_handler);
}

// The default handler prints a splat naming both levels and both
// acquisition sites, then aborts.
TEST(LockdepDeathTest, InversionSplatNamesBothLevelsAndBothSites) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  struct ab_first : ordo::level<> {};
  struct ab_second : ordo::level<ab_first> {};
  auto scenario = [] {
    ordo::lockdep::set_report_handler(&abort_unless_root_report);
    checked_mutex<ab_first> a, other_a;
    checked_mutex<ab_second> b, other_b;
    {
      root ctx;
      auto ga = a.lock(ctx);
      auto gb = b.lock(ga);
    }
    root ctx;
    auto gb = other_b.lock(ctx);  // line L
    root callback_ctx;
    auto ga = other_a.lock(callback_ctx);  // line L + 2
  };
  const int b_line = __LINE__ - 4;
  const int a_line = __LINE__ - 3;
  const std::string pattern =
      "possible circular locking dependency detected.*is acquiring.*ab_first.*"
      "lockdep_test.cpp:" + std::to_string(a_line) + ".*while holding.*ab_second.*"
      "lockdep_test.cpp:" + std::to_string(b_line);
  EXPECT_DEATH(scenario(), pattern);
}

TEST(LockdepDeathTest, StaleContextSplatNamesBothLocks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  struct st_parent : ordo::level<> {};
  struct st_child : ordo::level<st_parent> {};
  auto scenario = [] {
    checked_mutex<st_parent> parent;
    checked_mutex<st_child> child;
    root ctx;
    auto gp = parent.lock(ctx);
    auto gc = child.lock(ctx);
  };
  const int parent_line = __LINE__ - 3;
  const int child_line = __LINE__ - 3;
  EXPECT_DEATH(scenario(), "stale lock context used.*st_child.*lockdep_test.cpp:" +
                               std::to_string(child_line) + ".*st_parent.*lockdep_test.cpp:" +
                               std::to_string(parent_line));
}

// Clang's thread safety analysis rejects this at compile time already
// ("acquiring mutex 'm' that is already held"); the validator is for the
// paths the analysis cannot follow, so the analysis is off here.
struct self_level : ordo::level<> {};
void lock_twice() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  ordo::lockdep::set_report_handler(&abort_unless_root_report);
  checked_mutex<self_level> m;
  root ctx;
  auto g = m.lock(ctx);
  root callback_ctx;
  auto again = m.lock(callback_ctx);
}

TEST(LockdepDeathTest, RecursiveLockingAbortsBeforeDeadlocking) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(lock_twice(), "recursive locking detected.*self_level.*self_level");
}

TEST(LockdepDeathTest, DestroyingAHeldMutexIsHeldLockFreed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  struct freed_level : ordo::level<> {};
  auto scenario = [] {
    auto m = std::make_unique<checked_mutex<freed_level>>();
    root ctx;
    auto g = m->lock(ctx);
    m.reset();
  };
  EXPECT_DEATH(scenario(), "held lock freed.*freed_level.*lockdep_test.cpp:");
}

TEST(LockdepDeathTest, WaitWithLocksHeldSplatNamesTheHeldLock) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  struct w_outer : ordo::level<> {};
  struct w_inner : ordo::level<w_outer> {};
  auto scenario = [] {
    checked_mutex<w_outer> outer;
    checked_mutex<w_inner> inner;
    root ctx;
    auto go = outer.lock(ctx);
    auto gi = inner.lock(go);
    ordo::wait(go, [] { return true; });
  };
  EXPECT_DEATH(scenario(), "wait with other locks held.*w_outer.*w_inner.*lockdep_test.cpp:");
}

}  // namespace
