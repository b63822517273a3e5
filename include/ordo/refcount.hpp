// ordo/refcount.hpp — saturating reference counters with the semantics of
// Linux refcount_t (ordo::refcount) and rcuref_t (ordo::rcuref), and the
// report hook for their misuse.
//
// What it is
//   A counter of references to an object whose last put frees it. It removes
//   the two ways a bare std::atomic<int> turns a bug into a use-after-free:
//   wrap-around (2^32 increments bring the count back to 0 and a live object
//   is freed) and the increment of a count that already reached 0 (the new
//   reference points at an object being freed). On overflow the counter
//   SATURATES: it parks at a value far from both the live range and zero,
//   where racing increments and decrements cannot move it out again; the
//   object then leaks, a bounded bug, instead of being freed while
//   referenced. Increment from zero, underflow, a plain dec() reaching zero
//   and overflow are REPORTED to a settable handler.
//
//   ordo::refcount — refcount_t. inc_not_zero is a compare-and-swap loop
//   that never writes a dead counter, so the put that takes the last
//   reference is the only decision and the object may be freed at once. The
//   count is stored minus one, so that the last put and every error land on
//   the sign bit: a put is one `lock sub` and a sign test.
//
//       0x00000000..0x7FFFFFFF  live: count = stored + 1 (1 .. 2^31)
//       0xFFFFFFFF              dead (the final put happened)
//       0xC0000000..0xFFFFFFFE  dead, after puts it did not have (underflow)
//       0x80000000..0xBFFFFFFF  saturated; parked at 0xA0000000, 2^29 away
//                               from both the live and the dead range
//
//   ordo::rcuref — rcuref_t (lib/rcuref.c). inc_not_zero is ONE
//   unconditional fetch_add: under contention it beats the CAS loop, whose
//   compare-and-swaps fail and retry (bench/ref_bench.cpp:
//   BM_Rcuref_IncNotZeroDec vs BM_CasLoop_IncNotZeroDec). The count is
//   stored biased by one so that "count reached zero" (NOREF) and "dead"
//   (DEAD) are distinct, and the kill is a separate compare-and-swap:
//
//       0x00000000..0x7FFFFFFF  live: count = stored + 1
//       0x80000000..0xBFFFFFFF  saturated; parked at 0xA0000000
//       0xC0000000..0xFFFFFFFE  dead; parked at 0xE0000000
//       0xFFFFFFFF              NOREF: count 0, the last put is deciding
//
//   The price is the rcuref contract: between NOREF and DEAD a getter may
//   revive the object, and then the put that made it NOREF still touches
//   the counter (its compare-and-swap) after the reviver may have made the
//   final put. So the object's MEMORY must stay valid across every get and
//   every put, not only across gets: free it after an RCU grace period, or
//   keep it type-stable (a pool that is never returned to the allocator).
//   TSan found exactly that race in tests/stress/ref_stress_test.cpp when
//   kref<T> first counted with rcuref and deleted at once; that is why
//   ordo::kref/ordo::ref (immediate delete) count with ordo::refcount.
//
// When not to use it
//   For objects with one owner (std::unique_ptr) or counts that are not
//   lifetimes (statistics: std::atomic). To hold references, use kref<T> and
//   ref<T> (ref.hpp), which pair every get with exactly one put. Use rcuref
//   only when memory is reclaimed after a grace period. Any get on an object
//   whose memory may already be freed is a use-after-free whatever the
//   counter: the memory must be kept valid by the structure it was found in
//   (a lock the release function also takes, or RCU), as in the kernel.
//
// Thread-safety contract
//   Every member is thread-safe, except set() and the constructors, which
//   run while no other thread can reach the counter (initialisation).
//
// Memory ordering (happens-before)
//   O1  Increments (inc, add, inc_not_zero, add_not_zero) are relaxed: a
//       thread increments only while it holds a reference or while something
//       else keeps the object reachable (a lock, RCU), and that something
//       already orders the object's contents; the count publishes nothing.
//   O2  Decrements (dec, dec_and_test, sub_and_test, dec_if_one) are release:
//       everything a holder did to the object before its put happens-before
//       the release function that runs after the final put.
//   O3  The step that decides "this was the last reference" is acquire: in
//       refcount an acquire load of the value the final decrement wrote (it
//       is in the release sequence of every earlier put, so it
//       synchronizes-with all of them, O2); in rcuref the NOREF → DEAD
//       compare-and-swap; in dec_if_one the compare-and-swap itself.
//       (refcount's decrement is written `-=`, seq_cst, a superset of
//       release: see subtract().)
//
// Invariants
//   I1  Exactly one call of dec_and_test/sub_and_test/dec_if_one returns true
//       per object lifetime, after every put that came before it.
//   I2  Once dead, the counter never returns to the live range: no getter
//       succeeds, whatever the interleaving (refcount: getters never write a
//       dead counter; rcuref: late getters move it inside the dead zone and
//       back).
//   I3  rcuref only: a get between NOREF and DEAD revives the object; the
//       deciding compare-and-swap then fails and that put returns false.
//   I4  A saturated counter stays saturated and is reported once, on entry:
//       the object is never freed.
//
// Misuse
//   compile error  none (plain types).
//   runtime report increment from zero or of a dead counter (add_on_zero),
//                  a put below zero (underflow), a plain dec() that reaches
//                  zero (dec_to_zero), more than max_count references
//                  (overflow). After the report the counter is parked:
//                  saturated or dead, so that no later put frees the object
//                  (it leaks instead). The default handler
//                  (refcount_report_abort) prints the report to stderr and
//                  aborts, in every build: the same default whatever NDEBUG
//                  or ORDO_LOCKDEP say, so translation units cannot disagree
//                  on it. To saturate silently, as the kernel does after its
//                  WARN, install refcount_report_ignore (or a logging
//                  handler) with set_refcount_report_handler.
//   undefined      any access after the release function freed the memory;
//                  set() while other threads use the counter; an rcuref
//                  whose memory is freed without a grace period.
//
// Example
//   struct session { ordo::refcount refs{1}; ... };
//   if (s->refs.inc_not_zero()) { use(s); if (s->refs.dec_and_test()) delete s; }
#ifndef ORDO_REFCOUNT_HPP
#define ORDO_REFCOUNT_HPP

