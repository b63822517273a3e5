// bench/ref_bench.cpp — safe reference acquisition (refcount.hpp, ref.hpp,
// module.hpp) against the anchors a C++ programmer would otherwise use.
//
//   BM_Ref_GetSafePut            get_safe + put of an ordo::ref (ours)
//   BM_WeakPtr_LockRelease       std::weak_ptr::lock + release (the anchor)
//   BM_SharedPtr_CopyRelease     std::shared_ptr copy + release (for scale:
//                                no "unless dying" check at all)
//   BM_Refcount_IncNotZeroDec    ordo::refcount inc_not_zero + dec_and_test
//                                (ours: refcount_t, a CAS loop with
//                                saturation; safe with immediate free)
//   BM_Rcuref_IncNotZeroDec      ordo::rcuref: one unconditional fetch_add
//                                per get (ours; needs RCU/type-stable memory)
//   BM_CasLoop_IncNotZeroDec     the plain compare-and-swap loop for
//                                inc_not_zero, same dec_and_test (anchor)
//   BM_SymbolGet_Put             symbol_get + symbol_put (ours: lock-free
//                                lookup + module pin)
//   BM_MutexMap_Lookup           a std::mutex-guarded unordered_map lookup
//                                (no pin at all)
//
// Each runs at 1 and 2 threads on one shared object, so 2 threads measure
// contention on one cache line. Ratios: bench/ref_bench.ratios.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ordo/module.hpp"
#include "ordo/ref.hpp"
#include "ordo/refcount.hpp"

