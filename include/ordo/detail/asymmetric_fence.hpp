// ordo/detail/asymmetric_fence.hpp — private: an asymmetric fence pair, a
// light side that costs a compiler fence and a heavy side that is
// membarrier(2), with the run-time fallback to seq_cst fences on both sides.
//
// Used by rcu.hpp (readers' section entry vs. the grace period) and
// hazard_pointer.hpp (protect vs. the reclamation scan): in both, many
// readers store to a word of their own and then load a shared pointer, and
// a rare writer must see either the reader's store or the reader must see the
// writer's earlier store (the store-buffering pattern). A seq_cst fence on
// both sides solves it; the asymmetric pair moves the whole CPU cost to the
// writer.
//
// Membarrier mode (the process registered MEMBARRIER_CMD_PRIVATE_EXPEDITED)
//   light: std::atomic_signal_fence(seq_cst), compiler only.
//   heavy: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): every thread of the
//          process that is running executes a full barrier before the call
//          returns (a thread not running passed through the scheduler, which
//          is one). So for a light fence L and a heavy fence H, either
//          everything before L is visible to everything after H, or
//          everything before H is visible to everything after L, as if both
//          were seq_cst fences.
// Fallback mode (membarrier(2) missing, refused or not wanted)
//   both sides are std::atomic_thread_fence(seq_cst). GCC's TSan rejects
//   atomic_thread_fence: there the callers use a seq_cst read-modify-write
//   (on their own word for the light side, on a fallback_fence_word for the
//   heavy side), a full barrier on the supported targets.
//
// The probe runs once per process (process_membarrier()): QUERY, then
// REGISTER_PRIVATE_EXPEDITED. ENOSYS (old kernel), EINVAL (command not
// offered) or EPERM (seccomp) select fallback mode for every user. Which mode
// a user's light side assumes is its own decision (a bool it keeps next to
// its hot data); the heavy side must be called with the same mode.
#ifndef ORDO_DETAIL_ASYMMETRIC_FENCE_HPP
#define ORDO_DETAIL_ASYMMETRIC_FENCE_HPP

#include <ordo/detail/sanitizer.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <thread>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ordo::detail {

// ---------------------------------------------------------------------------
// membarrier(2) probe.

/// The system-call shape the probe uses; tests pass a fake to force each
/// failure (ENOSYS, EINVAL, EPERM) through the same code.
using membarrier_call = long (*)(int cmd, unsigned flags, int cpu_id) noexcept;

inline long sys_membarrier(int cmd, unsigned flags, int cpu_id) noexcept {
#if defined(__linux__) && defined(__NR_membarrier)
  return ::syscall(__NR_membarrier, cmd, flags, cpu_id);
#else
  (void)cmd, (void)flags, (void)cpu_id;
  errno = ENOSYS;
  return -1;
#endif
}

struct membarrier_probe {
  bool available = false;  ///< private expedited is registered and usable
  int error = 0;           ///< errno of the failing step, 0 when available
};

/// Queries and registers private expedited membarrier through `call`.
inline membarrier_probe probe_membarrier(membarrier_call call) noexcept {
#if defined(__linux__) && defined(__NR_membarrier)
  errno = 0;
  const long commands = call(MEMBARRIER_CMD_QUERY, 0, 0);
  if (commands < 0) return {false, errno != 0 ? errno : ENOSYS};
  if ((commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 ||
      (commands & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0) {
    return {false, EINVAL};
  }
  errno = 0;
  if (call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0) {
    return {false, errno != 0 ? errno : EPERM};
  }
  return {true, 0};
#else
  (void)call;
  return {false, ENOSYS};
#endif
}

/// The call heavy fences make: sys_membarrier. A seam for tests (they wrap
/// it to count the fences a grace period or scan issues).
inline constinit std::atomic<membarrier_call> membarrier_syscall{&sys_membarrier};

/// The process's probe, run once (registration is per process). Thread-safe.
inline const membarrier_probe& process_membarrier() noexcept {
  static const membarrier_probe probe = probe_membarrier(&sys_membarrier);
  return probe;
}

// ---------------------------------------------------------------------------
// The two sides.

/// Light side in membarrier mode: compiler only; the heavy side's
/// membarrier(2) supplies the CPU fence.
inline void asymmetric_light_fence() noexcept {
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

inline void fence_cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

/// Spin, then yield, then sleep (at most 1.28 ms) as `round` grows.
inline void fence_backoff(unsigned round) {
  if (round < 64) {
    for (int i = 0; i < 16; ++i) fence_cpu_relax();
  } else if (round < 128) {
    std::this_thread::yield();
  } else {
    const unsigned shift = round - 128 < 7 ? round - 128 : 7;
    std::this_thread::sleep_for(std::chrono::microseconds(10u << shift));  // <= 1.28 ms
  }
}

/// Heavy side in membarrier mode: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED),
/// retried while the kernel reports a transient error (ENOMEM: it could not
/// allocate its cpumask; EINTR; EAGAIN). False when it failed for good:
/// readers can no longer be fenced, which no fallback can repair (their
/// light side has no CPU fence); the caller reports it. Only valid once
/// process_membarrier().available.
[[nodiscard]] inline bool membarrier_heavy_fence() noexcept {
#if defined(__linux__) && defined(__NR_membarrier)
  for (unsigned round = 0;; ++round) {
    // relaxed: the seam is set by tests while no heavy fence runs.
    const membarrier_call call = membarrier_syscall.load(std::memory_order_relaxed);
    if (call(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) [[likely]] return true;
    if (errno != ENOMEM && errno != EINTR && errno != EAGAIN) return false;
    fence_backoff(round);
  }
#else
  return false;
#endif
}

/// What the heavy side of fallback mode needs: nothing, or under TSan the
/// word its read-modify-write uses (one per user, so unrelated users gain
/// no happens-before edge through it).
struct fallback_fence_word {
#if ORDO_TSAN
  std::atomic<std::uint64_t> word{0};
#endif
};

/// Heavy side in fallback mode: a seq_cst fence, pairing with the readers'
/// seq_cst fence (or, under TSan, their seq_cst read-modify-write).
inline void fallback_heavy_fence([[maybe_unused]] fallback_fence_word& fence_word) noexcept {
#if ORDO_TSAN
  fence_word.word.fetch_add(1, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace ordo::detail

#endif  // ORDO_DETAIL_ASYMMETRIC_FENCE_HPP