#include "ordo/detail/report.hpp"

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <source_location>
#include <string_view>


#ifdef ORDO_REFCOUNT_REPORT_ABORT
#error "ordo: ORDO_REFCOUNT_REPORT_ABORT is gone: the default refcount handler always prints and aborts; install ordo::refcount_report_ignore (or your own handler) with ordo::set_refcount_report_handler to saturate silently"
#endif

namespace ordo {

/// What went wrong with a counter.
enum class refcount_error : unsigned char {
  add_on_zero,  ///< increment of a counter at zero or dead: use-after-free
  underflow,    ///< a put with no reference left: use-after-free
  dec_to_zero,  ///< a plain dec() took the last reference: leak
  overflow,     ///< more than 2^31 references: saturated, leak
};

/// A report: what, which counter (its address) and where it was called.
struct refcount_report {
  refcount_error error;
  const void* counter;
  std::source_location where;
};

/// The report's one-line text (stable: death tests match it).
[[nodiscard]] constexpr std::string_view to_string(refcount_error error) noexcept {
  switch (error) {
    case refcount_error::add_on_zero:
      return "ordo::refcount: increment from zero; use-after-free";
    case refcount_error::underflow:
      return "ordo::refcount: underflow; use-after-free";
    case refcount_error::dec_to_zero:
      return "ordo::refcount: dec() hit zero; leaking memory";
    case refcount_error::overflow:
      return "ordo::refcount: overflow, saturated; leaking memory";
  }
  return "ordo::refcount: unknown error";
}

/// Handler type. Called with the counter already parked (saturated or DEAD),
/// so returning is safe; it must not throw (it is called from noexcept code).
using refcount_report_handler = void (*)(const refcount_report& report);

/// Prints the report to stderr and aborts.
[[noreturn]] inline void refcount_report_abort(const refcount_report& report) {
  std::fprintf(stderr, "%.*s (counter %p) at %s:%u in %s\n",
               static_cast<int>(to_string(report.error).size()),
               to_string(report.error).data(), report.counter,
               report.where.file_name(), static_cast<unsigned>(report.where.line()),
               report.where.function_name());
  std::fflush(stderr);
  std::abort();
}

/// Ignores the report: the counter stays parked (release behaviour).
inline void refcount_report_ignore(const refcount_report&) {}

namespace detail {
// The default is refcount_report_abort in every build (detail/report.hpp's
// policy: no refcount report is a notice).
inline constinit report_registry<refcount_report, &refcount_report_abort> refcount_reports;

[[gnu::cold]] [[gnu::noinline]] inline void refcount_report_now(
    refcount_error error, const void* counter, std::source_location where) {
  // acquire (in report()): pairs with the release in
  // set_refcount_report_handler, so a handler sees whatever its installer
  // prepared before installing it.
  refcount_reports.report(refcount_report{error, counter, where});
}
}  // namespace detail

/// Installs the handler every later report goes to; returns the previous one.
/// nullptr restores the default (refcount_report_abort). Thread-safe.
/// Ordering: release (see refcount_report_now's acquire).
inline refcount_report_handler set_refcount_report_handler(
    refcount_report_handler handler) noexcept {
  // acq_rel (in install()): release publishes the handler's setup (partner:
  // the acquire in refcount_report_now); acquire makes the returned old
  // handler usable.
  return detail::refcount_reports.install(handler);
}

/// A saturating reference count with Linux refcount_t semantics
/// (compare-and-swap inc_not_zero, so the final put may free at once). See
/// the header comment for the values, orderings O1–O3 and invariants I1–I4.
class refcount {
 public:
  /// The value read() returns for a saturated counter.
  static constexpr std::uint32_t saturated = 0xC0000000u;
  /// The largest count before saturation.
  static constexpr std::uint32_t max_count = 0x80000000u;
  /// The largest n add()/add_not_zero()/sub_and_test() accept; a larger n is
  /// reported (overflow / underflow) and parks the counter.
  static constexpr unsigned max_step = 1u << 24;

