// Tests for ordo/ordered_mutex.hpp: the DESIGN.md example, mutual exclusion
// (clean under TSan with absl::Mutex underneath, which TSan cannot see),
// shared locks, try_lock, lock_if, lock_all, nestable levels, waits,
// unlocked_call and guarded<T>. Compile-time rejections live in
// tests/compile_fail/lock_*.cpp and ordered_*.cpp.
#include <ordo/ordered_mutex.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

// ---------------------------------------------------------------------------
// The DESIGN.md example, verbatim apart from the stand-in kvm type.
namespace design {

struct ap_attr_level : ordo::level<> {};                 // a root level
struct guests_level  : ordo::level<ap_attr_level> {};    // taken after ap_attr
struct kvm_level     : ordo::level<guests_level> {};
struct hook_level    : ordo::level<kvm_level> {};
struct mdevs_level   : ordo::level<hook_level, guests_level> {};

struct kvm {
  ordo::ordered_mutex<kvm_level, std::mutex> lock;       // any Lockable
  int masks_updated = 0;
};

ordo::ordered_mutex<ap_attr_level> ap_attr_mutex;
ordo::ordered_mutex<guests_level> guests_lock;             // absl::Mutex inside
ordo::ordered_shared_mutex<hook_level> hook_rwsem;         // reader/writer
ordo::ordered_mutex<mdevs_level> mdevs_lock;

int apcb_updates = 0;

void update_guest_apcb(ordo::holds<guests_level, mdevs_level> auto& ctx) {
  static_assert(ordo::holds<decltype(ctx), ordo::maybe<kvm_level>>);
  ++apcb_updates;
}

void assign(ordo::unlocked& ctx, kvm* k) {                 // ctx: "this thread holds nothing"
  auto a = ap_attr_mutex.lock(ctx);
  auto g = guests_lock.lock(a);
  auto kv = ordo::lock_if(k ? &k->lock : nullptr, g);      // same type either way
  auto m = mdevs_lock.lock(kv);
  update_guest_apcb(m);
  if (kv) ++k->masks_updated;
}

}  // namespace design

namespace {

struct single_level : ordo::level<> {};
struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
struct innermost_level : ordo::level<inner_level> {};
struct bucket_level : ordo::nestable_level<outer_level> {};

// A minimal std-style Lockable, to show that any Lockable works.
class spin_lock {
 public:
  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire)) std::this_thread::yield();
  }
  bool try_lock() { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};  // acquire in lock pairs with release in unlock
};

// Tries m from another thread: true if it could be taken (then released).
template <class M>
bool free_from_another_thread(M& m) {
  bool took = false;
  std::thread([&] {
    ordo::unlocked ctx;
    auto g = m.try_lock(ctx);
    took = g.has_value();
  }).join();
  return took;
}

// The count is read relative to its value on entry, so the test also
// passes with --gtest_repeat.
TEST(OrderedMutex, DesignExampleRunsWithAndWithoutAGuest) {
  design::kvm guest;
  ordo::unlocked ctx;
  const int updates_before = design::apcb_updates;
  design::assign(ctx, &guest);
  design::assign(ctx, nullptr);
  EXPECT_EQ(design::apcb_updates - updates_before, 2);
  EXPECT_EQ(guest.masks_updated, 1);
}

TEST(OrderedMutex, ZeroCostWhenTheValidatorIsOff) {
  static_assert(sizeof(ordo::ordered_mutex<single_level, absl::Mutex, ordo::validator_off>) ==
                sizeof(absl::Mutex));
  static_assert(sizeof(ordo::ordered_shared_mutex<single_level, absl::Mutex,
                                                  ordo::validator_off>) == sizeof(absl::Mutex));
  static_assert(sizeof(ordo::ordered_mutex<single_level, std::mutex, ordo::validator_off>) ==
                sizeof(std::mutex));
#if !ORDO_LOCKDEP
  static_assert(sizeof(ordo::ordered_mutex<single_level>) == sizeof(absl::Mutex));
#endif
  ordo::basic_unlocked<ordo::validator_off> ctx;
  ordo::ordered_mutex<single_level, absl::Mutex, ordo::validator_off> m;
  auto g = m.lock(ctx);
  EXPECT_EQ(sizeof(g), sizeof(void*));
  EXPECT_EQ(g.lockdep_position(), -1);
}