namespace {

struct vm : ordo::kref<vm> {
  int id = 1;
};

// ---- get_safe vs weak_ptr::lock ------------------------------------------

vm* shared_vm() {
  static ordo::ref<vm> owner = ordo::make_ref<vm>();  // never dropped
  return owner.get();
}

void BM_Ref_GetSafePut(benchmark::State& state) {
  vm* target = shared_vm();
  for (auto _ : state) {
    ordo::ref<vm> r = ordo::get_safe(target);
    benchmark::DoNotOptimize(r.get());
  }
}
BENCHMARK(BM_Ref_GetSafePut)->Threads(1)->Threads(2)->UseRealTime();

std::shared_ptr<vm>& shared_owner() {
  static std::shared_ptr<vm> owner = std::make_shared<vm>();
  return owner;
}

void BM_WeakPtr_LockRelease(benchmark::State& state) {
  std::weak_ptr<vm> weak = shared_owner();
  for (auto _ : state) {
    std::shared_ptr<vm> s = weak.lock();
    benchmark::DoNotOptimize(s.get());
  }
}
BENCHMARK(BM_WeakPtr_LockRelease)->Threads(1)->Threads(2)->UseRealTime();

void BM_SharedPtr_CopyRelease(benchmark::State& state) {
  const std::shared_ptr<vm>& owner = shared_owner();
  for (auto _ : state) {
    std::shared_ptr<vm> copy = owner;
    benchmark::DoNotOptimize(copy.get());
  }
}
BENCHMARK(BM_SharedPtr_CopyRelease)->Threads(1)->Threads(2)->UseRealTime();

// ---- inc_not_zero: one fetch_add vs the CAS loop ---------------------------

void BM_Refcount_IncNotZeroDec(benchmark::State& state) {
  alignas(64) static ordo::refcount refs(1);  // the owner's reference keeps it alive
  for (auto _ : state) {
    const bool got = refs.inc_not_zero();
    benchmark::DoNotOptimize(got);
    if (got && refs.dec_and_test()) std::abort();
  }
}
BENCHMARK(BM_Refcount_IncNotZeroDec)->Threads(1)->Threads(2)->UseRealTime();

void BM_Rcuref_IncNotZeroDec(benchmark::State& state) {
  alignas(64) static ordo::rcuref refs(1);  // static storage: type-stable, as rcuref requires
  for (auto _ : state) {
    const bool got = refs.inc_not_zero();
    benchmark::DoNotOptimize(got);
    if (got && refs.dec_and_test()) std::abort();
  }
}
BENCHMARK(BM_Rcuref_IncNotZeroDec)->Threads(1)->Threads(2)->UseRealTime();

// The classic refcount_t: plain count, inc_not_zero as a relaxed CAS loop
// that refuses 0 and leaves a saturated (negative) count alone, dec_and_test
// as a release fetch_sub with an acquire on the final put.
class cas_loop_refcount {
 public:
  explicit cas_loop_refcount(int initial) : refs_(initial) {}
  // `retries` counts failed compare-and-swaps: the cost the loop pays under
  // contention, and the evidence that the 2-thread run was contended.
  bool inc_not_zero(std::int64_t& retries) noexcept {
    int old = refs_.load(std::memory_order_relaxed);
    for (;;) {
      if (old == 0) return false;
      if (old < 0) return true;  // saturated
      // relaxed: as ordo::refcount's increments (the object is reachable).
      if (refs_.compare_exchange_weak(old, old + 1, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
        break;
      }
      ++retries;
    }
    if (old + 1 < 0) refs_.store(INT32_MIN / 2, std::memory_order_relaxed);  // saturate
    return true;
  }
  bool dec_and_test() noexcept {
    // release: partner is the acquire load below in the final put.
    const int old = refs_.fetch_sub(1, std::memory_order_release);
    if (old == 1) {
      (void)refs_.load(std::memory_order_acquire);  // partner: the releases above
      return true;
    }
    return false;
  }

 private:
  std::atomic<int> refs_;
};

void BM_CasLoop_IncNotZeroDec(benchmark::State& state) {
  alignas(64) static cas_loop_refcount refs(1);
  std::int64_t retries = 0;
  for (auto _ : state) {
    const bool got = refs.inc_not_zero(retries);
    benchmark::DoNotOptimize(got);
    if (got && refs.dec_and_test()) std::abort();
  }
  state.counters["cas_retries"] =
      benchmark::Counter(static_cast<double>(retries), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_CasLoop_IncNotZeroDec)->Threads(1)->Threads(2)->UseRealTime();

// ---- symbol_get vs a mutex-guarded map -------------------------------------

ordo::ref<vm> get_vm_safe(vm* v) { return ordo::get_safe(v); }
void filler() {}
constexpr int filler_symbols = 31;  // plus the one looked up: 32 names

ordo::module_registry& registry() {
  static ordo::module_registry modules;
  static const bool loaded = [] {
    const std::error_code ec = modules.load("kvm", [](ordo::module_loader& kvm) -> std::error_code {
      for (int i = 0; i < filler_symbols; ++i) {
        if (auto ec = kvm.export_symbol("kvm_symbol_" + std::to_string(i), &filler)) return ec;
      }
      return kvm.export_symbol("kvm_get_kvm_safe", &get_vm_safe);
    });
    if (ec) std::abort();
    return true;
  }();
  (void)loaded;
  return modules;
}

void BM_SymbolGet_Put(benchmark::State& state) {
  const ordo::module_registry& modules = registry();
  for (auto _ : state) {
    auto fn = ordo::symbol_get<ordo::ref<vm>(vm*)>(modules, "kvm_get_kvm_safe");
    benchmark::DoNotOptimize(fn.get());
  }
}
BENCHMARK(BM_SymbolGet_Put)->Threads(1)->Threads(2)->UseRealTime();

struct name_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view name) const noexcept {
    return std::hash<std::string_view>{}(name);
  }
};

struct mutex_map {
  std::mutex mutex;
  std::unordered_map<std::string, void (*)(), name_hash, std::equal_to<>> symbols;
  mutex_map() {
    for (int i = 0; i < filler_symbols; ++i) symbols.emplace("kvm_symbol_" + std::to_string(i), &filler);
    symbols.emplace("kvm_get_kvm_safe", reinterpret_cast<void (*)()>(&get_vm_safe));
  }
};

void BM_MutexMap_Lookup(benchmark::State& state) {
  static mutex_map map;
  for (auto _ : state) {
    void (*fn)() = nullptr;
    {
      std::lock_guard<std::mutex> lock(map.mutex);
      auto it = map.symbols.find(std::string_view("kvm_get_kvm_safe"));
      if (it != map.symbols.end()) fn = it->second;
    }
    benchmark::DoNotOptimize(fn);
  }
}
BENCHMARK(BM_MutexMap_Lookup)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