  /// A counter holding `initial` references (0: dead; more than max_count:
  /// saturated). Not thread-safe (initialisation).
  constexpr explicit refcount(std::uint32_t initial) noexcept : stored_(encode(initial)) {}

  refcount(const refcount&) = delete;
  refcount& operator=(const refcount&) = delete;

  /// Re-initialises the counter (refcount_set). Not thread-safe: only while
  /// no other thread can reach it. Ordering: relaxed (publishing the object
  /// orders it).
  void set(std::uint32_t count) noexcept {
    // relaxed: initialisation; the object's publication orders it (O1).
    stored_.store(encode(count), std::memory_order_relaxed);
  }

  /// The current count (refcount_read): 0 when dead, `saturated` when
  /// saturated. Thread-safe. Ordering: relaxed; a snapshot for diagnostics
  /// and tests, never a basis for freeing.
  [[nodiscard]] std::uint32_t read() const noexcept {
    // relaxed: a racy snapshot by design; orders nothing.
    const std::int32_t s = stored_.load(std::memory_order_relaxed);
    if (s >= 0) return static_cast<std::uint32_t>(s) + 1u;
    return s < released_floor ? saturated : 0u;
  }

  /// True when saturated (the object will never be freed). Thread-safe.
  [[nodiscard]] bool is_saturated() const noexcept {
    // relaxed: a snapshot, as read().
    return stored_.load(std::memory_order_relaxed) < released_floor;
  }

  /// Takes a reference while the caller already holds one (refcount_inc).
  /// Reports add_on_zero on a dead counter, overflow on entering
  /// saturation. Thread-safe. Ordering: relaxed (O1).
  void inc(std::source_location where = std::source_location::current()) noexcept {
    // relaxed: the caller's own reference keeps the object alive (O1).
    const std::int32_t old = stored_.fetch_add(1, std::memory_order_relaxed);
    if (old < 0 || old == INT32_MAX) [[unlikely]] add_slow(old, where);
  }

  /// Takes n references at once (refcount_add); n == 0 does nothing.
  /// Thread-safe. Ordering: relaxed (O1).
  void add(unsigned n, std::source_location where = std::source_location::current()) noexcept {
    if (n == 0) return;
    if (n > max_step) [[unlikely]] {
      saturate_report(refcount_error::overflow, where);
      return;
    }
    const auto step = static_cast<std::int32_t>(n);
    // relaxed: as inc() (O1).
    const std::int32_t old = stored_.fetch_add(step, std::memory_order_relaxed);
    if (old < 0 || old > INT32_MAX - step) [[unlikely]] add_slow(old, where);
  }