TEST(OrderedMutex, GuardTypeCarriesEveryHeldLevel) {
  ordo::ordered_mutex<outer_level> outer;
  ordo::ordered_mutex<inner_level> inner;
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
  auto i = inner.lock(o);
  static_assert(ordo::holds<decltype(i), outer_level, inner_level>);
  static_assert(ordo::holds<decltype(i), ordo::exclusive<inner_level>>);
  static_assert(!ordo::holds<decltype(o), inner_level>);
  static_assert(!ordo::holds<decltype(ctx), outer_level>);
  ordo::assert_held<outer_level, inner_level>(i);
  EXPECT_FALSE(free_from_another_thread(outer));
  EXPECT_FALSE(free_from_another_thread(inner));
}

TEST(OrderedMutex, GuardsReleaseInReverseOrder) {
  ordo::ordered_mutex<outer_level> outer;
  ordo::ordered_mutex<inner_level> inner;
  ordo::unlocked ctx;
  {
    auto o = outer.lock(ctx);
    {
      auto i = inner.lock(o);
      EXPECT_FALSE(free_from_another_thread(inner));
    }
    EXPECT_TRUE(free_from_another_thread(inner));
    EXPECT_FALSE(free_from_another_thread(outer));
  }
  EXPECT_TRUE(free_from_another_thread(outer));
}

// Data guarded only by an ordered_mutex over absl::Mutex (not TSan-built):
// the TSan annotations are what makes this clean under the tsan preset.
template <class Mutex>
void four_threads_increment() {
  Mutex m;
  long counter = 0;
  constexpr int per_thread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      ordo::unlocked ctx;
      for (int i = 0; i < per_thread; ++i) {
        auto g = m.lock(ctx);
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 4L * per_thread);
}

TEST(OrderedMutex, FourThreadsExcludeEachOtherOverAbslMutex) {
  four_threads_increment<ordo::ordered_mutex<single_level>>();
}
TEST(OrderedMutex, FourThreadsExcludeEachOtherOverStdMutex) {
  four_threads_increment<ordo::ordered_mutex<single_level, std::mutex>>();
}
TEST(OrderedMutex, FourThreadsExcludeEachOtherOverAnyLockable) {
  four_threads_increment<ordo::ordered_mutex<single_level, spin_lock>>();
}
TEST(OrderedMutex, FourThreadsExcludeEachOtherWithTheValidatorOn) {
  // The validated form, named explicitly (works in every build).
  struct validated_level : ordo::level<> {};
  using M = ordo::ordered_mutex<validated_level, absl::Mutex, ordo::validator_on>;
  M m;
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      ordo::basic_unlocked<ordo::validator_on> ctx;
      for (int i = 0; i < 5000; ++i) {
        auto g = m.lock(ctx);
        EXPECT_EQ(ordo::lockdep::held_count(), 1u);
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 20000);
}

