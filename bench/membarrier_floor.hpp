// BM_Membarrier: the cost of one heavy fence of ordo's asymmetric fence
// (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)) while one peer thread of the
// process spins, so the kernel has a running thread to interrupt. It is the
// floor of every grace period and exchange-and-wait in the same run: a table
// that shows it beside the swap figures tells a reader what the machine's
// IPIs cost at that moment (issue 15 saw 0.1 us and 6.3 us on one VM in one day).
// Included by the benchmark mains that print it (hook_bench, rcu_bench).
#pragma once

#include <ordo/detail/asymmetric_fence.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>

namespace ordo_bench {

inline void membarrier_cost(benchmark::State& state) {
  if (!ordo::detail::process_membarrier().available) {
    state.SkipWithError("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) unavailable");
    return;
  }
  std::atomic<bool> stop{false};
  std::thread peer([&] {
    // relaxed: a flag only; the join below orders everything after it.
    while (!stop.load(std::memory_order_relaxed)) ordo::detail::fence_cpu_relax();
  });
  bool ok = true;
  for (auto _ : state) ok = ordo::detail::membarrier_heavy_fence() && ok;
  stop.store(true, std::memory_order_relaxed);  // relaxed: see the load above
  peer.join();
  if (!ok) state.SkipWithError("membarrier(2) failed");
}

inline void register_membarrier_benchmark() {
  benchmark::RegisterBenchmark("BM_Membarrier", membarrier_cost)->UseRealTime();
}

}  // namespace ordo_bench