  /// Takes a reference unless the count is 0 (refcount_inc_not_zero,
  /// kvm_get_kvm_safe). Never writes a dead counter, so the final put is the
  /// only decision and may free at once (I2). Thread-safe. Ordering:
  /// relaxed (O1): the object's memory and contents must be kept valid and
  /// ordered by the structure the caller found it through.
  [[nodiscard]] bool inc_not_zero(
      std::source_location where = std::source_location::current()) noexcept {
    return add_not_zero_impl(1, where);
  }

  /// add() unless the count is 0 (refcount_add_not_zero); n == 0 returns
  /// whether the counter is alive. Thread-safe. Ordering: relaxed (O1).
  [[nodiscard]] bool add_not_zero(
      unsigned n, std::source_location where = std::source_location::current()) noexcept {
    if (n == 0) return read() != 0;
    if (n > max_step) [[unlikely]] {
      saturate_report(refcount_error::overflow, where);
      return true;
    }
    return add_not_zero_impl(static_cast<std::int32_t>(n), where);
  }

  /// Drops a reference known not to be the last (refcount_dec). Reports
  /// dec_to_zero (and saturates: the object leaks) if it was the last,
  /// underflow if there was none. Thread-safe. Ordering: release (O2).
  void dec(std::source_location where = std::source_location::current()) noexcept {
    if (subtract(1) < 0) [[unlikely]] dec_slow(where);
  }

  /// Drops a reference; true when it was the last and the caller must
  /// release the object (refcount_dec_and_test). Thread-safe. Ordering:
  /// release on the decrement (O2), acquire when it returns true (O3).
  [[nodiscard]] bool dec_and_test(
      std::source_location where = std::source_location::current()) noexcept {
    if (subtract(1) >= 0) [[likely]] return false;
    return put_slow(where);
  }

  /// Drops n references; true when they were the last (refcount_sub_and_test).
  /// n == 0 returns false. Thread-safe. Ordering: as dec_and_test.
  [[nodiscard]] bool sub_and_test(
      unsigned n, std::source_location where = std::source_location::current()) noexcept {
    if (n == 0) return false;
    if (n > max_step) [[unlikely]] {
      saturate_report(refcount_error::underflow, where);
      return false;
    }
    if (subtract(static_cast<std::int32_t>(n)) >= 0) [[likely]] return false;
    return put_slow(where);
  }

  /// Kills the counter if it holds exactly one reference
  /// (refcount_dec_if_one); true when it did, and the caller must release
  /// the object. Otherwise changes nothing. Thread-safe. Ordering: acq_rel
  /// on success (O2, O3), relaxed on failure (nothing changed).
  [[nodiscard]] bool dec_if_one() noexcept {
    std::int32_t expected = 0;  // stored 0: one reference
    // acq_rel: release publishes this holder's work (O2), acquire pairs with
    // earlier puts' release (O3). relaxed on failure: nothing was written.
    return stored_.compare_exchange_strong(expected, dead, std::memory_order_acq_rel,
                                           std::memory_order_relaxed);
  }

  /// Drops a reference unless it is the last (refcount_dec_not_one): false,
  /// changing nothing, when the count is exactly one (the caller then takes
  /// its lock and puts with dec_and_test, as refcount_dec_and_mutex_lock
  /// does). A saturated counter stays parked (true); a dead one is reported
  /// as underflow (true: there is nothing to release). Thread-safe.
  /// Ordering: release on the decrement (O2), relaxed otherwise.
  [[nodiscard]] bool dec_not_one(std::source_location where = std::source_location::current()) noexcept {
    // relaxed: the loop only needs a current value; the exchange orders.
    std::int32_t old = stored_.load(std::memory_order_relaxed);
    do {
      if (old == 0) return false;  // one reference: the caller's is the last
      if (old < 0) {
        if (old >= released_floor) detail::refcount_report_now(refcount_error::underflow, this, where);
        return true;  // dead (reported) or saturated (I4): never released here
      }
      // release: this put's work happens-before the release function (O2),
      // through the final put's acquire (O3). relaxed on failure: retry.
    } while (!stored_.compare_exchange_weak(old, old - 1, std::memory_order_release,
                                            std::memory_order_relaxed));
    return true;
  }