template <class SharedMutex>
void readers_and_writers() {
  SharedMutex m;
  long first = 0, second = 0;  // invariant under the lock: first == second
  std::atomic<long> torn{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      ordo::unlocked ctx;
      for (int i = 0; i < 10000; ++i) {
        auto g = m.lock(ctx);
        ++first;
        ++second;
      }
    });
    threads.emplace_back([&] {
      ordo::unlocked ctx;
      for (int i = 0; i < 10000; ++i) {
        auto g = m.lock_shared(ctx);
        if (first != second) torn.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(first, 20000);
}

TEST(OrderedSharedMutex, WritersExcludeReadersOverAbslMutex) {
  readers_and_writers<ordo::ordered_shared_mutex<single_level>>();
}
TEST(OrderedSharedMutex, WritersExcludeReadersOverStdSharedMutex) {
  readers_and_writers<ordo::ordered_shared_mutex<single_level, std::shared_mutex>>();
}

TEST(OrderedSharedMutex, ReadersShareWritersDoNot) {
  ordo::ordered_shared_mutex<single_level> m;
  ordo::unlocked ctx;
  {
    auto r = m.lock_shared(ctx);
    static_assert(decltype(r)::shared);
    static_assert(!ordo::holds<decltype(r), ordo::exclusive<single_level>>);
    static_assert(ordo::holds<decltype(r), single_level>);
    std::thread([&] {
      ordo::unlocked other;
      EXPECT_TRUE(m.try_lock_shared(other).has_value());
      EXPECT_FALSE(m.try_lock(other).has_value());
    }).join();
  }
  auto w = m.lock(ctx);
  std::thread([&] {
    ordo::unlocked other;
    EXPECT_FALSE(m.try_lock_shared(other).has_value());
  }).join();
}

TEST(OrderedMutex, TryLockFailsWhenHeldAndOrdersWhatFollows) {
  ordo::ordered_mutex<outer_level> outer;
  ordo::ordered_mutex<inner_level> inner;
  ordo::unlocked ctx;
  auto held = outer.lock(ctx);
  std::thread([&] {
    ordo::unlocked other;
    EXPECT_FALSE(outer.try_lock(other).has_value());
  }).join();
  {
    auto g = inner.try_lock(held);
    ASSERT_TRUE(g.has_value());
    static_assert(ordo::holds<decltype(*g), outer_level, inner_level>);
  }
  EXPECT_TRUE(free_from_another_thread(inner));
}

TEST(OrderedMutex, LockIfGivesOneTypeAndLocksOnlyWhenNonNull) {
  ordo::ordered_mutex<outer_level> outer;
  ordo::ordered_mutex<inner_level> inner;
  ordo::ordered_mutex<innermost_level> innermost;
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
  ordo::ordered_mutex<inner_level>* none = nullptr;
  static_assert(
      std::is_same_v<decltype(ordo::lock_if(none, o)), decltype(ordo::lock_if(&inner, o))>);
  {
    auto absent = ordo::lock_if(none, o);
    EXPECT_FALSE(absent.owns_lock());
    static_assert(ordo::holds<decltype(absent), ordo::maybe<inner_level>>);
    static_assert(!ordo::holds<decltype(absent), inner_level>);
    auto after = innermost.lock(absent);  // still ordered after inner_level
    EXPECT_TRUE(free_from_another_thread(inner));
  }
  {
    auto present = ordo::lock_if(&inner, o);
    EXPECT_TRUE(present.owns_lock());
    EXPECT_EQ(present.mutex(), &inner);
    auto after = innermost.lock(present);
    EXPECT_FALSE(free_from_another_thread(inner));
  }
  EXPECT_TRUE(free_from_another_thread(inner));
}

TEST(OrderedMutex, LockAllTakesEachDistinctLockOnce) {
  struct slot_level : ordo::level<outer_level> {};
  ordo::ordered_mutex<outer_level> outer;
  ordo::ordered_mutex<slot_level> a, b, c;
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
  {
    auto all = ordo::lock_all(o, c, a, b, a);  // any order, duplicates allowed
    EXPECT_EQ(all.size(), 3u);
    static_assert(ordo::holds<decltype(all), outer_level, slot_level>);
    EXPECT_FALSE(free_from_another_thread(a));
    EXPECT_FALSE(free_from_another_thread(b));
    EXPECT_FALSE(free_from_another_thread(c));
  }
  EXPECT_TRUE(free_from_another_thread(a));
  EXPECT_TRUE(free_from_another_thread(b));
  EXPECT_TRUE(free_from_another_thread(c));
}

// Two threads lock the same pair in opposite argument order: address order
// means neither can deadlock (bounded: a few thousand rounds).
TEST(OrderedMutex, LockAllInOppositeArgumentOrderDoesNotDeadlock) {
  struct pair_level : ordo::level<> {};
  ordo::ordered_mutex<pair_level> a, b;
  long shared = 0;
  std::thread t1([&] {
    ordo::unlocked ctx;
    for (int i = 0; i < 3000; ++i) {
      auto both = ordo::lock_all(ctx, a, b);
      ++shared;
    }
  });
  std::thread t2([&] {
    ordo::unlocked ctx;
    for (int i = 0; i < 3000; ++i) {
      auto both = ordo::lock_all(ctx, b, a);
      ++shared;
    }
  });
  t1.join();
  t2.join();
  EXPECT_EQ(shared, 6000);
}

TEST(OrderedMutex, NestableLevelTakesInstancesOneByOne) {
  ordo::ordered_mutex<outer_level> outer;
  ordo::ordered_mutex<bucket_level> first(ordo::nest_key{1});
  ordo::ordered_mutex<bucket_level> second(ordo::nest_key{2});
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
  auto b1 = first.lock(o);
  auto b2 = second.lock(b1);
  static_assert(ordo::holds<decltype(b2), outer_level, bucket_level>);
  EXPECT_FALSE(free_from_another_thread(first));
  EXPECT_FALSE(free_from_another_thread(second));
}

TEST(OrderedMutex, RanksOrderByNumber) {
  ordo::ordered_mutex<ordo::rank<10>> low;
  ordo::ordered_mutex<ordo::rank<20>> high;
  ordo::unlocked ctx;
  auto l = low.lock(ctx);
  auto h = high.lock(l);
  static_assert(ordo::holds<decltype(h), ordo::rank<10>, ordo::rank<20>>);
  EXPECT_FALSE(free_from_another_thread(high));
}

// O2: the waiter drops the lock while blocked, and sees the producer's
// writes when it wakes. Four threads: one waiter per value, clean under TSan.
TEST(OrderedMutexWait, WaitDropsTheLockUntilTheConditionHolds) {
  ordo::ordered_mutex<single_level> m;
  int stage = 0;
  std::string message;
  std::vector<std::thread> waiters;
  std::atomic<int> woke{0};
  for (int want = 1; want <= 3; ++want) {
    waiters.emplace_back([&, want] {
      ordo::unlocked ctx;
      auto g = m.lock(ctx);
      ordo::wait(g, [&] { return stage >= want; });
      EXPECT_GE(stage, want);
      EXPECT_EQ(message.size(), static_cast<std::size_t>(stage));
      woke.fetch_add(1);
    });
  }
  std::thread producer([&] {
    ordo::unlocked ctx;
    for (int i = 1; i <= 3; ++i) {
      auto g = m.lock(ctx);
      message += 'x';
      stage = i;
    }
  });
  producer.join();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(woke.load(), 3);
}

TEST(OrderedMutexWait, WaitForTimesOutWithTheLockHeldAgain) {
  ordo::ordered_mutex<single_level> m;
  ordo::unlocked ctx;
  auto g = m.lock(ctx);
  const bool never = false;
  EXPECT_FALSE(ordo::wait_for(g, [&] { return never; }, std::chrono::milliseconds(5)));
  EXPECT_FALSE(free_from_another_thread(m));
  EXPECT_TRUE(ordo::wait_for(g, [] { return true; }, std::chrono::seconds(5)));
}

TEST(OrderedMutexWait, SharedWaitersWakeToo) {
  ordo::ordered_shared_mutex<single_level> m;
  bool ready = false;
  std::thread reader([&] {
    ordo::unlocked ctx;
    auto g = m.lock_shared(ctx);
    ordo::wait(g, [&] { return ready; });
    EXPECT_TRUE(ready);
  });
  {
    ordo::unlocked ctx;
    auto g = m.lock(ctx);
    ready = true;
  }
  reader.join();
}

TEST(OrderedMutexWait, ExplicitlyAllowedOuterLockStaysHeld) {
  ordo::ordered_mutex<outer_level> outer;
  ordo::ordered_mutex<inner_level> inner;
  bool done = false;
  std::thread helper([&] {
    ordo::unlocked ctx;
    // Only the inner lock is needed to make progress.
    auto i = inner.lock(ctx);
    done = true;
  });
  {
    ordo::unlocked ctx;
    auto o = outer.lock(ctx);
    auto i = inner.lock(o);
    ordo::wait(i, [&] { return done; }, ordo::allow_held<outer_level>);
    EXPECT_TRUE(done);
  }
  helper.join();
}

TEST(OrderedMutexWait, WaitWorksThroughAGuardedView) {
  ordo::guarded<int, ordo::ordered_mutex<single_level>> value(0);
  std::thread setter([&] {
    ordo::unlocked ctx;
    auto v = value.lock(ctx);
    *v = 42;
  });
  {
    ordo::unlocked ctx;
    auto v = value.lock(ctx);
    ordo::wait(v, [&] { return *v == 42; });
    EXPECT_EQ(*v, 42);
  }
  setter.join();
}

TEST(OrderedMutexUnlockedCall, DropsTheLockAroundTheCallAndRetakesIt) {
  ordo::ordered_mutex<single_level> m;
  ordo::unlocked ctx;
  auto g = m.lock(ctx);
  const bool was_free = ordo::unlocked_call(g, [&] { return free_from_another_thread(m); });
  EXPECT_TRUE(was_free);
  EXPECT_FALSE(free_from_another_thread(m));
}

TEST(OrderedMutexUnlockedCall, CallGetsAFreshRootContext) {
  ordo::ordered_mutex<outer_level> outer;
  ordo::ordered_mutex<inner_level> inner;
  ordo::unlocked ctx;
  auto i = inner.lock(ctx);
  // With inner dropped, the callee may take outer then inner again.
  const int depth = ordo::unlocked_call(i, [&](ordo::unlocked& root) {
    auto o = outer.lock(root);
    auto again = inner.lock(o);
    return static_cast<int>(ordo::lockdep::held_count());
  });
  EXPECT_EQ(depth, ORDO_LOCKDEP ? 2 : 0);
  EXPECT_FALSE(free_from_another_thread(inner));
}

TEST(Guarded, DataIsReachedThroughTheGuard) {
  ordo::guarded<std::vector<int>, ordo::ordered_mutex<outer_level>> numbers;
  ordo::ordered_mutex<inner_level> inner;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ordo::unlocked ctx;
      for (int i = 0; i < 500; ++i) {
        auto locked = numbers.lock(ctx);
        locked->push_back(t);
        auto next = inner.lock(locked);  // the view is a context
        static_assert(ordo::holds<decltype(next), outer_level, inner_level>);
      }
    });
  }
  for (auto& t : threads) t.join();
  ordo::unlocked ctx;
  EXPECT_EQ(numbers.lock(ctx)->size(), 2000u);
}

