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
//   Both classes keep refcount_t's rules exactly (LKDTM's refcount
//   scenarios end where the kernel's refcount_t ends, see
//   tests/kernel/lkdtm_refcount_test.cpp): the live range is 1 .. INT_MAX
//   (REFCOUNT_MAX); an increment past it saturates and reports; a put below
//   zero saturates and reports (the object leaks, it is never freed twice);
//   read() of a saturated counter is 0xC0000000 (REFCOUNT_SATURATED, INT_MIN/2
//   as an unsigned). Both store the count minus one, so that the last put and
//   every error land on the sign bit, and share the value layout:
//
//       0x00000000..0x7FFFFFFE  live: count = stored + 1 (1 .. INT_MAX)
//       0x7FFFFFFF              transient: an increment just passed INT_MAX;
//                               its slow path parks the counter saturated
//       0x80000000..0xBFFFFFFF  saturated; parked at 0xA0000000, 2^29 away
//                               from both the live and the dead range
//       0xC0000000..0xFFFFFFFF  the dead zone (count 0); each class parks a
//                               dead counter at its own value, below
//
//   Steps up to max_step (2^24) take the one-instruction fast path: 2^29 of
//   margin absorbs 32 racing maximal steps before the slow path re-parks the
//   value. A larger step takes a compare-and-swap loop that computes the
//   same result from the current value, so no step is too large and none
//   wraps.
//
//   ordo::refcount — refcount_t. inc_not_zero is a compare-and-swap loop
//   that never writes a dead counter, so the put that takes the last
//   reference is the only decision and the object may be freed at once. A
//   put is one `lock sub` and a sign test. Dead is 0xFFFFFFFF (the final put
//   took the count from 1 to 0).
//
//   ordo::rcuref — rcuref_t (lib/rcuref.c). inc_not_zero is ONE
//   unconditional fetch_add: under contention it beats the CAS loop, whose
//   compare-and-swaps fail and retry (bench/ref_bench.cpp:
//   BM_Rcuref_IncNotZeroDec vs BM_CasLoop_IncNotZeroDec). In the dead zone,
//   0xFFFFFFFF is NOREF (count 0, the last put is deciding) and a dead
//   counter is parked at 0xE0000000, so that late getters' increments stay
//   inside the zone; the kill is a separate NOREF -> DEAD compare-and-swap.
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
//       compare-and-swap; in dec_if_one, and in a sub_and_test of more than
//       max_step, the (acq_rel) compare-and-swap itself.
//       (refcount's decrement is written `-=`, seq_cst, a superset of
//       release: see subtract().)
//
// Invariants
//   I1  Exactly one call of dec_and_test/sub_and_test/dec_if_one returns true
//       per object lifetime, after every put that came before it.
//   I2  Once dead, the counter never returns to the live range by a get:
//       no getter succeeds, whatever the interleaving (refcount: getters
//       never write a dead counter; rcuref: late getters move it inside the
//       dead zone and back). Only misuse moves it: an increment or a put on
//       a dead counter saturates it, as refcount_t does (reported).
//   I3  rcuref only: a get between NOREF and DEAD revives the object; the
//       deciding compare-and-swap then fails and that put returns false.
//   I4  A saturated counter stays saturated and is reported once, on entry
//       (refcount_t WARNs once too): the object is never freed.
//   I5  Every operation's result, end value and report are those of
//       refcount_t for any step n, fast path or not: the live range ends at
//       max_count (INT_MAX); over- and underflow saturate.
//
// Misuse
//   compile error  none (plain types).
//   runtime report increment from zero or of a dead counter (add_on_zero),
//                  a put below zero (underflow), a plain dec() that reaches
//                  zero (dec_to_zero), more than max_count references
//                  (overflow). After the report the counter is saturated,
//                  so that no later put frees the object (it leaks
//                  instead). The default handler
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

#include <ordo/detail/config.hpp>
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
  overflow,     ///< more than INT_MAX references: saturated, leak
};

