// The kernel's lockdep self-test (lib/locking-selftest.c) as an ordo test
// suite: every scenario that applies to ordo's locks, one test per row,
// named after the row (`<scenario>_<locktype>`), asserting the kernel's
// expected outcome: SUCCESS (no report) or FAILURE (a report of the kind
// the row is about).
//
// How a row is written
//   Each row is written the way an ordo user writes it: levels declared in
//   the order the row's first acquisitions establish, locks taken through
//   contexts. The step that closes the row's deadlock is one the types
//   reject (a wrong order, a second lock of a held level): it is a
//   compile-fail case of its own, tests/compile_fail/selftest_<row>.cpp,
//   with its valid twin. Here that step is taken the only way a program can
//   still reach it, from a callback that cannot receive the caller's
//   context (ordo::callback_context), and the runtime validator must report
//   it, as the kernel's lockdep does.
//
// Lock types: the kernel's columns map to
//   spin   ordo::ordered_mutex over a spin lock (any Lockable)
//   wlock  the writer side of ordo::ordered_shared_mutex over std::shared_mutex
//   mutex  ordo::ordered_mutex over absl::Mutex
//   wsem   the writer side of ordo::ordered_shared_mutex over absl::Mutex
//   rsem   the reader side of ordo::ordered_shared_mutex over absl::Mutex
// Not applicable: the rlock column of the deadlock rows and rlock_AA1,
// rlock_AA1B, rlock_ABBA2 (SUCCESS in the kernel because rwlock readers may
// recurse). ordo's shared locks are rw_semaphores: a reader queued behind
// a waiting writer blocks, so those cycles can deadlock, and ordo reports
// them like the rsem column. The irq-context rows have no user-space
// equivalent. The ww_mutex rows map the acquire context to ordo::lock_all
// (several locks of one class taken deadlock-free), "block" to lock() and
// "try" to try_lock(); the ww API rows about the acquire context's own
// state machine (done twice, fini early, EDEADLK back-off) have no ordo
// counterpart, since lock_all takes its whole batch in one call.
//
// Every lock names ordo::validator_on, so the suite checks the same thing
// in every preset, release included. A row's locks are static (one set per
// row and column, never at a reused address), and the step that closes a
// cycle takes other instances of the classes than the steps before it:
// lockdep's classes see the cycle, while the address-based detectors
// underneath (absl::Mutex's, ThreadSanitizer's) see none, so they do not
// abort the row before ordo's report is checked. Each row declares its own levels (a
// lock class lives as long as the program): rows do not see each other's
// dependencies, and --gtest_repeat re-runs each against its own history.
#include <ordo/lockdep.hpp>
#include <ordo/ordered_mutex.hpp>

// Clang's thread safety analysis: this suite is about the runtime
// validator. Its rows take locks through the column helpers (which return
// guards) and release them twice or out of order on purpose, which the
// analysis rejects or cannot follow; the analysis is proven on the same
// headers by tests/ordered_mutex_test.cpp and tests/compile_fail/ordered_tsa_*.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <source_location>
#include <string>
#include <thread>
#include <vector>

namespace {

using ordo::lockdep::report_kind;
using root = ordo::basic_unlocked<ordo::validator_on>;
using callback = ordo::basic_callback_context<ordo::validator_on>;

// A test-and-set spin lock: the kernel's spinlock_t column.
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

// A Lockable that logs, per thread, the order its instances are locked in
// (the order lock_all takes a batch in).
class logged_lock {
 public:
  void lock() {
    mutex_.lock();
    log().push_back(this);
  }
  bool try_lock() {
    if (!mutex_.try_lock()) return false;
    log().push_back(this);
    return true;
  }
  void unlock() { mutex_.unlock(); }
  static std::vector<const void*>& log() {
    thread_local std::vector<const void*> order;
    return order;
  }

 private:
  std::mutex mutex_;
};

}  // namespace

// Built from atomics in instrumented code: TSan sees it by itself.
template <>
inline constexpr bool ordo::lockable_is_tsan_visible_v<spin_lock> = true;
// A std::mutex inside: TSan sees it.
template <>
inline constexpr bool ordo::lockable_is_tsan_visible_v<logged_lock> = true;

