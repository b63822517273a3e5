// Reader-side cost of ordo::hazard_pointer against the other ways to take a
// safe reference to a published object, all reading one int through the
// pointer they protect:
//
//   BM_Raw_Load                      the floor: an acquire load and the read
//                                    (no protection at all)
//   BM_HazardPointer_ProtectReset    protect() + reset_protection() on a
//                                    long-lived hazard_pointer
//   BM_HazardPointer_MakeProtect     make_hazard_pointer() + protect() + the
//                                    destructor, per read (the thread cache)
//   BM_AtomicSharedPtr_Load          std::atomic<std::shared_ptr>::load (a
//                                    reference count, and in libstdc++ a lock)
//   BM_Rcu_ReadSection               an ordo::rcu_read_guard around the load
//
// Each ->Threads(1)->Threads(2), real time, every thread reading the same
// object. No writer runs: this is the read-side floor of each scheme.
#include <ordo/hazard_pointer.hpp>
#include <ordo/rcu.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>

namespace {

struct config : ordo::hazard_pointer_obj_base<config> {
  explicit config(int v) : value(v) {}
  int value;
};

// Published for the whole run, never retired.
std::atomic<config*> current{new config(1)};

void BM_Raw_Load(benchmark::State& state) {
  long sum = 0;
  for (auto _ : state) {
    sum += current.load(std::memory_order_acquire)->value;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Raw_Load)->Threads(1)->Threads(2)->UseRealTime();

void BM_HazardPointer_ProtectReset(benchmark::State& state) {
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  long sum = 0;
  for (auto _ : state) {
    sum += h.protect(current)->value;
    h.reset_protection();
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HazardPointer_ProtectReset)->Threads(1)->Threads(2)->UseRealTime();

void BM_HazardPointer_MakeProtect(benchmark::State& state) {
  long sum = 0;
  for (auto _ : state) {
    ordo::hazard_pointer h = ordo::make_hazard_pointer();
    sum += h.protect(current)->value;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HazardPointer_MakeProtect)->Threads(1)->Threads(2)->UseRealTime();

std::atomic<std::shared_ptr<const int>> shared_current{std::make_shared<const int>(1)};

void BM_AtomicSharedPtr_Load(benchmark::State& state) {
  long sum = 0;
  for (auto _ : state) {
    std::shared_ptr<const int> p = shared_current.load(std::memory_order_acquire);
    sum += *p;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AtomicSharedPtr_Load)->Threads(1)->Threads(2)->UseRealTime();

void BM_Rcu_ReadSection(benchmark::State& state) {
  ordo::rcu_domain& domain = ordo::rcu_default_domain();
  long sum = 0;
  for (auto _ : state) {
    ordo::rcu_read_guard guard(domain);
    sum += current.load(std::memory_order_acquire)->value;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Rcu_ReadSection)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