 private:
  // Stored value: count - 1, so that "the last reference went" and every
  // error land on the sign bit: one `lock sub` and a sign test per put.
  //   0 .. 0x7FFFFFFF           live, count = stored + 1
  //   0xFFFFFFFF (-1)           dead
  //   0xC0000000 .. 0xFFFFFFFE  dead, and puts below it (underflow)
  //   0x80000000 .. 0xBFFFFFFF  saturated; parked at 0xA0000000
  static constexpr std::int32_t dead = -1;
  static constexpr std::int32_t saturated_stored = static_cast<std::int32_t>(0xA0000000u);
  static constexpr std::int32_t released_floor = static_cast<std::int32_t>(0xC0000000u);

  static constexpr std::int32_t encode(std::uint32_t count) noexcept {
    if (count == 0) return dead;
    if (count > max_count) return saturated_stored;
    return static_cast<std::int32_t>(count - 1u);
  }

  // The decrement of every put: returns the new stored value. Written as a
  // compound assignment because GCC turns `(a -= n) < 0` into `lock sub`
  // plus a sign test, where fetch_sub needs `lock xadd` and a compare
  // (measurably slower); `-=` is seq_cst, a superset of the release O2 needs.
  std::int32_t subtract(std::int32_t step) noexcept { return stored_ -= step; }

  bool add_not_zero_impl(std::int32_t step, std::source_location where) noexcept {
    // relaxed: see O1; the loop only needs the value to be current.
    std::int32_t old = stored_.load(std::memory_order_relaxed);
    do {
      // One compare for the rare cases: old < 0 (dead or saturated) and
      // old + step past the live range (overflow).
      if (static_cast<std::uint32_t>(old) > static_cast<std::uint32_t>(INT32_MAX - step))
          [[unlikely]] {
        return add_not_zero_slow(old, where);
      }
      // relaxed on both: O1; a failed exchange reloads `old` and retries.
    } while (!stored_.compare_exchange_weak(old, old + step, std::memory_order_relaxed,
                                            std::memory_order_relaxed));
    return true;
  }

  [[gnu::cold]] [[gnu::noinline]] bool add_not_zero_slow(std::int32_t old,
                                                         std::source_location where) noexcept {
    if (old >= released_floor && old < 0) return false;  // dead: never written (I2)
    if (old < 0) return true;                              // saturated (I4)
    saturate_report(refcount_error::overflow, where);
    return true;
  }

  [[gnu::cold]] void saturate_report(refcount_error error, std::source_location where) noexcept {
    // relaxed: parking the value; the report publishes nothing.
    stored_.store(saturated_stored, std::memory_order_relaxed);
    detail::refcount_report_now(error, this, where);
  }

  [[gnu::cold]] [[gnu::noinline]] void add_slow(std::int32_t old, std::source_location where) noexcept {
    if (old >= 0) {
      saturate_report(refcount_error::overflow, where);  // left the live range
    } else if (old < released_floor) {
      // relaxed: already saturated (I4); keep it parked, reported before.
      stored_.store(saturated_stored, std::memory_order_relaxed);
    } else {
      // Increment of a dead counter: saturate as the kernel does, a leak is
      // bounded, a second free is not.
      saturate_report(refcount_error::add_on_zero, where);
    }
  }

  // A put whose decrement made the stored value negative: the last
  // reference, an underflow, or traffic on a saturated counter.
  [[gnu::cold]] [[gnu::noinline]] bool put_slow(std::source_location where) noexcept {
    // acquire: reads the value our decrement wrote (no correct put or get
    // writes a dead counter), which ends the release sequence of every
    // earlier put, so all of them happen-before the release function (O3).
    // A load, not a fence: GCC's TSan cannot see fences.
    const std::int32_t now = stored_.load(std::memory_order_acquire);
    if (now == dead) return true;
    settle_negative(now, where);
    return false;
  }

  [[gnu::cold]] [[gnu::noinline]] void dec_slow(std::source_location where) noexcept {
    // relaxed: only classifies the value our decrement wrote.
    const std::int32_t now = stored_.load(std::memory_order_relaxed);
    if (now == dead) {
      saturate_report(refcount_error::dec_to_zero, where);
    } else {
      settle_negative(now, where);
    }
  }