namespace {

// The lock-type columns: which ordered mutex, and which side of it a row's
// LOCK() takes.
struct column_spin {
  template <class L>
  using mutex = ordo::ordered_mutex<L, spin_lock, ordo::validator_on>;
  template <class M, class Ctx>
  static auto take(M& m, Ctx& ctx, std::source_location w = std::source_location::current()) {
    return m.lock(ctx, w);
  }
};
struct column_wlock {
  template <class L>
  using mutex = ordo::ordered_shared_mutex<L, std::shared_mutex, ordo::validator_on>;
  template <class M, class Ctx>
  static auto take(M& m, Ctx& ctx, std::source_location w = std::source_location::current()) {
    return m.lock(ctx, w);
  }
};
struct column_mutex {
  template <class L>
  using mutex = ordo::ordered_mutex<L, absl::Mutex, ordo::validator_on>;
  template <class M, class Ctx>
  static auto take(M& m, Ctx& ctx, std::source_location w = std::source_location::current()) {
    return m.lock(ctx, w);
  }
};
struct column_wsem {
  template <class L>
  using mutex = ordo::ordered_shared_mutex<L, absl::Mutex, ordo::validator_on>;
  template <class M, class Ctx>
  static auto take(M& m, Ctx& ctx, std::source_location w = std::source_location::current()) {
    return m.lock(ctx, w);
  }
};
struct column_rsem {
  template <class L>
  using mutex = ordo::ordered_shared_mutex<L, absl::Mutex, ordo::validator_on>;
  template <class M, class Ctx>
  static auto take(M& m, Ctx& ctx, std::source_location w = std::source_location::current()) {
    return m.lock_shared(ctx, w);
  }
};

// Records every report; with `abandon` set, also throws after recording,
// so that an acquisition that would self-deadlock is abandoned before it
// locks anything (lockdep.hpp: a throwing handler is safe there).
class LockingSelftest : public ::testing::Test {
 protected:
  struct abandoned {};

  void SetUp() override {
    std::lock_guard<std::mutex> lock(mutex_());
    reports_().clear();
    abandon_() = false;
    previous_ = ordo::lockdep::set_report_handler(&record);
  }
  void TearDown() override { ordo::lockdep::set_report_handler(previous_); }

  static void abandon_on_report() { abandon_() = true; }

  static std::vector<ordo::lockdep::report> taken() {
    std::lock_guard<std::mutex> lock(mutex_());
    return reports_();
  }

  // The kernel's SUCCESS: the validator said nothing.
  static void expect_success() {
    const auto all = taken();
    EXPECT_TRUE(all.empty()) << all.size() << " report(s), the first:\n" << all.front().text;
  }

  // The kernel's FAILURE: the first report is of the row's kind, and it is
  // the only one.
  static void expect_failure(report_kind kind) {
    const auto all = taken();
    ASSERT_EQ(all.size(), 1u) << "expected exactly one report";
    EXPECT_EQ(all[0].kind, kind) << all[0].text;
  }

 private:
  static void record(const ordo::lockdep::report& r) {
    {
      std::lock_guard<std::mutex> lock(mutex_());
      reports_().push_back(r);
    }
    if (abandon_()) throw abandoned{};
  }
  static std::mutex& mutex_() {
    static std::mutex m;
    return m;
  }
  static std::vector<ordo::lockdep::report>& reports_() {
    static std::vector<ordo::lockdep::report> r;
    return r;
  }
  static std::atomic<bool>& abandon_() {
    static std::atomic<bool> a{false};
    return a;
  }
  ordo::lockdep::report_handler previous_ = nullptr;
};

// A second unlock() of one guard, on purpose. Clang's analysis rejects it
// at compile time already ("releasing mutex that was not held"); the
// validator is for the paths the analysis cannot follow.
template <class G>
void unlock_twice(G& g) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  g.unlock();
  g.unlock();
}

// LOCK_UNLOCK_2(x, y): take x, then y through x's guard, release both.
template <class F, class X, class Y, class Ctx>
void lock_unlock_2(X& x, Y& y, Ctx& ctx) {
  auto gx = F::take(x, ctx);
  auto gy = F::take(y, gx);
}

// LOCK_UNLOCK_2(x, y) where the types forbid y after x: y is taken by a
// callback that runs under x and cannot receive x's guard.
template <class F, class X, class Y, class Ctx>
void lock_unlock_2_from_callback(X& x, Y& y, Ctx& ctx) {
  auto gx = F::take(x, ctx);
  callback cb;
  auto gy = F::take(y, cb);
}

// ---------------------------------------------------------------------------
// A-A deadlock: LOCK(X1); LOCK(X2), two locks of one class.
// Typed: tests/compile_fail/selftest_AA.cpp.

template <class Tag>
struct aa_x : ordo::level<> {};

template <class F, class Tag>
void aa() {
  static typename F::template mutex<aa_x<Tag>> x1, x2;
  root ctx;
  lock_unlock_2_from_callback<F>(x1, x2, ctx);
}

#define ORDO_SELFTEST_AA(type)                 \
  TEST_F(LockingSelftest, AA_##type) {         \
    struct tag {};                             \
    aa<column_##type, tag>();                           \
    expect_failure(report_kind::same_level);   \
  }
ORDO_SELFTEST_AA(spin)
ORDO_SELFTEST_AA(wlock)
ORDO_SELFTEST_AA(mutex)
ORDO_SELFTEST_AA(wsem)
ORDO_SELFTEST_AA(rsem)

// ---------------------------------------------------------------------------
// A-B-B-A deadlock: LOCK_UNLOCK_2(A, B); LOCK_UNLOCK_2(B, A).
// Typed: tests/compile_fail/selftest_ABBA.cpp.

