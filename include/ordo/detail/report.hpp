// ordo/detail/report.hpp — private: the one registry of misuse-report
// handlers that every ordo header reports through.
//
// What it is
//   Each concern (lockdep, rcu, hook, refcount) has its own report struct R
//   and its own handler slot, a report_registry<R, Default>. The public
//   installers (lockdep::set_report_handler, set_rcu_report_handler,
//   set_hook_report_handler, set_refcount_report_handler) are one-line
//   wrappers over install(); the headers report through report(). One
//   registry means one meaning for every installer:
//     - a handler is a plain function pointer, void(*)(const R&);
//     - install(h) returns the handler it replaced (never nullptr);
//     - install(nullptr) restores the concern's documented default;
//     - the slot starts at the default (constant-initialised: reports made
//       during static initialisation or thread exit find it set).
//
// The default policy (every concern's default handler follows it)
//   Print the report to stderr, then abort, unless the report is a NOTICE.
//   A notice is a misuse that the operation already answered in a defined
//   way the program can carry on from: it changed nothing (rcu: a
//   read_unlock() without read_lock(); hook: clear() inside a call, which
//   returns EDEADLK) or it only ends a thread (rcu: thread exit inside a read
//   section). Everything else aborts by default: lock-order inversions, waits
//   that would wait for themselves, and every refcount report (a refcount
//   misuse is a use-after-free or a leak that already happened; the counter
//   is parked so that a handler that returns is safe, but the default does
//   not hide it). The policy does not depend on NDEBUG or ORDO_LOCKDEP: every
//   translation unit of a program sees the same default (no ODR hazard).
//   Each header's Misuse section lists which of its reports are notices.
//
// When not to use it
//   Outside ordo's headers: it is detail. Users install handlers through the
//   public set_*_report_handler functions.
//
// Thread-safety contract
//   install() and report() are thread-safe and lock-free; a handler may be
//   called concurrently from several threads and must be thread-safe itself.
//   A handler must not throw unless its concern documents where that is safe
//   (lockdep does; refcount reports come from noexcept code).
//
// Memory ordering (happens-before)
//   O1  install() exchanges with release, report() loads with acquire: all
//       the installing thread did before install(h) (the handler's own static
//       state, a log it writes to) happens-before every run of h by a report
//       that loaded h.
//   O2  install() is acq_rel: the handler it returns, and whatever its
//       installer prepared, are visible to the caller that gets it back.
//
// Invariants
//   I1  The slot never holds nullptr: report() calls it without a check.
//   I2  install(nullptr) stores Default, and install() never returns nullptr.
//
// Misuse
//   compile error  a Default that is not a void(const R&) function.
//   runtime report none (this is the reporting machinery).
//   undefined      a Default of nullptr (I1; GCC's UBSan does not accept a
//                  function address in a constant expression, so it is not
//                  static_asserted); a handler that throws out of a noexcept
//                  report site.
//
// Example
//   inline void widget_default_report(const widget_report& r) {
//     std::fprintf(stderr, "ordo: widget: %s\n", r.message);
//     detail::end_default_report(detail::report_severity::fatal);
//   }
//   inline constinit detail::report_registry<widget_report, &widget_default_report>
//       widget_reports;
//   ...
//   detail::widget_reports.report(widget_report{...});
#ifndef ORDO_DETAIL_REPORT_HPP
#define ORDO_DETAIL_REPORT_HPP

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace ordo::detail {

/// The handler type of the concern whose report struct is R.
template <class R>
using report_handler_for = void (*)(const R&);

/// What the default policy does after printing.
enum class report_severity : unsigned char {
  notice,  ///< the operation answered the misuse in a defined way: return
  fatal,   ///< anything else: abort
};

/// The end of every default handler: flush what it printed, then abort
/// unless the report is a notice (the default policy above).
inline void end_default_report(report_severity severity) noexcept {
  std::fflush(stderr);
  if (severity == report_severity::fatal) std::abort();
}

/// One concern's handler slot. Default is the concern's documented default
/// handler. Constant-initialisable: declare it `inline constinit`.
template <class R, report_handler_for<R> Default>
class report_registry {
 public:
  using handler_type = report_handler_for<R>;

  /// The default handler (what install(nullptr) restores).
  static constexpr handler_type default_handler = Default;

  constexpr report_registry() noexcept = default;
  report_registry(const report_registry&) = delete;
  report_registry& operator=(const report_registry&) = delete;

  /// Installs h for every later report (nullptr: the default, I2) and
  /// returns the handler it replaced. Thread-safe. Ordering: acq_rel (O1, O2).
  handler_type install(handler_type h) noexcept {
    // acq_rel: release publishes the installer's setup to report()'s acquire
    // load (O1); acquire makes the returned handler's setup visible here (O2).
    return slot_.exchange(h != nullptr ? h : Default, std::memory_order_acq_rel);
  }

  /// The handler installed now. Thread-safe. Ordering: acquire (O1).
  [[nodiscard]] handler_type current() const noexcept {
    // acquire: pairs with the release of install() (O1).
    return slot_.load(std::memory_order_acquire);
  }

  /// Calls the installed handler with r. Thread-safe. Ordering: acquire (O1).
  void report(const R& r) const { current()(r); }  // I1: never null

 private:
  std::atomic<handler_type> slot_{Default};
};

}  // namespace ordo::detail

#endif  // ORDO_DETAIL_REPORT_HPP