/// A report: what, which counter (its address) and where it was called.
struct refcount_report {
  /// What went wrong.
  refcount_error error;
  /// The counter's address (compare, do not dereference).
  const void* counter;
  /// Where the failing call was made.
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

/// Handler type. Called with the counter already parked (saturated),
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

namespace detail {

/// What refcount and rcuref share: the value layout (header comment), the
/// constants, read/set/dec_if_one, the saturation and report steps of every
/// slow path, and the compare-and-swap loops that serve steps larger than
/// max_step exactly (I5). `Dead` is where the class parks a dead counter.
/// The fast paths stay in each class: they are what differs.
template <std::int32_t Dead>
class saturating_count {
 public:
  /// The value read() returns for a saturated counter (REFCOUNT_SATURATED,
  /// INT_MIN / 2, as an unsigned).
  static constexpr std::uint32_t saturated = 0xC0000000u;
  /// The largest count (REFCOUNT_MAX, INT_MAX); one more saturates.
  static constexpr std::uint32_t max_count = 0x7FFFFFFFu;
  /// The largest n that add()/add_not_zero()/sub_and_test() apply with one
  /// atomic instruction; a larger n takes a compare-and-swap loop with the
  /// same result (I5).
  static constexpr unsigned max_step = 1u << 24;

  saturating_count(const saturating_count&) = delete;
  saturating_count& operator=(const saturating_count&) = delete;

  /// Re-initialises the counter (refcount_set): 0 makes it dead, more than
  /// max_count saturated. Not thread-safe: only while no other thread can
  /// reach it. Ordering: relaxed (publishing the object orders it).
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
    switch (zone_of(s)) {
      case zone::live:
        return static_cast<std::uint32_t>(s) + 1u;
      case zone::saturated:
        return saturated;
      case zone::dead:
        break;
    }
    return 0;
  }

  /// True when saturated (the object will never be freed). Thread-safe.
  /// Ordering: relaxed, a snapshot as read().
  [[nodiscard]] bool is_saturated() const noexcept {
    // relaxed: a snapshot, as read().
    return zone_of(stored_.load(std::memory_order_relaxed)) == zone::saturated;
  }

  /// Kills the counter if it holds exactly one reference
  /// (refcount_dec_if_one); true when it did, and the caller must release
  /// the object. Otherwise changes nothing. Thread-safe. Ordering: acq_rel
  /// on success (O2, O3), relaxed on failure (nothing changed).
  [[nodiscard]] bool dec_if_one() noexcept {
    std::int32_t expected = 0;  // stored 0: one reference
    // acq_rel: release publishes this holder's work (O2), acquire pairs with
    // earlier puts' release (O3). relaxed on failure: nothing was written.
    return stored_.compare_exchange_strong(expected, Dead, std::memory_order_acq_rel,
                                           std::memory_order_relaxed);
  }

 protected:
  static constexpr std::int32_t dead = Dead;
  static constexpr std::int32_t saturated_stored = static_cast<std::int32_t>(0xA0000000u);
  static constexpr std::int32_t dead_floor = static_cast<std::int32_t>(0xC0000000u);
  // The stored value of count INT_MAX: the last live value.
  static constexpr std::int32_t last_live = INT32_MAX - 1;

  enum class zone : unsigned char { live, saturated, dead };

  // Which range a stored value is in (header comment). INT32_MAX is only
  // ever the transient value of an increment that passed INT_MAX, on its
  // way to being parked: it counts as saturated.
  static constexpr zone zone_of(std::int32_t s) noexcept {
    if (s >= 0 && s != INT32_MAX) return zone::live;
    if (s < dead_floor || s == INT32_MAX) return zone::saturated;
    return zone::dead;
  }

  static constexpr std::int32_t encode(std::uint32_t count) noexcept {
    if (count == 0) return Dead;
    if (count > max_count) return saturated_stored;
    return static_cast<std::int32_t>(count - 1u);
  }