template <class Tag>
struct abba_a : ordo::level<> {};
template <class Tag>
struct abba_b : ordo::level<abba_a<Tag>> {};

template <class F, class Tag>
void abba() {
  static typename F::template mutex<abba_a<Tag>> a, a_other;
  static typename F::template mutex<abba_b<Tag>> b, b_other;
  root ctx;
  lock_unlock_2<F>(a, b, ctx);
  lock_unlock_2_from_callback<F>(b_other, a_other, ctx);
}

#define ORDO_SELFTEST_CYCLE(row, type)                   \
  TEST_F(LockingSelftest, row##_##type) {                \
    struct tag {};                                       \
    row<column_##type, tag>();                                    \
    expect_failure(report_kind::circular_dependency);    \
  }
#define ORDO_SELFTEST_CYCLE_ROW(row) \
  ORDO_SELFTEST_CYCLE(row, spin)     \
  ORDO_SELFTEST_CYCLE(row, wlock)    \
  ORDO_SELFTEST_CYCLE(row, mutex)    \
  ORDO_SELFTEST_CYCLE(row, wsem)     \
  ORDO_SELFTEST_CYCLE(row, rsem)

template <class F, class Tag>
void ABBA() {
  abba<F, Tag>();
}
ORDO_SELFTEST_CYCLE_ROW(ABBA)

// ---------------------------------------------------------------------------
// A-B-B-C-C-A deadlock: LOCK_UNLOCK_2(A, B); (B, C); (C, A).
// Typed: tests/compile_fail/selftest_ABBCCA.cpp.

template <class Tag>
struct abbcca_a : ordo::level<> {};
template <class Tag>
struct abbcca_b : ordo::level<abbcca_a<Tag>> {};
template <class Tag>
struct abbcca_c : ordo::level<abbcca_b<Tag>> {};

template <class F, class Tag>
void ABBCCA() {
  static typename F::template mutex<abbcca_a<Tag>> a, a_other;
  static typename F::template mutex<abbcca_b<Tag>> b, b_other;
  static typename F::template mutex<abbcca_c<Tag>> c, c_other;
  root ctx;
  lock_unlock_2<F>(a, b, ctx);
  lock_unlock_2<F>(b, c, ctx);
  lock_unlock_2_from_callback<F>(c_other, a_other, ctx);
}
ORDO_SELFTEST_CYCLE_ROW(ABBCCA)

// ---------------------------------------------------------------------------
// A-B-C-A-B-C deadlock: LOCK_UNLOCK_2(A, B); (C, A); (B, C). The first two
// declare C before A before B; the third closes the cycle.
// Typed: tests/compile_fail/selftest_ABCABC.cpp (the three orders declared
// as levels are a declared cycle).

template <class Tag>
struct abcabc_c : ordo::level<> {};
template <class Tag>
struct abcabc_a : ordo::level<abcabc_c<Tag>> {};
template <class Tag>
struct abcabc_b : ordo::level<abcabc_a<Tag>> {};

template <class F, class Tag>
void ABCABC() {
  static typename F::template mutex<abcabc_a<Tag>> a, a_other;
  static typename F::template mutex<abcabc_b<Tag>> b, b_other;
  static typename F::template mutex<abcabc_c<Tag>> c, c_other;
  root ctx;
  lock_unlock_2<F>(a, b, ctx);
  lock_unlock_2<F>(c, a, ctx);
  lock_unlock_2_from_callback<F>(b_other, c_other, ctx);
}
ORDO_SELFTEST_CYCLE_ROW(ABCABC)

// ---------------------------------------------------------------------------
// A-B-B-C-C-D-D-A deadlock. Typed: tests/compile_fail/selftest_ABBCCDDA.cpp.

template <class Tag>
struct abbccdda_a : ordo::level<> {};
template <class Tag>
struct abbccdda_b : ordo::level<abbccdda_a<Tag>> {};
template <class Tag>
struct abbccdda_c : ordo::level<abbccdda_b<Tag>> {};
template <class Tag>
struct abbccdda_d : ordo::level<abbccdda_c<Tag>> {};

template <class F, class Tag>
void ABBCCDDA() {
  static typename F::template mutex<abbccdda_a<Tag>> a, a_other;
  static typename F::template mutex<abbccdda_b<Tag>> b, b_other;
  static typename F::template mutex<abbccdda_c<Tag>> c, c_other;
  static typename F::template mutex<abbccdda_d<Tag>> d, d_other;
  root ctx;
  lock_unlock_2<F>(a, b, ctx);
  lock_unlock_2<F>(b, c, ctx);
  lock_unlock_2<F>(c, d, ctx);
  lock_unlock_2_from_callback<F>(d_other, a_other, ctx);
}
ORDO_SELFTEST_CYCLE_ROW(ABBCCDDA)

