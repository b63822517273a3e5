// Benchmarks for ordo/ordered_mutex.hpp and the lockdep validator.
//
// Anchors, measured in the same run:
//   BM_AbslMutex_*         a bare absl::Mutex: what ordered_mutex wraps. With
//                          the validator off, ordered_mutex must cost nothing
//                          on top (ratio <= 1.03).
//   BM_StdMutex_LockUnlock std::mutex, for scale.
//   BM_HierarchicalMutex_* the classic run-time-checked hierarchical mutex: a
//                          thread_local "current level" compared and swapped
//                          on every lock and unlock (written below, over the
//                          same absl::Mutex). ordo checks the same property at
//                          compile time, so it must be faster.
// The validated variants (_Lockdep) name ordo::validator_on explicitly: the
// policy is a template parameter, so both live in this one binary without
// an ODR violation, whatever ORDO_LOCKDEP says. Target: the validated
// three-lock chain costs at most 3x the bare chain.
#include <ordo/ordered_mutex.hpp>

#include <benchmark/benchmark.h>

#include <absl/synchronization/mutex.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace {

struct first_level : ordo::level<> {};
struct second_level : ordo::level<first_level> {};
struct third_level : ordo::level<second_level> {};

template <class Level>
using fast_mutex = ordo::ordered_mutex<Level, absl::Mutex, ordo::validator_off>;
template <class Level>
using checked_mutex = ordo::ordered_mutex<Level, absl::Mutex, ordo::validator_on>;

// The classic hierarchical mutex: each lock has a numeric level; a thread
// may only lock a mutex whose level is lower than the one it holds last,
// tracked in a thread_local. Violations are caught at run time only.
class ABSL_LOCKABLE hierarchical_mutex {
 public:
  explicit hierarchical_mutex(unsigned long level) : level_(level) {}

  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    if (level_ >= current_level) fail("hierarchical_mutex: lock above the current level");
    mutex_.Lock();
    saved_level_ = current_level;
    current_level = level_;
  }
  void unlock() ABSL_UNLOCK_FUNCTION() {
    if (current_level != level_) fail("hierarchical_mutex: unlock not innermost");
    current_level = saved_level_;
    mutex_.Unlock();
  }

 private:
  [[noreturn]] static void fail(const char* what) {
    std::fputs(what, stderr);
    std::abort();
  }

  static thread_local unsigned long current_level;  // ULONG_MAX: nothing held
  absl::Mutex mutex_;
  const unsigned long level_;
  unsigned long saved_level_ = 0;  // the level to restore on unlock
};
thread_local unsigned long hierarchical_mutex::current_level = ULONG_MAX;

void BM_AbslMutex_LockUnlock(benchmark::State& state) {
  absl::Mutex m;
  for (auto _ : state) {
    m.Lock();
    m.Unlock();
  }
}
BENCHMARK(BM_AbslMutex_LockUnlock);

void BM_StdMutex_LockUnlock(benchmark::State& state) {
  std::mutex m;
  for (auto _ : state) {
    m.lock();
    m.unlock();
  }
}
BENCHMARK(BM_StdMutex_LockUnlock);

void BM_Ordered_LockUnlock(benchmark::State& state) {
  fast_mutex<first_level> m;
  ordo::basic_unlocked<ordo::validator_off> ctx;
  for (auto _ : state) {
    auto g = m.lock(ctx);
  }
}
BENCHMARK(BM_Ordered_LockUnlock);

void BM_Ordered_LockUnlock_Lockdep(benchmark::State& state) {
  checked_mutex<first_level> m;
  ordo::basic_unlocked<ordo::validator_on> ctx;
  for (auto _ : state) {
    auto g = m.lock(ctx);
  }
}
BENCHMARK(BM_Ordered_LockUnlock_Lockdep);

void BM_HierarchicalMutex_LockUnlock(benchmark::State& state) {
  hierarchical_mutex m(1000);
  for (auto _ : state) {
    m.lock();
    m.unlock();
  }
}
BENCHMARK(BM_HierarchicalMutex_LockUnlock);

void BM_AbslMutex_Chain3(benchmark::State& state) {
  absl::Mutex a, b, c;
  for (auto _ : state) {
    a.Lock();
    b.Lock();
    c.Lock();
    c.Unlock();
    b.Unlock();
    a.Unlock();
  }
}
BENCHMARK(BM_AbslMutex_Chain3);

void BM_Ordered_Chain3(benchmark::State& state) {
  fast_mutex<first_level> a;
  fast_mutex<second_level> b;
  fast_mutex<third_level> c;
  ordo::basic_unlocked<ordo::validator_off> ctx;
  for (auto _ : state) {
    auto ga = a.lock(ctx);
    auto gb = b.lock(ga);
    auto gc = c.lock(gb);
  }
}
BENCHMARK(BM_Ordered_Chain3);

void BM_Ordered_Chain3_Lockdep(benchmark::State& state) {
  checked_mutex<first_level> a;
  checked_mutex<second_level> b;
  checked_mutex<third_level> c;
  ordo::basic_unlocked<ordo::validator_on> ctx;
  for (auto _ : state) {
    auto ga = a.lock(ctx);
    auto gb = b.lock(ga);
    auto gc = c.lock(gb);
  }
}
BENCHMARK(BM_Ordered_Chain3_Lockdep);

void BM_HierarchicalMutex_Chain3(benchmark::State& state) {
  hierarchical_mutex a(3000), b(2000), c(1000);
  for (auto _ : state) {
    a.lock();
    b.lock();
    c.lock();
    c.unlock();
    b.unlock();
    a.unlock();
  }
}
BENCHMARK(BM_HierarchicalMutex_Chain3);

}  // namespace

// Debian's libabsl is built without NDEBUG, so absl::Mutex runs its own
// deadlock detector (a global graph update per Lock) unless told not to.
// ordo's validator replaces it, and a bare-lock anchor should be bare: it is
// switched off for every benchmark here, anchors and ordo alike.
int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