TEST(Guarded, SharedViewIsConstAndTryLockMayFail) {
  ordo::guarded<std::string, ordo::ordered_shared_mutex<single_level>> name("matrix");
  ordo::unlocked ctx;
  {
    auto view = name.lock_shared(ctx);
    static_assert(std::is_const_v<std::remove_reference_t<decltype(*view)>>);
    EXPECT_EQ(*view, "matrix");
    std::thread([&] {
      ordo::unlocked other;
      EXPECT_FALSE(name.try_lock(other).has_value());
      EXPECT_TRUE(name.lock_shared(other)->size() == 6);
    }).join();
  }
  auto writable = name.try_lock(ctx);
  ASSERT_TRUE(writable.has_value());
  **writable += "_dev";
  EXPECT_EQ(**writable, "matrix_dev");
}

// ---------------------------------------------------------------------------
// Early release, re-take, hand-over-hand, std interop

TEST(OrderedMutexGuard, UnlockReleasesEarlyAndTheGuardThenOwnsNothing) {
  ordo::ordered_mutex<single_level> m;
  ordo::unlocked ctx;
  auto g = m.lock(ctx);
  EXPECT_TRUE(g.owns_lock());
  g.unlock();
  EXPECT_FALSE(g.owns_lock());
  EXPECT_FALSE(static_cast<bool>(g));
  EXPECT_EQ(&g.mutex(), &m);
  EXPECT_TRUE(free_from_another_thread(m));
}  // g's end releases nothing