  void settle_negative(std::int32_t now, std::source_location where) noexcept {
    if (now < released_floor) {
      // relaxed: saturated (I4); keep it parked.
      stored_.store(saturated_stored, std::memory_order_relaxed);
      return;
    }
    // Below dead: a put with no reference left. Put "dead" back if nobody
    // moved it since (I2); relaxed: restoring publishes nothing.
    stored_.compare_exchange_strong(now, dead, std::memory_order_relaxed,
                                    std::memory_order_relaxed);
    detail::refcount_report_now(refcount_error::underflow, this, where);
  }

  std::atomic<std::int32_t> stored_;
};

/// A saturating reference count with rcuref_t's representation: one
/// unconditional fetch_add per get. Same interface and reports as refcount;
/// the object's memory must stay valid across every get AND put (RCU grace
/// period or type-stable memory), see the header comment.
class rcuref {
 public:
  /// The value read() returns for a saturated counter.
  static constexpr std::uint32_t saturated = 0xC0000000u;
  /// The largest count before saturation.
  static constexpr std::uint32_t max_count = 0x80000000u;
  /// The largest n add()/add_not_zero()/sub_and_test() accept; larger n is
  /// reported (overflow / underflow) and parks the counter.
  static constexpr unsigned max_step = 1u << 24;

  /// A counter holding `initial` references (0: already dead).
  /// Not thread-safe (initialisation).
  constexpr explicit rcuref(std::uint32_t initial) noexcept : stored_(encode(initial)) {}

  rcuref(const rcuref&) = delete;
  rcuref& operator=(const rcuref&) = delete;

  /// Re-initialises the counter (refcount_set). 0 makes it dead; more than
  /// max_count saturates. Not thread-safe: only while no other thread can
  /// reach the counter. Ordering: relaxed (the caller publishes the object).
  void set(std::uint32_t count) noexcept {
    // relaxed: initialisation; publication of the object orders it (O1).
    stored_.store(encode(count), std::memory_order_relaxed);
  }

  /// The current count (refcount_read): 0 when dead or at zero, `saturated`
  /// when saturated. Thread-safe. Ordering: relaxed; a snapshot for
  /// diagnostics and tests, never a basis for freeing.
  [[nodiscard]] std::uint32_t read() const noexcept {
    // relaxed: a racy snapshot by design; orders nothing.
    const std::int32_t s = stored_.load(std::memory_order_relaxed);
    if (s >= 0) return static_cast<std::uint32_t>(s) + 1u;
    if (s < released_floor) return saturated;
    return 0;
  }

  /// True when saturated (the object will never be freed). Thread-safe.
  [[nodiscard]] bool is_saturated() const noexcept {
    // relaxed: snapshot, as read().
    return stored_.load(std::memory_order_relaxed) < released_floor;
  }

  /// Takes a reference the caller already holds one of (refcount_inc).
  /// Reports add_on_zero if the count was 0 or dead, overflow on the
  /// transition into saturation. Thread-safe. Ordering: relaxed (O1).
  void inc(std::source_location where = std::source_location::current()) noexcept {
    // relaxed: the caller holds a reference, which keeps the object alive;
    // the count orders nothing (O1).
    const std::int32_t old = stored_.fetch_add(1, std::memory_order_relaxed);
    if (old < 0 || old == INT32_MAX) [[unlikely]] add_slow(old, 1, where);
  }

  /// Takes n references at once (refcount_add); n == 0 does nothing.
  /// Thread-safe. Ordering: relaxed (O1).
  void add(unsigned n, std::source_location where = std::source_location::current()) noexcept {
    if (n == 0) return;
    if (n > max_step) [[unlikely]] {
      saturate_report(refcount_error::overflow, where);
      return;
    }
    const auto step = static_cast<std::int32_t>(n);
    // relaxed: as inc() (O1).
    const std::int32_t old = stored_.fetch_add(step, std::memory_order_relaxed);
    if (old < 0 || old > INT32_MAX - step) [[unlikely]] add_slow(old, step, where);
  }