// ---------------------------------------------------------------------------
// A-B-C-D-B-D-D-A deadlock: (A, B); (C, D); (B, D); (D, A).
// Typed: tests/compile_fail/selftest_ABCDBDDA.cpp.

template <class Tag>
struct abcdbdda_a : ordo::level<> {};
template <class Tag>
struct abcdbdda_b : ordo::level<abcdbdda_a<Tag>> {};
template <class Tag>
struct abcdbdda_c : ordo::level<> {};
template <class Tag>
struct abcdbdda_d : ordo::level<abcdbdda_c<Tag>, abcdbdda_b<Tag>> {};

template <class F, class Tag>
void ABCDBDDA() {
  static typename F::template mutex<abcdbdda_a<Tag>> a, a_other;
  static typename F::template mutex<abcdbdda_b<Tag>> b, b_other;
  static typename F::template mutex<abcdbdda_c<Tag>> c, c_other;
  static typename F::template mutex<abcdbdda_d<Tag>> d, d_other;
  root ctx;
  lock_unlock_2<F>(a, b, ctx);
  lock_unlock_2<F>(c, d, ctx);
  lock_unlock_2<F>(b, d, ctx);
  lock_unlock_2_from_callback<F>(d_other, a_other, ctx);
}
ORDO_SELFTEST_CYCLE_ROW(ABCDBDDA)

// ---------------------------------------------------------------------------
// A-B-C-D-B-C-D-A deadlock: (A, B); (C, D); (B, C); (D, A).
// Typed: tests/compile_fail/selftest_ABCDBCDA.cpp.

template <class Tag>
struct abcdbcda_a : ordo::level<> {};
template <class Tag>
struct abcdbcda_b : ordo::level<abcdbcda_a<Tag>> {};
template <class Tag>
struct abcdbcda_c : ordo::level<abcdbcda_b<Tag>> {};
template <class Tag>
struct abcdbcda_d : ordo::level<abcdbcda_c<Tag>> {};

template <class F, class Tag>
void ABCDBCDA() {
  static typename F::template mutex<abcdbcda_a<Tag>> a, a_other;
  static typename F::template mutex<abcdbcda_b<Tag>> b, b_other;
  static typename F::template mutex<abcdbcda_c<Tag>> c, c_other;
  static typename F::template mutex<abcdbcda_d<Tag>> d, d_other;
  root ctx;
  lock_unlock_2<F>(a, b, ctx);
  lock_unlock_2<F>(c, d, ctx);
  lock_unlock_2<F>(b, c, ctx);
  lock_unlock_2_from_callback<F>(d_other, a_other, ctx);
}
ORDO_SELFTEST_CYCLE_ROW(ABCDBCDA)

// ---------------------------------------------------------------------------
// double unlock: LOCK(A); UNLOCK(A); UNLOCK(A). A guard releases once; the
// explicit early release, unlock(), made twice is the way to write it.

template <class Tag>
struct double_unlock_a : ordo::level<> {};

#define ORDO_SELFTEST_DOUBLE_UNLOCK(type)                               \
  TEST_F(LockingSelftest, double_unlock_##type) {                       \
    struct tag {};                                                      \
    column_##type::mutex<double_unlock_a<tag>> a;                       \
    root ctx;                                                           \
    auto g = column_##type::take(a, ctx);                                        \
    unlock_twice(g);                                                         \
    expect_failure(report_kind::unlock_not_held);                       \
    EXPECT_EQ(ordo::lockdep::held_count(), 0u);                         \
  }
ORDO_SELFTEST_DOUBLE_UNLOCK(spin)
ORDO_SELFTEST_DOUBLE_UNLOCK(wlock)
ORDO_SELFTEST_DOUBLE_UNLOCK(mutex)
ORDO_SELFTEST_DOUBLE_UNLOCK(wsem)
ORDO_SELFTEST_DOUBLE_UNLOCK(rsem)

// ---------------------------------------------------------------------------
// initialize held: LOCK(A); INIT(A). Re-initialising a C++ object is
// destroying it and making a new one: destroying a held mutex is "held lock
// freed" (the kernel's debug_check_no_locks_freed). Its guard would release
// freed memory next, so the row runs with the default handler, which
// aborts.

template <class Tag>
struct init_held_a : ordo::level<> {};

template <class F, class Tag>
void destroy_while_held() {
  ordo::lockdep::set_report_handler(nullptr);
  auto a = std::make_unique<typename F::template mutex<init_held_a<Tag>>>();
  root ctx;
  auto g = F::take(*a, ctx);
  a.reset();
}

