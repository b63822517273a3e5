// libFuzzer target: whole simulator scripts. Any byte string is a script;
// the shell must run it to the end without a crash, hang, leak, sanitizer
// report or broken invariant (in this build, ORDO_LOCKDEP=1, the shell checks
// what each command could have broken after it and I1–I6 at the end of the
// script, and reports a break through exit status 2).
//
// Cost: an input's time is the shell's and the host's work; the harness adds
// as little as it can. The script is fed to the shell where libFuzzer keeps
// it (no stream, no copy), in two chunks split at a point the input chooses,
// so the lines read across chunks (shell::feed's partial line) stay covered.
// The shell's output goes to a stream that drops it: every line of the
// shell's output code still runs (the formatting, the stream calls), only the
// bytes are not stored, which nothing here would read. When an invariant
// breaks, the input is run again on a fresh shell whose errors are kept, and
// those are printed before the abort. A `qci` may configure at most
// kMaxQueues queue devices (shell::limit_queues; script_fuzz.options says
// why that loses no state that matters).
#include "shell.hpp"

#include <absl/synchronization/mutex.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <sstream>
#include <streambuf>
#include <string>
#include <string_view>

namespace {

// 8 adapters x 8 domains, sysfs_fuzz's host.
constexpr std::size_t kMaxQueues = 64;

// A stream buffer that accepts every byte and keeps none.
class discard_buffer final : public std::streambuf {
 protected:
  int_type overflow(int_type c) override { return traits_type::not_eof(c); }
  std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

// Runs `script` on `sh` in two chunks, the first `split` bytes long.
int run(ordo::vfio_ap::sim::shell& sh, std::string_view script, std::size_t split) {
  sh.limit_queues(kMaxQueues);
  sh.feed(script.substr(0, split));
  sh.feed(script.substr(split));
  return sh.end_of_input();
}

}  // namespace

// AddressSanitizer keeps freed memory in a quarantine to catch a later use
// of it, 256 MB by default: it fills after a few thousand inputs and is then
// most of the process's memory (the peak RSS of ~480 MB this target had).
// Every input frees what it built before it returns (shell::reset below),
// so a use after free can only reach memory freed by the same input, and
// it is caught whenever less than the quarantine was freed between the free
// and the use. An ordinary input frees well under 1 MB in all; 64 MB is
// hundreds of them. Only an input that churns the queue space between the
// two (a `qci` that creates or removes thousands of queue devices, several
// times) frees more, and a few such lines outgrow the default's 256 MB
// just as well. ASAN_OPTIONS still overrides it.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=64"; }

// Debian's libabsl is built without NDEBUG, so every absl::Mutex::Lock also
// runs Abseil's own deadlock detector: a global graph of mutex instances,
// updated under a global lock per acquisition (with a stack trace per new
// edge). That was a fifth of the instructions of an input here (each
// command and each invariant check takes 6-15 locks) and checks nothing
// the validator of this build (ORDO_LOCKDEP=1) does not: every lock of the
// model is an ordo lock, which the validator sees at every acquisition;
// its graph is over lock classes (a level, and a key for a nestable
// level), and a cycle of instances maps onto a cycle of their classes or
// onto a nesting within one class, which it reports too (a second lock of
// a held level, descending nest keys, recursive locking; lockdep_test:
// InversionIsReportedTheFirstTimeBothOrdersAreSeen,
// NestableInstancesOutOfOrderAreReported,
// RecursiveLockingAbortsBeforeDeadlocking), before the instances ever close
// a cycle. Its report aborts
// the run as Abseil's would. Nothing else changes: the same locks are
// taken in the same order, only Abseil's second bookkeeping of them is
// skipped (as bench/ordered_mutex_bench.cpp does, for the same reason).
// Set once, before the first input (and in the replay build alike).
[[maybe_unused]] static const bool abseil_detector_off = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // One shell for the process; it is in its start state when an input
  // begins: new, or shell::reset after the previous input (a new shell's
  // state over a host::reset host, which is exact: vfio_ap_reset_test).
  // Resetting at the end rather than the start frees what the input built
  // before the call returns, so libFuzzer's leak check (which runs an input
  // again whenever it returned with more allocations than frees) does not
  // fire on every input that leaves a bigger model than it found.
  static discard_buffer discard;
  static std::ostream out(&discard);
  static std::ostream err(&discard);
  static ordo::vfio_ap::sim::shell& sh = *new ordo::vfio_ap::sim::shell(out, err);  // never destroyed
  const std::string_view script(reinterpret_cast<const char*>(data), size);
  // Where the first chunk ends: a point the input's first byte chooses.
  const std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  const int status = run(sh, script, split);
  sh.reset();
  if (status == 2) {  // an invariant broke: that is a model bug
    std::ostringstream report;
    ordo::vfio_ap::sim::shell again(out, report);
    run(again, script, split);
    std::fprintf(stderr, "%s", report.str().c_str());
    std::abort();
  }
  return 0;
}