TEST(OrderedMutexGuard, LockRetakesWhatUnlockReleased) {
  ordo::ordered_mutex<single_level, std::mutex> m;
  ordo::unlocked ctx;
  auto g = m.lock(ctx);
  g.unlock();
  EXPECT_TRUE(free_from_another_thread(m));
  g.lock();
  EXPECT_TRUE(g.owns_lock());
  EXPECT_FALSE(free_from_another_thread(m));
}

// Hand-over-hand between two levels: take the inner lock, then release the
// outer one early; the inner guard stays the context for the next lock.
TEST(OrderedMutexGuard, UnlockOfAnOuterGuardLeavesTheInnerOneUsable) {
  ordo::ordered_mutex<outer_level> outer;
  ordo::ordered_mutex<inner_level> inner;
  ordo::ordered_mutex<innermost_level> innermost;
  ordo::unlocked ctx;
  auto go = outer.lock(ctx);
  auto gi = inner.lock(go);
  go.unlock();
  EXPECT_TRUE(free_from_another_thread(outer));
  auto gx = innermost.lock(gi);
  EXPECT_FALSE(free_from_another_thread(inner));
  EXPECT_FALSE(free_from_another_thread(innermost));
}

// A chain of nestable instances walked with hand_over: at most two locks
// are ever held, each node is locked while the walk is on it, and the
// guard keeps one type, so the walk is a loop.
TEST(OrderedMutexGuard, HandOverWalksAChainOfNestableInstances) {
  ordo::ordered_mutex<outer_level> table;
  std::vector<std::unique_ptr<ordo::ordered_mutex<bucket_level>>> chain;
  for (std::uint32_t k = 1; k <= 5; ++k) {
    chain.push_back(std::make_unique<ordo::ordered_mutex<bucket_level>>(ordo::nest_key{k}));
  }
  ordo::unlocked ctx;
  auto gt = table.lock(ctx);
  auto cur = chain[0]->lock(gt);
  for (std::size_t i = 1; i < chain.size(); ++i) {
    cur.hand_over(*chain[i]);
    EXPECT_EQ(&cur.mutex(), chain[i].get());
    EXPECT_TRUE(free_from_another_thread(*chain[i - 1]));
    EXPECT_FALSE(free_from_another_thread(*chain[i]));
    EXPECT_EQ(ordo::lockdep::held_count(), ORDO_LOCKDEP ? 2u : 0u);
  }
}