  constexpr explicit saturating_count(std::uint32_t initial) noexcept
      : stored_(encode(initial)) {}
  ~saturating_count() = default;

  // Parks the counter saturated and reports the transition into it (I4).
  [[gnu::cold]] void saturate_report(refcount_error error, std::source_location where) noexcept {
    // relaxed: parking the value; the report publishes nothing.
    stored_.store(saturated_stored, std::memory_order_relaxed);
    detail::refcount_report_now(error, this, where);
  }

  // Traffic on a saturated counter: put it back in the middle of its zone,
  // unreported (I4: reported once, on entry).
  void keep_saturated() noexcept {
    // relaxed: parking the value; orders nothing.
    stored_.store(saturated_stored, std::memory_order_relaxed);
  }

  // The end of an increment that left the live range (`old`, the value it
  // incremented, was live), or incremented a saturated or dead counter.
  [[gnu::cold]] [[gnu::noinline]] void add_slow_common(std::int32_t old,
                                                       std::source_location where) noexcept {
    switch (zone_of(old)) {
      case zone::live:
        saturate_report(refcount_error::overflow, where);  // passed INT_MAX
        return;
      case zone::saturated:
        keep_saturated();  // I4
        return;
      case zone::dead:
        // Increment of a dead counter: saturate as refcount_t does, a leak
        // is bounded, a second free is not.
        saturate_report(refcount_error::add_on_zero, where);
        return;
    }
  }

  // A put that found no reference to drop (the counter was dead, or the
  // put took more than the count): saturate and report (refcount_t's
  // REFCOUNT_SUB_UAF); a put on a saturated counter keeps it parked (I4).
  void put_below_zero(std::int32_t now, std::source_location where) noexcept {
    if (zone_of(now) == zone::saturated) {
      keep_saturated();
    } else {
      saturate_report(refcount_error::underflow, where);
    }
  }

  // add(n) / add_not_zero(n) for n > max_step: a compare-and-swap loop that
  // writes only the exact result, so no step wraps (I5). `not_zero`: leave a
  // dead counter alone and return false (add_not_zero) instead of
  // saturating it (add). Returns whether a reference was taken.
  [[gnu::cold]] [[gnu::noinline]] bool add_large(std::uint32_t n, bool not_zero,
                                                 std::source_location where) noexcept {
    // relaxed: O1; the loop only needs the value to be current.
    std::int32_t old = stored_.load(std::memory_order_relaxed);
    for (;;) {
      switch (zone_of(old)) {
        case zone::saturated:
          return true;  // parked already (I4); a saturated object is never freed
        case zone::dead:
          if (not_zero) return false;  // never written (I2)
          saturate_report(refcount_error::add_on_zero, where);
          return true;
        case zone::live:
          break;
      }
      if (n > static_cast<std::uint32_t>(last_live - old)) {
        saturate_report(refcount_error::overflow, where);
        return true;
      }
      // relaxed on both: O1; a failed exchange reloads `old` and retries.
      if (stored_.compare_exchange_weak(old, old + static_cast<std::int32_t>(n),
                                        std::memory_order_relaxed, std::memory_order_relaxed)) {
        return true;
      }
    }
  }