  /// Takes a reference unless the object is dead (refcount_inc_not_zero,
  /// kvm_get_kvm_safe). One unconditional fetch_add; the dead zone is
  /// handled off the fast path. Returns false, changing nothing a caller can
  /// observe, when the count was dead. Thread-safe. Ordering: relaxed (O1):
  /// the object's memory and contents must be kept valid and ordered by the
  /// structure the caller found it through.
  [[nodiscard]] bool inc_not_zero(
      std::source_location where = std::source_location::current()) noexcept {
    // relaxed: see O1; the kill (O3) is a separate step that this add cannot
    // undo once it happened (I2).
    const std::int32_t old = stored_.fetch_add(1, std::memory_order_relaxed);
    if (old >= -1 && old != INT32_MAX) [[likely]] return true;  // live or NOREF (I3)
    return get_slow(old, 1, where);
  }

  /// add() that fails on a dead counter (refcount_add_not_zero); n == 0
  /// returns whether the counter is alive. Thread-safe. Ordering: relaxed (O1).
  [[nodiscard]] bool add_not_zero(
      unsigned n, std::source_location where = std::source_location::current()) noexcept {
    if (n == 0) return read() != 0;
    if (n > max_step) [[unlikely]] {
      saturate_report(refcount_error::overflow, where);
      return true;
    }
    const auto step = static_cast<std::int32_t>(n);
    // relaxed: as inc_not_zero() (O1).
    const std::int32_t old = stored_.fetch_add(step, std::memory_order_relaxed);
    if (old >= -1 && old <= INT32_MAX - step) [[likely]] return true;
    return get_slow(old, step, where);
  }

  /// Drops a reference that is known not to be the last (refcount_dec).
  /// Reports dec_to_zero (and saturates: the object leaks) if it was the
  /// last, underflow if there was none. Thread-safe. Ordering: release (O2).
  void dec(std::source_location where = std::source_location::current()) noexcept {
    // release: partner is the acquire of the final put (O2, O3).
    const std::int32_t old = stored_.fetch_sub(1, std::memory_order_release);
    if (old <= 0) [[unlikely]] dec_slow(old, where);
  }

  /// Drops a reference; true when it was the last one and the caller must
  /// release the object (rcuref_put). A put that takes the count to zero
  /// still writes the counter once more (the NOREF → DEAD compare-and-swap),
  /// possibly after a reviver's own final put (I3): the memory must outlive
  /// every put, which is rcuref's contract. Thread-safe. Ordering: release
  /// on the decrement (O2), acquire when it returns true (O3).
  [[nodiscard]] bool dec_and_test(
      std::source_location where = std::source_location::current()) noexcept {
    // release: partner is the acquire CAS of whichever put is final (O3).
    const std::int32_t old = stored_.fetch_sub(1, std::memory_order_release);
    if (old > 0) [[likely]] return false;
    return put_slow(old, 1, where);
  }

  /// Drops n references; true when they were the last (refcount_sub_and_test).
  /// n == 0 returns false. Thread-safe. Ordering: as dec_and_test.
  [[nodiscard]] bool sub_and_test(
      unsigned n, std::source_location where = std::source_location::current()) noexcept {
    if (n == 0) return false;
    if (n > max_step) [[unlikely]] {
      saturate_report(refcount_error::underflow, where);
      return false;
    }
    const auto step = static_cast<std::int32_t>(n);
    // release: as dec_and_test (O2).
    const std::int32_t old = stored_.fetch_sub(step, std::memory_order_release);
    if (old >= step) [[likely]] return false;
    return put_slow(old, step, where);
  }

  /// Kills the counter if it holds exactly one reference
  /// (refcount_dec_if_one); true when it did, and the caller must release
  /// the object. Otherwise changes nothing. Thread-safe. Ordering: acq_rel
  /// on success (O2, O3), relaxed on failure (nothing changed).
  [[nodiscard]] bool dec_if_one() noexcept {
    std::int32_t expected = 0;  // stored 0 == one reference
    // acq_rel: release publishes this holder's work (O2), acquire pairs with
    // earlier puts' release (O3). relaxed on failure: nothing was written.
    return stored_.compare_exchange_strong(expected, dead, std::memory_order_acq_rel,
                                           std::memory_order_relaxed);
  }

 private:
  static constexpr std::int32_t noref = -1;
  static constexpr std::int32_t dead = static_cast<std::int32_t>(0xE0000000u);
  static constexpr std::int32_t saturated_stored = static_cast<std::int32_t>(0xA0000000u);
  static constexpr std::int32_t released_floor = static_cast<std::int32_t>(0xC0000000u);

