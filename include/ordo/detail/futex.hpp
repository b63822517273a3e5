// ordo/detail/futex.hpp — private: block on a 32-bit atomic word until another
// thread changes it and wakes the word (Linux futex(2), process-private).
//
// Used by rcu.hpp: a grace period that waits for a reader sleeps here and is
// woken by the reader that ends the section it waits for; a synchronize()
// caller that shares a grace period another thread runs sleeps until it ends.
//
// Contract (futex(2) FUTEX_WAIT_PRIVATE / FUTEX_WAKE_PRIVATE)
//   futex_wait(word, expected, timeout) returns at once if word != expected
//   when the kernel looks (the compare and the queueing are one step with
//   respect to futex_wake), else sleeps until a futex_wake of the same word,
//   a signal or the timeout; a spurious return is allowed, so every caller
//   re-checks its condition in a loop. Hence the usual rule: a thread that
//   changes the word and then calls futex_wake cannot miss a waiter that
//   compared the old value. The timeout is always finite (a safety net, see
//   the callers). Without futex(2) (another OS, or ENOSYS) the wait sleeps
//   for the timeout instead, so callers still make progress.
//   No memory ordering of its own: callers order through the word's atomics.
#ifndef ORDO_DETAIL_FUTEX_HPP
#define ORDO_DETAIL_FUTEX_HPP

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#endif

namespace ordo::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "ordo: futex words must be plain 32-bit words");

/// What a futex call is for; the seam below reports it to tests.
enum class futex_op : unsigned char { wait, wake };

/// The call futex_wait/futex_wake make: 0 or -1 with errno, as futex(2).
/// A seam for tests (they wrap it to count waits, wakes and timeouts).
using futex_call = long (*)(std::atomic<std::uint32_t>* word, futex_op op,
                            std::uint32_t expected,
                            std::chrono::nanoseconds timeout) noexcept;

inline long sys_futex(std::atomic<std::uint32_t>* word, futex_op op, std::uint32_t expected,
                      std::chrono::nanoseconds timeout) noexcept {
#if defined(__linux__) && defined(SYS_futex)
  // The kernel reads the word's object representation; std::atomic<uint32_t>
  // is exactly that word (static_assert above).
  auto* address = reinterpret_cast<std::uint32_t*>(word);
  if (op == futex_op::wake) {
    return ::syscall(SYS_futex, address, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
  }
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  timespec relative{};
  relative.tv_sec = static_cast<time_t>(seconds.count());
  relative.tv_nsec = static_cast<long>((timeout - seconds).count());
  return ::syscall(SYS_futex, address, FUTEX_WAIT_PRIVATE, expected, &relative, nullptr, 0);
#else
  (void)word, (void)op, (void)expected, (void)timeout;
  errno = ENOSYS;
  return -1;
#endif
}

inline constinit std::atomic<futex_call> futex_syscall{&sys_futex};

/// Sleeps while `word` holds `expected`, at most `timeout` (see the header).
inline void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       std::chrono::nanoseconds timeout) noexcept {
  // relaxed: the seam is set by tests while no wait runs.
  const futex_call call = futex_syscall.load(std::memory_order_relaxed);
  if (call(&word, futex_op::wait, expected, timeout) == 0) return;
  // EAGAIN (the word changed), EINTR and ETIMEDOUT: the caller re-checks.
  if (errno == EAGAIN || errno == EINTR || errno == ETIMEDOUT) return;
  std::this_thread::sleep_for(timeout);  // no futex(2): sleep instead
}

/// Wakes every thread waiting on `word`.
inline void futex_wake(std::atomic<std::uint32_t>& word) noexcept {
  // relaxed: as in futex_wait.
  const futex_call call = futex_syscall.load(std::memory_order_relaxed);
  (void)call(&word, futex_op::wake, 0, std::chrono::nanoseconds{0});
}

}  // namespace ordo::detail

#endif  // ORDO_DETAIL_FUTEX_HPP