  // sub_and_test(n) for n > max_step: a compare-and-swap loop that writes
  // only the exact result (I5); the put of exactly the whole count kills the
  // counter and returns true.
  [[gnu::cold]] [[gnu::noinline]] bool sub_large(std::uint32_t n,
                                                 std::source_location where) noexcept {
    // relaxed: the exchange below orders; the load only needs the value.
    std::int32_t old = stored_.load(std::memory_order_relaxed);
    for (;;) {
      switch (zone_of(old)) {
        case zone::saturated:
          return false;  // I4
        case zone::dead:
          saturate_report(refcount_error::underflow, where);
          return false;
        case zone::live:
          break;
      }
      const auto count = static_cast<std::uint32_t>(old) + 1u;
      if (n > count) {
        saturate_report(refcount_error::underflow, where);
        return false;
      }
      if (n == count) {
        // acq_rel: release publishes this holder's work (O2); acquire reads
        // the end of the release sequence of every earlier put (O3).
        // relaxed on failure: nothing written, retry with the new value.
        if (stored_.compare_exchange_weak(old, Dead, std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
          return true;
        }
        continue;
      }
      // release: a put (O2), partner the acquire of the final put (O3).
      // relaxed on failure: nothing written, retry with the new value.
      if (stored_.compare_exchange_weak(old, old - static_cast<std::int32_t>(n),
                                        std::memory_order_release, std::memory_order_relaxed)) {
        return false;
      }
    }
  }

  std::atomic<std::int32_t> stored_;
};

}  // namespace detail

/// A saturating reference count with Linux refcount_t semantics
/// (compare-and-swap inc_not_zero, so the final put may free at once). See
/// the header comment for the values, orderings O1–O3 and invariants I1–I5.
class refcount : public detail::saturating_count<-1> {
 public:
  /// A counter holding `initial` references (0: dead; more than max_count:
  /// saturated). Not thread-safe (initialisation).
  constexpr explicit refcount(std::uint32_t initial) noexcept : saturating_count(initial) {}

  /// Takes a reference while the caller already holds one (refcount_inc).
  /// Reports add_on_zero on a dead counter, overflow on entering
  /// saturation. Thread-safe. Ordering: relaxed (O1).
  void inc(std::source_location where = std::source_location::current()) noexcept {
    // relaxed: the caller's own reference keeps the object alive (O1).
    const std::int32_t old = stored_.fetch_add(1, std::memory_order_relaxed);
    // One compare: old at the limit (count INT_MAX) or negative.
    if (static_cast<std::uint32_t>(old) >= std::uint32_t{last_live}) [[unlikely]] {
      add_slow_common(old, where);
    }
  }

  /// Takes n references at once (refcount_add); n == 0 does nothing.
  /// Thread-safe. Ordering: relaxed (O1).
  void add(unsigned n, std::source_location where = std::source_location::current()) noexcept {
    if (n == 0) return;
    if (n > max_step) [[unlikely]] {
      (void)add_large(n, false, where);
      return;
    }
    const auto step = static_cast<std::int32_t>(n);
    // relaxed: as inc() (O1).
    const std::int32_t old = stored_.fetch_add(step, std::memory_order_relaxed);
    if (static_cast<std::uint32_t>(old) > static_cast<std::uint32_t>(last_live - step))
        [[unlikely]] {
      add_slow_common(old, where);
    }
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
    if (n > max_step) [[unlikely]] return add_large(n, true, where);
    return add_not_zero_impl(static_cast<std::int32_t>(n), where);
  }

  /// Drops a reference known not to be the last (refcount_dec). Reports
  /// dec_to_zero (and saturates: the object leaks) if it was the last,
  /// underflow (and saturates) if there was none. Thread-safe. Ordering:
  /// release (O2).
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
  /// More than the count is reported (underflow) and saturates. n == 0
  /// returns false. Thread-safe. Ordering: as dec_and_test.
  [[nodiscard]] bool sub_and_test(
      unsigned n, std::source_location where = std::source_location::current()) noexcept {
    if (n == 0) return false;
    if (n > max_step) [[unlikely]] return sub_large(n, where);
    if (subtract(static_cast<std::int32_t>(n)) >= 0) [[likely]] return false;
    return put_slow(where);
  }