// std::condition_variable_any waits on a guard: the guard is BasicLockable
// for its own lock, over any Lockable.
template <class M>
void condition_variable_any_waits_on_a_guard() {
  M m;
  std::condition_variable_any cv;
  bool ready = false;  // guarded by m
  std::thread setter([&] {
    ordo::unlocked ctx;
    auto g = m.lock(ctx);
    ready = true;
    cv.notify_all();
  });
  {
    ordo::unlocked ctx;
    auto g = m.lock(ctx);
    cv.wait(g, [&] { return ready; });
    EXPECT_TRUE(ready);
    EXPECT_TRUE(g.owns_lock());
  }
  setter.join();
}
TEST(OrderedMutexGuard, ConditionVariableAnyWaitsOnAGuardOverAbslMutex) {
  condition_variable_any_waits_on_a_guard<ordo::ordered_mutex<single_level>>();
}
TEST(OrderedMutexGuard, ConditionVariableAnyWaitsOnAGuardOverStdMutex) {
  condition_variable_any_waits_on_a_guard<ordo::ordered_mutex<single_level, std::mutex>>();
}
TEST(OrderedMutexGuard, ConditionVariableAnyWaitsOnAGuardOverAnyLockable) {
  condition_variable_any_waits_on_a_guard<ordo::ordered_mutex<single_level, spin_lock>>();
}

