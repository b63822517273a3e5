// Grace-period cost against scale: ordo::rcu_domain::synchronize() against
// liburcu's memb flavour (the C anchor), with idle readers and with
// concurrent writers.
//
//   BM_Synchronize_Readers/N          one synchronize() of a domain in which
//                                     N idle reader threads each opened and
//                                     closed one read section (so each has a
//                                     reader record the grace period must
//                                     look at), then block on a condition
//                                     variable; N = 1, 8, 64, 512. The
//                                     threads are created once per run of
//                                     the benchmark function, before the
//                                     timed loop, never per iteration.
//   BM_Synchronize_UrcuMemb_Readers/N the same with urcu_memb_synchronize_rcu
//                                     and N threads registered with
//                                     urcu_memb_register_thread.
//   BM_Synchronize                    synchronize() called by 1 and 2 writer
//                                     threads at once (one idle reader):
//                                     Google Benchmark divides the wall time
//                                     by all threads' calls, so threads:2 at
//                                     half of threads:1 means the two
//                                     writers share every grace period. At
//                                     threads:1 a thread of the process
//                                     spins on the other CPU, so in both
//                                     runs membarrier(2) has a CPU to
//                                     interrupt: on a VM that IPI costs
//                                     5-20 us against 0.2 us when the other
//                                     CPU runs nothing of ours, and without
//                                     the spinner the ratio would compare
//                                     the IPI, not the sharing.
//   BM_Membarrier                     one heavy fence (bench/membarrier_floor.hpp),
//                                     the floor of each figure above.
#define _LGPL_SOURCE 1
#include <urcu/urcu-memb.h>

#include "membarrier_floor.hpp"

#include <ordo/rcu.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace {

// The domain every ordo benchmark here uses (never destroyed: reader threads
// of a finished run may still be unlinking their records at process exit).
ordo::rcu_domain& bench_domain() {
  static ordo::rcu_domain* const domain = new ordo::rcu_domain();
  return *domain;
}

enum class flavour { ordo, urcu_memb };

// N threads that each became a reader of the flavour, then sleep until stop().
class idle_readers {
 public:
  idle_readers(flavour f, int n) {
    threads_.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this, f] {
        if (f == flavour::ordo) {
          ordo::rcu_read_guard guard(bench_domain());
        } else {
          urcu_memb_register_thread();
          urcu_memb_read_lock();
          urcu_memb_read_unlock();
        }
        std::unique_lock lock(mutex_);
        ++ready_;
        changed_.notify_all();
        changed_.wait(lock, [this] { return stop_; });
        lock.unlock();
        if (f == flavour::urcu_memb) urcu_memb_unregister_thread();
      });
    }
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return ready_ == n; });
  }
  idle_readers(const idle_readers&) = delete;
  idle_readers& operator=(const idle_readers&) = delete;
  ~idle_readers() {
    {
      std::scoped_lock lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int ready_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

void synchronize_readers(benchmark::State& state) {
  idle_readers readers(flavour::ordo, static_cast<int>(state.range(0)));
  ordo::rcu_domain& domain = bench_domain();
  for (auto _ : state) domain.synchronize();
}

void synchronize_urcu_memb_readers(benchmark::State& state) {
  idle_readers readers(flavour::urcu_memb, static_cast<int>(state.range(0)));
  for (auto _ : state) urcu_memb_synchronize_rcu();
}

// Thread 0 sets the reader up before the loop and tears it down after: the
// benchmark library holds every thread at a barrier at the loop's start and end.
idle_readers* writers_reader = nullptr;

// A thread of this process that keeps the other CPU busy (no RCU use).
class spinner {
 public:
  spinner()
      : thread_([this] {
          // relaxed: a stop flag; nothing is published through it.
          while (!stop_.load(std::memory_order_relaxed)) benchmark::DoNotOptimize(spins_++);
        }) {}
  spinner(const spinner&) = delete;
  spinner& operator=(const spinner&) = delete;
  ~spinner() {
    stop_.store(true, std::memory_order_relaxed);  // relaxed: as above
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  unsigned long spins_ = 0;
  std::thread thread_;
};
spinner* writers_spinner = nullptr;

void synchronize_writers(benchmark::State& state) {
  if (state.thread_index() == 0) {
    writers_reader = new idle_readers(flavour::ordo, 1);
    if (state.threads() == 1) writers_spinner = new spinner();
  }
  ordo::rcu_domain& domain = bench_domain();
  for (auto _ : state) domain.synchronize();
  if (state.thread_index() == 0) {
    delete writers_spinner;
    writers_spinner = nullptr;
    delete writers_reader;
    writers_reader = nullptr;
  }
}

const bool registered = [] {
  for (auto* b : {benchmark::RegisterBenchmark("BM_Synchronize_Readers", synchronize_readers),
                  benchmark::RegisterBenchmark("BM_Synchronize_UrcuMemb_Readers",
                                               synchronize_urcu_memb_readers)}) {
    b->Arg(1)->Arg(8)->Arg(64)->Arg(512)->UseRealTime();
  }
  benchmark::RegisterBenchmark("BM_Synchronize", synchronize_writers)->Threads(1)->Threads(2)->UseRealTime();
  ordo_bench::register_membarrier_benchmark();
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