  /// Drops a reference unless it is the last (refcount_dec_not_one): false,
  /// changing nothing, when the count is exactly one (the caller then takes
  /// its lock and puts with dec_and_test, as refcount_dec_and_mutex_lock
  /// does). A saturated counter stays parked (true); a dead one is reported
  /// as underflow and left as it is (true: there is nothing to release), as
  /// refcount_dec_not_one does. Thread-safe. Ordering: release on the
  /// decrement (O2), relaxed otherwise.
  [[nodiscard]] bool dec_not_one(std::source_location where = std::source_location::current()) noexcept {
    // relaxed: the loop only needs a current value; the exchange orders.
    std::int32_t old = stored_.load(std::memory_order_relaxed);
    do {
      if (old == 0) return false;  // one reference: the caller's is the last
      switch (zone_of(old)) {
        case zone::dead:
          detail::refcount_report_now(refcount_error::underflow, this, where);
          return true;  // nothing to release here
        case zone::saturated:
          return true;  // I4: never released
        case zone::live:
          break;
      }
      // release: this put's work happens-before the release function (O2),
      // through the final put's acquire (O3). relaxed on failure: retry.
    } while (!stored_.compare_exchange_weak(old, old - 1, std::memory_order_release,
                                            std::memory_order_relaxed));
    return true;
  }

 private:
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
      if (static_cast<std::uint32_t>(old) > static_cast<std::uint32_t>(last_live - step))
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
    switch (zone_of(old)) {
      case zone::dead:
        return false;  // never written (I2)
      case zone::saturated:
        return true;  // I4
      case zone::live:
        break;
    }
    saturate_report(refcount_error::overflow, where);
    return true;
  }

  // A put whose decrement made the stored value negative: the last
  // reference, a put below zero, or traffic on a saturated counter.
  [[gnu::cold]] [[gnu::noinline]] bool put_slow(std::source_location where) noexcept {
    // acquire: reads the value our decrement wrote (no correct put or get
    // writes a dead counter), which ends the release sequence of every
    // earlier put, so all of them happen-before the release function (O3).
    // A load, not a fence: GCC's TSan cannot see fences.
    const std::int32_t now = stored_.load(std::memory_order_acquire);
    if (now == dead) return true;
    put_below_zero(now, where);
    return false;
  }

  [[gnu::cold]] [[gnu::noinline]] void dec_slow(std::source_location where) noexcept {
    // relaxed: only classifies the value our decrement wrote.
    const std::int32_t now = stored_.load(std::memory_order_relaxed);
    if (now == dead) {
      saturate_report(refcount_error::dec_to_zero, where);
    } else {
      put_below_zero(now, where);
    }
  }
};

/// A saturating reference count with rcuref_t's representation: one
/// unconditional fetch_add per get. Same interface, results and reports as
/// refcount; the object's memory must stay valid across every get AND put
/// (RCU grace period or type-stable memory), see the header comment.
class rcuref : public detail::saturating_count<static_cast<std::int32_t>(0xE0000000u)> {
 public:
  /// A counter holding `initial` references (0: already dead; more than
  /// max_count: saturated). Not thread-safe (initialisation).
  constexpr explicit rcuref(std::uint32_t initial) noexcept : saturating_count(initial) {}

  /// Takes a reference the caller already holds one of (refcount_inc).
  /// Reports add_on_zero if the count was 0 or dead, overflow on the
  /// transition into saturation. Thread-safe. Ordering: relaxed (O1).
  void inc(std::source_location where = std::source_location::current()) noexcept {
    // relaxed: the caller holds a reference, which keeps the object alive;
    // the count orders nothing (O1).
    const std::int32_t old = stored_.fetch_add(1, std::memory_order_relaxed);
    if (static_cast<std::uint32_t>(old) >= std::uint32_t{last_live}) [[unlikely]] {
      add_slow_common(old, where);
    }
  }

  /// Takes n references at once (refcount_add); n == 0 does nothing.
  /// Thread-safe. Ordering: relaxed (O1).
  void add(unsigned n, std::source_location where = std::source_location::current()) noexcept {
    if (n == 0) return;
    if (n > max_step) [[unlikely]] {
      (void)add_large(n, false, where);
      return;
    }
    const auto step = static_cast<std::int32_t>(n);
    // relaxed: as inc() (O1).
    const std::int32_t old = stored_.fetch_add(step, std::memory_order_relaxed);
    if (static_cast<std::uint32_t>(old) > static_cast<std::uint32_t>(last_live - step))
        [[unlikely]] {
      add_slow_common(old, where);
    }
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
    // One compare: old in NOREF (-1, I3) .. last_live - 1, so the new value
    // is live.
    if (static_cast<std::uint32_t>(old) + 1u <= std::uint32_t{last_live}) [[likely]] return true;
    return get_slow(old, 1, where);
  }