  static constexpr std::int32_t encode(std::uint32_t count) noexcept {
    if (count == 0) return dead;
    if (count > max_count) return saturated_stored;
    return static_cast<std::int32_t>(count - 1u);
  }
  static constexpr bool in_saturation_zone(std::int32_t s) noexcept { return s < released_floor; }
  static constexpr bool in_dead_zone(std::int32_t s) noexcept {
    return s >= released_floor && s <= -2;
  }

  // The value `old + delta` computed without signed overflow (the atomic
  // wrapped the same way: C++20 atomic arithmetic is two's complement).
  static constexpr std::int32_t wrapped(std::int32_t old, std::int32_t delta) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(old) +
                                     static_cast<std::uint32_t>(delta));
  }

  [[gnu::cold]] void saturate_report(refcount_error error, std::source_location where) noexcept {
    // relaxed: parking the value; the report itself publishes nothing.
    stored_.store(saturated_stored, std::memory_order_relaxed);
    detail::refcount_report_now(error, this, where);
  }

  // Moves the counter back to DEAD if nobody moved it since `seen` (I2);
  // if somebody did, that somebody will.
  void park_dead(std::int32_t seen) noexcept {
    // relaxed: DEAD publishes nothing; whoever freed the object already
    // synchronized through O3.
    stored_.compare_exchange_strong(seen, dead, std::memory_order_relaxed,
                                    std::memory_order_relaxed);
  }

  [[gnu::cold]] [[gnu::noinline]] void add_slow(std::int32_t old, std::int32_t step,
                                                std::source_location where) noexcept {
    if (old >= 0) {
      saturate_report(refcount_error::overflow, where);  // left the live range
    } else if (in_saturation_zone(old)) {
      // relaxed: keep it parked (I4); reported when it first saturated.
      stored_.store(saturated_stored, std::memory_order_relaxed);
    } else {
      // NOREF or dead: increment from zero. Saturate as the kernel does: a
      // leak is bounded, a second free is not.
      (void)step;
      saturate_report(refcount_error::add_on_zero, where);
    }
  }

  [[gnu::cold]] [[gnu::noinline]] bool get_slow(std::int32_t old, std::int32_t step,
                                                std::source_location where) noexcept {
    if (in_dead_zone(old)) {
      park_dead(wrapped(old, step));  // I2: a dead object stays dead
      return false;
    }
    if (old >= 0) {
      saturate_report(refcount_error::overflow, where);
    } else {
      // relaxed: already saturated (I4); keep it parked.
      stored_.store(saturated_stored, std::memory_order_relaxed);
    }
    return true;  // a saturated object is never freed, so the reference is good
  }

  [[gnu::cold]] [[gnu::noinline]] void dec_slow(std::int32_t old,
                                                std::source_location where) noexcept {
    if (old == 0) {
      saturate_report(refcount_error::dec_to_zero, where);
    } else if (in_saturation_zone(old)) {
      // relaxed: keep it parked (I4).
      stored_.store(saturated_stored, std::memory_order_relaxed);
    } else {
      park_dead(wrapped(old, -1));
      detail::refcount_report_now(refcount_error::underflow, this, where);
    }
  }

  [[gnu::cold]] [[gnu::noinline]] bool put_slow(std::int32_t old, std::int32_t step,
                                                std::source_location where) noexcept {
    if (old == step - 1) {
      // This put took the count to zero (NOREF). Kill it unless a getter
      // revived it meanwhile (I3).
      std::int32_t expected = noref;
      // acquire on success: reads the end of the release sequence of every
      // earlier put (O3), so their work happens-before the release function.
      // relaxed on failure: revived, nothing to free, nothing read.
      return stored_.compare_exchange_strong(expected, dead, std::memory_order_acquire,
                                             std::memory_order_relaxed);
    }
    if (old >= 0) {
      // Went from live to below zero in one step: more puts than gets.
      saturate_report(refcount_error::underflow, where);
    } else if (in_saturation_zone(old)) {
      // relaxed: keep it parked (I4).
      stored_.store(saturated_stored, std::memory_order_relaxed);
    } else {
      // NOREF or dead: a put with no reference left.
      park_dead(wrapped(old, -step));
      detail::refcount_report_now(refcount_error::underflow, this, where);
    }
    return false;
  }

  std::atomic<std::int32_t> stored_;
};

}  // namespace ordo

#endif  // ORDO_REFCOUNT_HPP