// With an outer level held, the wait needs the explicit permission.
TEST(OrderedMutexGuard, RelockableWaitsWithTheAllowedOuterLevelHeld) {
  ordo::ordered_mutex<outer_level> outer;
  ordo::ordered_mutex<inner_level> inner;
  std::condition_variable_any cv;
  std::atomic<bool> ready{false};
  std::thread setter([&] {
    ordo::unlocked ctx;
    auto g = inner.lock(ctx);
    ready = true;
    cv.notify_all();
  });
  {
    ordo::unlocked ctx;
    auto go = outer.lock(ctx);
    auto gi = inner.lock(go);
    ordo::relockable lk(gi, ordo::allow_held<outer_level>);
    cv.wait(lk, [&] { return ready.load(); });
    EXPECT_TRUE(gi.owns_lock());
    EXPECT_FALSE(free_from_another_thread(outer));
  }
  setter.join();
}

// A Lockable with both spellings: ordo must call the std one (current
// Abseil deprecates the other).
class both_spellings {
 public:
  void lock() { mutex_.lock(); }
  bool try_lock() { return mutex_.try_lock(); }
  void unlock() { mutex_.unlock(); }
  void lock_shared() { mutex_.lock_shared(); }
  bool try_lock_shared() { return mutex_.try_lock_shared(); }
  void unlock_shared() { mutex_.unlock_shared(); }
  void Lock() { ++old_spelling_calls; mutex_.lock(); }
  bool TryLock() { ++old_spelling_calls; return mutex_.try_lock(); }
  void Unlock() { ++old_spelling_calls; mutex_.unlock(); }
  void ReaderLock() { ++old_spelling_calls; mutex_.lock_shared(); }
  bool ReaderTryLock() { ++old_spelling_calls; return mutex_.try_lock_shared(); }
  void ReaderUnlock() { ++old_spelling_calls; mutex_.unlock_shared(); }
  static inline std::atomic<int> old_spelling_calls{0};

 private:
  std::shared_mutex mutex_;
};

}  // namespace

// A std::shared_mutex inside: TSan sees it by itself.
template <>
inline constexpr bool ordo::lockable_is_tsan_visible_v<both_spellings> = true;

namespace {

TEST(OrderedMutex, LockOpsPreferTheStdSpelling) {
  ordo::ordered_shared_mutex<single_level, both_spellings> m;
  ordo::unlocked ctx;
  const int old_calls_before = both_spellings::old_spelling_calls.load();
  { auto g = m.lock(ctx); }
  { auto g = m.lock_shared(ctx); }
  { auto g = m.try_lock(ctx); EXPECT_TRUE(g.has_value()); }
  { auto g = m.try_lock_shared(ctx); EXPECT_TRUE(g.has_value()); }
  EXPECT_EQ(both_spellings::old_spelling_calls.load(), old_calls_before);
}

// ---------------------------------------------------------------------------
// ordo::condition_variable and ordo::callback_lockable

template <class M>
void condition_variable_wakes_a_waiter() {
  M m;
  ordo::condition_variable cv;
  bool ready = false;  // guarded by m
  std::thread setter([&] {
    ordo::unlocked ctx;
    auto g = m.lock(ctx);
    ready = true;
    cv.notify_one();
  });
  {
    ordo::unlocked ctx;
    auto g = m.lock(ctx);
    cv.wait(g, [&] { return ready; });
    EXPECT_TRUE(ready);
    EXPECT_TRUE(g.owns_lock());
  }
  setter.join();
}
TEST(OrderedConditionVariable, WakesAWaiterOverAbslMutex) {
  condition_variable_wakes_a_waiter<ordo::ordered_mutex<single_level>>();
}
TEST(OrderedConditionVariable, WakesAWaiterOverStdMutex) {
  condition_variable_wakes_a_waiter<ordo::ordered_mutex<single_level, std::mutex>>();
}
TEST(OrderedConditionVariable, WakesAWaiterOverAnyLockable) {
  condition_variable_wakes_a_waiter<ordo::ordered_mutex<single_level, spin_lock>>();
}
TEST(OrderedConditionVariable, WakesASharedWaiter) {
  condition_variable_wakes_a_waiter<ordo::ordered_shared_mutex<single_level>>();
}

TEST(OrderedConditionVariable, NotifyAllWakesEveryWaiter) {
  ordo::ordered_mutex<single_level, std::mutex> m;
  ordo::condition_variable cv;
  bool go = false;  // guarded by m
  int woken = 0;    // guarded by m
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      ordo::unlocked ctx;
      auto g = m.lock(ctx);
      cv.wait(g, [&] { return go; });
      ++woken;
    });
  }
  {
    ordo::unlocked ctx;
    auto g = m.lock(ctx);
    go = true;
  }
  cv.notify_all();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(woken, 3);
}