  /// add() that fails on a dead counter (refcount_add_not_zero); n == 0
  /// returns whether the counter is alive. Thread-safe. Ordering: relaxed (O1).
  [[nodiscard]] bool add_not_zero(
      unsigned n, std::source_location where = std::source_location::current()) noexcept {
    if (n == 0) return read() != 0;
    if (n > max_step) [[unlikely]] return add_large(n, true, where);
    const auto step = static_cast<std::int32_t>(n);
    // relaxed: as inc_not_zero() (O1).
    const std::int32_t old = stored_.fetch_add(step, std::memory_order_relaxed);
    if (static_cast<std::uint32_t>(old) + 1u <= static_cast<std::uint32_t>(last_live + 1 - step))
        [[likely]] {
      return true;
    }
    return get_slow(old, step, where);
  }

  /// Drops a reference that is known not to be the last (refcount_dec).
  /// Reports dec_to_zero (and saturates: the object leaks) if it was the
  /// last, underflow (and saturates) if there was none. Thread-safe.
  /// Ordering: release (O2).
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
  /// More than the count is reported (underflow) and saturates. n == 0
  /// returns false. Thread-safe. Ordering: as dec_and_test.
  [[nodiscard]] bool sub_and_test(
      unsigned n, std::source_location where = std::source_location::current()) noexcept {
    if (n == 0) return false;
    if (n > max_step) [[unlikely]] return sub_large(n, where);
    const auto step = static_cast<std::int32_t>(n);
    // release: as dec_and_test (O2).
    const std::int32_t old = stored_.fetch_sub(step, std::memory_order_release);
    if (old >= step) [[likely]] return false;
    return put_slow(old, step, where);
  }

 private:
  static constexpr std::int32_t noref = -1;

  // The value `old + delta` computed without signed overflow (the atomic
  // wrapped the same way: C++20 atomic arithmetic is two's complement).
  static constexpr std::int32_t wrapped(std::int32_t old, std::int32_t delta) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(old) +
                                     static_cast<std::uint32_t>(delta));
  }

  // Moves the counter back to DEAD if nobody moved it since `seen` (I2);
  // if somebody did, that somebody will.
  void park_dead(std::int32_t seen) noexcept {
    // relaxed: DEAD publishes nothing; whoever freed the object already
    // synchronized through O3.
    stored_.compare_exchange_strong(seen, dead, std::memory_order_relaxed,
                                    std::memory_order_relaxed);
  }

  [[gnu::cold]] [[gnu::noinline]] bool get_slow(std::int32_t old, std::int32_t step,
                                                std::source_location where) noexcept {
    switch (zone_of(old)) {
      case zone::dead:
        park_dead(wrapped(old, step));  // I2: a dead object stays dead
        return false;
      case zone::live:
        saturate_report(refcount_error::overflow, where);
        return true;
      case zone::saturated:
        keep_saturated();  // I4
        return true;  // a saturated object is never freed, so the reference is good
    }
    return true;
  }

  [[gnu::cold]] [[gnu::noinline]] void dec_slow(std::int32_t old,
                                                std::source_location where) noexcept {
    if (old == 0) {
      saturate_report(refcount_error::dec_to_zero, where);
    } else {
      put_below_zero(old, where);  // saturated, NOREF or dead
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
    // More puts than gets (live, in one step), or a put on a saturated,
    // NOREF or dead counter.
    put_below_zero(old, where);
    return false;
  }
};

}  // namespace ordo

#endif  // ORDO_REFCOUNT_HPP