#define ORDO_SELFTEST_INIT_HELD(type)                                              \
  TEST_F(LockingSelftest, init_held_##type) {                                      \
    GTEST_FLAG_SET(death_test_style, "threadsafe");                                \
    struct tag {};                                                                 \
    EXPECT_DEATH((destroy_while_held<column_##type, tag>()), "held lock freed.*init_held_a"); \
  }
ORDO_SELFTEST_INIT_HELD(spin)
ORDO_SELFTEST_INIT_HELD(wlock)
ORDO_SELFTEST_INIT_HELD(mutex)
ORDO_SELFTEST_INIT_HELD(wsem)
ORDO_SELFTEST_INIT_HELD(rsem)

// The SUCCESS twin: a mutex destroyed after its guard is silent.
TEST_F(LockingSelftest, init_released_mutex) {
  struct tag {};
  auto a = std::make_unique<column_mutex::mutex<init_held_a<tag>>>();
  root ctx;
  { auto g = column_mutex::take(*a, ctx); }
  a.reset();
  expect_success();
}

// ---------------------------------------------------------------------------
// bad unlock order: LOCK(A); LOCK(B); UNLOCK(A); UNLOCK(B), from the
// kernel's original table. A guard's end that is not the innermost is
// reported; the explicit early release (unlock(), hand-over-hand) is the
// sanctioned way and is silent (HandOverHand rows below).

template <class Tag>
struct bad_unlock_a : ordo::level<> {};
template <class Tag>
struct bad_unlock_b : ordo::level<bad_unlock_a<Tag>> {};

#define ORDO_SELFTEST_BAD_UNLOCK_ORDER(type)                     \
  TEST_F(LockingSelftest, bad_unlock_order_##type) {             \
    struct tag {};                                               \
    column_##type::mutex<bad_unlock_a<tag>> a;                   \
    column_##type::mutex<bad_unlock_b<tag>> b;                   \
    root ctx;                                                    \
    auto ga = std::optional(column_##type::take(a, ctx));        \
    auto gb = column_##type::take(b, *ga);                                \
    ga.reset();                                                  \
    expect_failure(report_kind::unlock_out_of_order);            \
  }
ORDO_SELFTEST_BAD_UNLOCK_ORDER(spin)
ORDO_SELFTEST_BAD_UNLOCK_ORDER(wlock)
ORDO_SELFTEST_BAD_UNLOCK_ORDER(mutex)
ORDO_SELFTEST_BAD_UNLOCK_ORDER(wsem)
ORDO_SELFTEST_BAD_UNLOCK_ORDER(rsem)

// ---------------------------------------------------------------------------
// recursive read-lock, mixed read-write-lock, mixed write-read-lock (the
// rsem column; rlock_AA2 and rlock_AA3 expect the same).

template <class Tag>
struct rsem_x : ordo::level<> {};

template <class Tag>
using rwsem = ordo::ordered_shared_mutex<rsem_x<Tag>, absl::Mutex, ordo::validator_on>;
template <class Tag>
using rwlock = ordo::ordered_shared_mutex<rsem_x<Tag>, std::shared_mutex, ordo::validator_on>;

// RSL(X1); RSL(X1): the same reader lock twice is a self-deadlock once a
// writer queues between the two. Typed: selftest_rsem_AA1.cpp. Abandoned
// by the handler before it blocks.
TEST_F(LockingSelftest, rsem_AA1) {
  struct tag {};
  rwsem<tag> x1;
  root ctx;
  auto g = x1.lock_shared(ctx);
  abandon_on_report();
  callback cb;
  EXPECT_THROW((void)x1.lock_shared(cb), abandoned);
  expect_failure(report_kind::recursive_lock);
  EXPECT_EQ(ordo::lockdep::held_count(), 1u);
}

// RSL(X1); RSL(X2): two reader locks of one class.
TEST_F(LockingSelftest, rsem_AA1B) {
  struct tag {};
  rwsem<tag> x1, x2;
  root ctx;
  auto g = x1.lock_shared(ctx);
  callback cb;
  auto g2 = x2.lock_shared(cb);
  expect_failure(report_kind::same_level);
}

// RSL(X1); WSL(X2) and WSL(X1); RSL(X2): read and write of one class.
TEST_F(LockingSelftest, rsem_AA2) {
  struct tag {};
  rwsem<tag> x1, x2;
  root ctx;
  auto g = x1.lock_shared(ctx);
  callback cb;
  auto g2 = x2.lock(cb);
  expect_failure(report_kind::same_level);
}
TEST_F(LockingSelftest, rsem_AA3) {
  struct tag {};
  rwsem<tag> x1, x2;
  root ctx;
  auto g = x1.lock(ctx);
  callback cb;
  auto g2 = x2.lock_shared(cb);
  expect_failure(report_kind::same_level);
}
TEST_F(LockingSelftest, rlock_AA2) {
  struct tag {};
  rwlock<tag> x1, x2;
  root ctx;
  auto g = x1.lock_shared(ctx);
  callback cb;
  auto g2 = x2.lock(cb);
  expect_failure(report_kind::same_level);
}
TEST_F(LockingSelftest, rlock_AA3) {
  struct tag {};
  rwlock<tag> x1, x2;
  root ctx;
  auto g = x1.lock(ctx);
  callback cb;
  auto g2 = x2.lock_shared(cb);
  expect_failure(report_kind::same_level);
}

// ---------------------------------------------------------------------------
// mixed read-lock/lock-write ABBA, read-lock/lock-read ABBA,
// write-lock/lock-write ABBA: X is a reader/writer lock, Y a mutex.
// Typed: selftest_rwsem_ABBA1.cpp.

template <class Tag>
struct mixed_x : ordo::level<> {};
template <class Tag>
struct mixed_y : ordo::level<mixed_x<Tag>> {};

enum class side { read, write };

template <side Side, class X, class Ctx>
auto take_side(X& x, Ctx& ctx) {
  if constexpr (Side == side::read) {
    return x.lock_shared(ctx);
  } else {
    return x.lock(ctx);
  }
}

// First: X(First); Y; then Y; X(Second), the second from a callback.
template <class X, class Y, side First, side Second>
void mixed_abba() {
  static X x, x_other;
  static Y y, y_other;
  root ctx;
  {
    auto gx = take_side<First>(x, ctx);
    auto gy = y.lock(gx);
  }
  auto gy = y_other.lock(ctx);
  callback cb;
  auto gx = take_side<Second>(x_other, cb);
}

template <class Tag>
using mixed_rwsem = ordo::ordered_shared_mutex<mixed_x<Tag>, absl::Mutex, ordo::validator_on>;
template <class Tag>
using mixed_rwlock =
    ordo::ordered_shared_mutex<mixed_x<Tag>, std::shared_mutex, ordo::validator_on>;
template <class Tag>
using mixed_mutex = ordo::ordered_mutex<mixed_y<Tag>, absl::Mutex, ordo::validator_on>;
template <class Tag>
using mixed_spin = ordo::ordered_mutex<mixed_y<Tag>, spin_lock, ordo::validator_on>;

TEST_F(LockingSelftest, rwsem_ABBA1) {
  struct tag {};
  mixed_abba<mixed_rwsem<tag>, mixed_mutex<tag>, side::read, side::write>();
  expect_failure(report_kind::circular_dependency);
}
TEST_F(LockingSelftest, rwsem_ABBA2) {
  struct tag {};
  mixed_abba<mixed_rwsem<tag>, mixed_mutex<tag>, side::read, side::read>();
  expect_failure(report_kind::circular_dependency);
}
TEST_F(LockingSelftest, rwsem_ABBA3) {
  struct tag {};
  mixed_abba<mixed_rwsem<tag>, mixed_mutex<tag>, side::write, side::write>();
  expect_failure(report_kind::circular_dependency);
}
TEST_F(LockingSelftest, rlock_ABBA1) {
  struct tag {};
  mixed_abba<mixed_rwlock<tag>, mixed_spin<tag>, side::read, side::write>();
  expect_failure(report_kind::circular_dependency);
}
TEST_F(LockingSelftest, rlock_ABBA3) {
  struct tag {};
  mixed_abba<mixed_rwlock<tag>, mixed_spin<tag>, side::write, side::write>();
  expect_failure(report_kind::circular_dependency);
}

// ---------------------------------------------------------------------------
// Wound/wait: o, o2 are two locks of one class. "context" is ordo::lock_all
// (a batch of one class taken deadlock-free), "block" lock(), "try"
// try_lock(). A try never waits, so it is never a second-lock fault; a
// blocking second lock of the class outside a batch is.

template <class Tag>
struct ww_class : ordo::level<> {};
template <class Tag>
using ww_mutex = ordo::ordered_mutex<ww_class<Tag>, absl::Mutex, ordo::validator_on>;

// WWL(o, t); WWL1(o2). Typed: selftest_ww_context_block.cpp.
TEST_F(LockingSelftest, ww_test_context_block) {
  struct tag {};
  ww_mutex<tag> o, o2;
  root ctx;
  auto t = ordo::lock_all(ctx, o);
  callback cb;
  auto g = o2.lock(cb);
  expect_failure(report_kind::same_level);
}

// WWL(o, t); WWT(o2).
TEST_F(LockingSelftest, ww_test_context_try) {
  struct tag {};
  ww_mutex<tag> o, o2;
  root ctx;
  auto t = ordo::lock_all(ctx, o);
  auto g = o2.try_lock(t);
  EXPECT_TRUE(g.has_value());
  expect_success();
}

// WWL(o, t); WWL(o2, t).
TEST_F(LockingSelftest, ww_test_context_context) {
  struct tag {};
  ww_mutex<tag> o, o2;
  root ctx;
  auto t = ordo::lock_all(ctx, o, o2);
  EXPECT_EQ(t.size(), 2u);
  expect_success();
}

// WWT(o); WWL1(o2). Typed: selftest_ww_try_block.cpp.
TEST_F(LockingSelftest, ww_test_try_block) {
  struct tag {};
  ww_mutex<tag> o, o2;
  root ctx;
  auto t = o.try_lock(ctx);
  ASSERT_TRUE(t.has_value());
  callback cb;
  auto g = o2.lock(cb);
  expect_failure(report_kind::same_level);
}

// WWT(o); WWT(o2).
TEST_F(LockingSelftest, ww_test_try_try) {
  struct tag {};
  ww_mutex<tag> o, o2;
  root ctx;
  auto t = o.try_lock(ctx);
  ASSERT_TRUE(t.has_value());
  auto t2 = o2.try_lock(*t);
  EXPECT_TRUE(t2.has_value());
  expect_success();
}

// WWT(o); WWL(o2, t). Typed: selftest_ww_try_context.cpp.
TEST_F(LockingSelftest, ww_test_try_context) {
  struct tag {};
  ww_mutex<tag> o, o2;
  root ctx;
  auto t = o.try_lock(ctx);
  ASSERT_TRUE(t.has_value());
  callback cb;
  auto all = ordo::lock_all(cb, o2);
  expect_failure(report_kind::same_level);
}

// WWL1(o); WWL1(o2). Typed: selftest_ww_block_block.cpp.
TEST_F(LockingSelftest, ww_test_block_block) {
  struct tag {};
  ww_mutex<tag> o, o2;
  root ctx;
  auto g = o.lock(ctx);
  callback cb;
  auto g2 = o2.lock(cb);
  expect_failure(report_kind::same_level);
}

// WWL1(o); WWT(o2).
TEST_F(LockingSelftest, ww_test_block_try) {
  struct tag {};
  ww_mutex<tag> o, o2;
  root ctx;
  auto g = o.lock(ctx);
  auto t = o2.try_lock(g);
  EXPECT_TRUE(t.has_value());
  expect_success();
}

// WWL1(o); WWL(o2, t). Typed: selftest_ww_block_context.cpp.
TEST_F(LockingSelftest, ww_test_block_context) {
  struct tag {};
  ww_mutex<tag> o, o2;
  root ctx;
  auto g = o.lock(ctx);
  callback cb;
  auto all = ordo::lock_all(cb, o2);
  expect_failure(report_kind::same_level);
}

template <class Tag>
struct ww_spin_level : ordo::level<ww_class<Tag>> {};
template <class Tag>
using ww_spin = ordo::ordered_mutex<ww_spin_level<Tag>, spin_lock, ordo::validator_on>;

// L(A); U(A); WWL1(o); L(A); U(A); WWU(o); L(A); WWL1(o): o then A, then A
// then o. Typed: selftest_ww_spin_block.cpp.
TEST_F(LockingSelftest, ww_test_spin_block) {
  struct tag {};
  ww_mutex<tag> o, o_other;
  ww_spin<tag> a, a_other;
  root ctx;
  { auto ga = a.lock(ctx); }
  {
    auto go = o.lock(ctx);
    auto ga = a.lock(go);
  }
  // The closing step on other instances of the two classes (absl's own
  // detector would abort on the same instances; lockdep's classes see it).
  auto ga = a_other.lock(ctx);
  callback cb;
  auto go = o_other.lock(cb);
  expect_failure(report_kind::circular_dependency);
}

// The same with WWT(o): a try adds no dependency.
TEST_F(LockingSelftest, ww_test_spin_try) {
  struct tag {};
  ww_mutex<tag> o;
  ww_spin<tag> a;
  root ctx;
  { auto ga = a.lock(ctx); }
  {
    auto go = o.try_lock(ctx);
    ASSERT_TRUE(go.has_value());
    auto ga = a.lock(*go);
  }
  auto ga = a.lock(ctx);
  auto go = o.try_lock(ga);
  EXPECT_TRUE(go.has_value());
  expect_success();
}

// The same with WWL(o, t): a batch is ordered like any lock.
// Typed: selftest_ww_spin_context.cpp.
TEST_F(LockingSelftest, ww_test_spin_context) {
  struct tag {};
  ww_mutex<tag> o, o_other;
  ww_spin<tag> a, a_other;
  root ctx;
  { auto ga = a.lock(ctx); }
  {
    auto t = ordo::lock_all(ctx, o);
    auto ga = a.lock(t);
  }
  auto ga = a_other.lock(ctx);
  callback cb;
  auto t = ordo::lock_all(cb, o_other);
  expect_failure(report_kind::circular_dependency);
}

// WWL1(o); WWU(o); WWU(o).
TEST_F(LockingSelftest, ww_test_object_unlock_twice) {
  struct tag {};
  ww_mutex<tag> o;
  root ctx;
  auto g = o.lock(ctx);
  unlock_twice(g);
  expect_failure(report_kind::unlock_not_held);
}

// WWL(&o, &t) with o's context replaced by another: ordo's stale context,
// a context whose lock was passed on, used again.
template <class Tag>
struct stale_parent : ordo::level<> {};
template <class Tag>
struct stale_child : ordo::level<stale_parent<Tag>> {};

TEST_F(LockingSelftest, ww_test_object_lock_stale_context) {
  struct tag {};
  ordo::ordered_mutex<stale_parent<tag>, absl::Mutex, ordo::validator_on> parent;
  ordo::ordered_mutex<stale_child<tag>, absl::Mutex, ordo::validator_on> child;
  root ctx;
  auto gp = parent.lock(ctx);
  auto gc = child.lock(ctx);  // ctx was passed on to gp
  expect_failure(report_kind::stale_context);
}

// ---------------------------------------------------------------------------
// Nested subclasses (mutex_lock_nested): two locks of one class nested on
// purpose. ordo's form is a nestable level whose instances carry keys.

template <class Tag>
struct nest_table : ordo::level<> {};
template <class Tag>
struct nest_bucket : ordo::nestable_level<nest_table<Tag>> {};
template <class Tag>
using bucket = ordo::ordered_mutex<nest_bucket<Tag>, absl::Mutex, ordo::validator_on>;

// Parent (subclass 0) then child (SINGLE_DEPTH_NESTING): ascending keys.
TEST_F(LockingSelftest, nested_subclass_ascending) {
  struct tag {};
  bucket<tag> parent(ordo::nest_key{0}), child(ordo::nest_key{1});
  root ctx;
  auto gp = parent.lock(ctx);
  auto gc = child.lock(gp);
  expect_success();
}

// Child then parent: the nesting annotation contradicted.
TEST_F(LockingSelftest, nested_subclass_descending) {
  struct tag {};
  bucket<tag> parent(ordo::nest_key{0}), child(ordo::nest_key{1});
  root ctx;
  auto gc = child.lock(ctx);
  auto gp = parent.lock(gc);
  expect_failure(report_kind::nest_order);
}

// One path takes two instances with lock_all, another one by one: there
// is one order for the level (ascending key), whatever way it is taken,
// so the two paths agree. The instances are placed so that address order
// is the opposite of key order.
template <class Tag>
using logged_bucket = ordo::ordered_mutex<nest_bucket<Tag>, logged_lock, ordo::validator_on>;

TEST_F(LockingSelftest, nested_lock_all_then_one_by_one) {
  struct tag {};
  logged_bucket<tag> pair[2] = {logged_bucket<tag>(ordo::nest_key{2}),
                                logged_bucket<tag>(ordo::nest_key{1})};
  logged_bucket<tag>& high = pair[0];
  logged_bucket<tag>& low = pair[1];
  ASSERT_LT(static_cast<void*>(&high), static_cast<void*>(&low));
  root ctx;
  logged_lock::log().clear();
  {
    auto all = ordo::lock_all(ctx, high, low);
    EXPECT_EQ(all.size(), 2u);
  }
  // The batch took key 1 first, as a one-by-one path must (the Lockable is
  // the ordered mutex's first member: same address).
  ASSERT_EQ(logged_lock::log().size(), 2u);
  EXPECT_EQ(logged_lock::log()[0], static_cast<const void*>(&low));
  EXPECT_EQ(logged_lock::log()[1], static_cast<const void*>(&high));
  {
    auto gl = low.lock(ctx);
    auto gh = high.lock(gl);
  }
  expect_success();
  // The real ABBA between the two ways is the one-by-one path against key
  // order: reported (on other instances of the two keys: TSan would see
  // the same instances' inversion too).
  logged_bucket<tag> other_high(ordo::nest_key{2}), other_low(ordo::nest_key{1});
  {
    auto gh = other_high.lock(ctx);
    auto gl = other_low.lock(gh);
  }
  expect_failure(report_kind::nest_order);
}

// A held instance, then a batch of the level below its key.
TEST_F(LockingSelftest, nested_lock_all_below_a_held_key) {
  struct tag {};
  bucket<tag> k1(ordo::nest_key{1}), k2(ordo::nest_key{2}), k3(ordo::nest_key{3});
  root ctx;
  auto g2 = k2.lock(ctx);
  auto all = ordo::lock_all(g2, k3, k1);
  expect_failure(report_kind::nest_order);
}

// ---------------------------------------------------------------------------
// ordo's own rows for the gaps the kernel's table covers implicitly.

template <class Tag>
struct self_level : ordo::level<> {};

// AA of one lock reached through a stale context: a self-deadlock, titled
// and reported as such (once), not as a stale context. Clang's analysis
// rejects the second lock at compile time already; this is the path it
// cannot see.
void lock_through_stale_context() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  struct tag {};
  ordo::ordered_mutex<self_level<tag>, absl::Mutex, ordo::validator_on> m;
  root ctx;
  auto g = m.lock(ctx);
  try {
    auto again = m.lock(ctx);
  } catch (...) {
    EXPECT_EQ(ordo::lockdep::held_count(), 1u);
    throw;
  }
}

TEST_F(LockingSelftest, AA_through_stale_context) {
  abandon_on_report();
  EXPECT_THROW(lock_through_stale_context(), abandoned);
  expect_failure(report_kind::recursive_lock);
  EXPECT_NE(taken()[0].text.find("self-deadlock"), std::string::npos);
}

}  // namespace