TEST(OrderedConditionVariable, WaitForAndWaitUntilTimeOutWithTheLockHeldAgain) {
  ordo::ordered_mutex<single_level, std::mutex> m;
  ordo::condition_variable cv;
  ordo::unlocked ctx;
  auto g = m.lock(ctx);
  EXPECT_FALSE(cv.wait_for(g, std::chrono::milliseconds(1), [] { return false; }));
  EXPECT_TRUE(g.owns_lock());
  EXPECT_FALSE(free_from_another_thread(m));
  EXPECT_FALSE(cv.wait_until(g, std::chrono::steady_clock::now() + std::chrono::milliseconds(1),
                             [] { return false; }));
  EXPECT_FALSE(free_from_another_thread(m));
  (void)cv.wait_for(g, std::chrono::milliseconds(1));  // may wake spuriously
  (void)cv.wait_until(g, std::chrono::steady_clock::now() + std::chrono::milliseconds(1));
  EXPECT_TRUE(g.owns_lock());
  EXPECT_FALSE(free_from_another_thread(m));
}

TEST(OrderedConditionVariable, RelockableWaitKeepsTheAllowedOuterLevel) {
  ordo::ordered_mutex<outer_level> outer;
  ordo::ordered_mutex<inner_level, std::mutex> inner;
  ordo::condition_variable cv;
  bool ready = false;  // guarded by inner
  std::thread setter([&] {
    ordo::unlocked ctx;
    auto g = inner.lock(ctx);
    ready = true;
    cv.notify_all();
  });
  {
    ordo::unlocked ctx;
    auto go = outer.lock(ctx);
    auto gi = inner.lock(go);
    ordo::relockable lk(gi, ordo::allow_held<outer_level>);
    cv.wait(lk, [&] { return ready; });
    EXPECT_FALSE(free_from_another_thread(outer));
    EXPECT_FALSE(free_from_another_thread(inner));
  }
  setter.join();
}

TEST(CallbackLockable, StdUniqueLockAndScopedLockTakeTheOrderedMutex) {
  ordo::ordered_mutex<single_level, std::mutex> m;
  ordo::callback_lockable view(m);
  {
    std::unique_lock lk(view);
    EXPECT_TRUE(lk.owns_lock());
    EXPECT_FALSE(free_from_another_thread(m));
    lk.unlock();
    EXPECT_TRUE(free_from_another_thread(m));
    EXPECT_TRUE(lk.try_lock());
    EXPECT_FALSE(free_from_another_thread(m));
  }
  EXPECT_TRUE(free_from_another_thread(m));
  {
    std::scoped_lock lk(view);
    EXPECT_FALSE(free_from_another_thread(m));
  }
  EXPECT_TRUE(free_from_another_thread(m));
}

TEST(CallbackLockable, StdSharedLockTakesTheReaderSide) {
  ordo::ordered_shared_mutex<single_level> m;
  ordo::callback_lockable view(m);
  std::shared_lock lk(view);
  EXPECT_TRUE(lk.owns_lock());
  EXPECT_FALSE(free_from_another_thread(m));  // a writer cannot enter
}

}  // namespace
