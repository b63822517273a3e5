// Hook-pointer calls and swaps: ordo::hook_ptr under each protection against
// the ways people protect a hook pointer (a bare atomic, std::mutex,
// std::shared_mutex, absl::Mutex, std::atomic<std::shared_ptr>, liburcu).
//
//   BM_HookCall_<P>        one call through the hook (the hook adds a context
//                          value to its argument); ->Threads(1)->Threads(2).
//                          Raw is the floor: an acquire load and the call.
//   BM_HookCall_<P>_Swap   the same while a background thread exchanges the
//                          hook every 10 us and waits as P requires.
//   BM_HookSwap_<P>        the latency of one exchange-and-wait while one
//                          background reader calls continuously, the
//                          writer pinned to one CPU and the reader to
//                          another; counters p50_us, p99_us and max_us.
//   BM_HookSwap_<P>_Oversubscribed
//                          the same with three background readers calling
//                          continuously, all four threads confined to two
//                          CPUs (sched_setaffinity): a reader is often
//                          descheduled inside a call, so the swap waits for
//                          the scheduler; for Rcu and UrcuMemb. max_us shows
//                          whether a writer ends long after its reader left
//                          (issue 15: a timer-driven writer did, up to 16 ms).
//   BM_HookSwap_<P>_StalledOtherHook
//                          the same, while a third thread calls through
//                          ANOTHER hook of the same protection whose function
//                          sleeps 1 ms (a vCPU of another guest descheduled
//                          inside its hook call), for Rcu (the other hook is
//                          in the same default domain, so its read section
//                          delays every grace period) and Hazptr (it holds
//                          only its own hook, so it delays nothing here).
//   BM_RcuSection_<Way>    one empty read section of the default domain
//                          opened as Guard (rcu_read_guard), ReadLock
//                          (read_lock/read_unlock) or Lockable
//                          (std::scoped_lock over lock/unlock): the three
//                          take the same inlined fast path, so they should
//                          cost the same; ->Threads(1)->Threads(2).
//   BM_Membarrier          one heavy fence (bench/membarrier_floor.hpp): the
//                          floor of every exchange-and-wait in the same run.
//
// Every hook is an ordo::hook bound to a member function (one indirect
// call), so the protections differ only in what surrounds the call.
// RcuFallback is ordo::rcu_protect in a domain forced to the fence fallback
// (what runs where membarrier(2) is unavailable). liburcu is used through its
// inline (_LGPL_SOURCE) fast paths; qsbr readers announce a quiescent state
// every 128 calls.
#define _LGPL_SOURCE 1
#include <urcu/urcu-memb.h>
#include <urcu/urcu-qsbr.h>

#include "membarrier_floor.hpp"

#include <ordo/hook.hpp>

#include <absl/synchronization/mutex.h>
#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using hook_t = ordo::hook<int(int)>;

struct target {
  int base;
  int apply(int x) { return base + x; }
};

target targets[2] = {{1}, {2}};
hook_t hooks_static[2] = {hook_t::bind<&target::apply>(targets[0]),
                          hook_t::bind<&target::apply>(targets[1])};

// The owner module of the owner_ref hooks: live for the whole run.
ordo::module* bench_module() {
  static ordo::module* const owner = [] {
    static ordo::module_registry registry;
    (void)registry.load("hook_bench_owner", [](ordo::module_loader&) {});
    return registry.find("hook_bench_owner");
  }();
  return owner;
}
hook_t* owned_hooks() {
  static hook_t hooks[2] = {hook_t::bind<&target::apply>(targets[0], bench_module()),
                            hook_t::bind<&target::apply>(targets[1], bench_module())};
  return hooks;
}

// ---- one struct per protection: call, swap (exchange and wait), and the
// per-thread setup a reader needs --------------------------------------------

struct no_thread_setup {
  static void thread_begin() {}
  static void thread_end() {}
  static void tick(unsigned) {}
};

struct raw_ops : no_thread_setup {
  static inline std::atomic<hook_t*> ptr{&hooks_static[0]};
  static int call(int x) {
    hook_t* h = ptr.load(std::memory_order_acquire);
    return h != nullptr ? (*h)(x) : 0;
  }
  static void swap(int which) { ptr.exchange(&hooks_static[which], std::memory_order_acq_rel); }
};

// The hook pointers are plain namespace-scope objects (no function-local
// static guard in the measured path; ordered initialisation within this
// file), published by `registered` below before main() runs.
ordo::hook_ptr<int(int), ordo::unprotected> unprotected_ptr;
ordo::hook_ptr<int(int), ordo::owner_ref> owner_ref_ptr;
ordo::hook_ptr<int(int), ordo::rw_protect> rw_ptr;
ordo::hook_ptr<int(int), ordo::rcu_protect> rcu_ptr;
ordo::rcu_domain fallback_domain(ordo::rcu_domain_options{.fence = ordo::rcu_fence::fallback});
ordo::hook_ptr<int(int), ordo::rcu_protect> rcu_fallback_ptr(fallback_domain);
ordo::hook_ptr<int(int), ordo::hazard_protect> hazard_ptr;

// The other hooks of the _StalledOtherHook runs: same protection (for rcu,
// the same default domain as rcu_ptr), a function that sleeps inside.
int sleep_inside(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return x;
}
hook_t sleeping_hook(&sleep_inside);
ordo::hook_ptr<int(int), ordo::rcu_protect> other_rcu_ptr;
ordo::hook_ptr<int(int), ordo::hazard_protect> other_hazard_ptr;

template <auto& Ptr, hook_t* (*Hooks)()>
struct ordo_ops : no_thread_setup {
  static void publish() {
    if (Ptr.publish(Hooks()[0])) std::abort();  // the hook must be set before measuring
  }
  // Inlined into the measured loop, as a call site in user code would be:
  // GCC's heuristics otherwise keep this wrapper out of line once call()
  // has a fast and a slow path, and the loop measures an extra call.
  [[gnu::always_inline]] static int call(int x) { return Ptr.call(x).value_or(0); }
  static void swap(int which) { (void)Ptr.exchange(Hooks()[which]); }
};

hook_t* static_hooks() { return hooks_static; }

using unprotected_ops = ordo_ops<unprotected_ptr, &static_hooks>;
using owner_ref_ops = ordo_ops<owner_ref_ptr, &owned_hooks>;
using rw_ops = ordo_ops<rw_ptr, &static_hooks>;
using rcu_ops = ordo_ops<rcu_ptr, &static_hooks>;
using rcu_fallback_ops = ordo_ops<rcu_fallback_ptr, &static_hooks>;
using hazard_ops = ordo_ops<hazard_ptr, &static_hooks>;

struct std_mutex_ops : no_thread_setup {
  static inline std::mutex mutex;
  static inline hook_t* ptr = &hooks_static[0];
  static int call(int x) {
    std::lock_guard lock(mutex);
    return ptr != nullptr ? (*ptr)(x) : 0;
  }
  static void swap(int which) {
    std::lock_guard lock(mutex);
    ptr = &hooks_static[which];
  }
};

struct shared_mutex_ops : no_thread_setup {
  static inline std::shared_mutex mutex;
  static inline hook_t* ptr = &hooks_static[0];
  static int call(int x) {
    std::shared_lock lock(mutex);
    return ptr != nullptr ? (*ptr)(x) : 0;
  }
  static void swap(int which) {
    std::unique_lock lock(mutex);
    ptr = &hooks_static[which];
  }
};

struct absl_ops : no_thread_setup {
  static inline absl::Mutex mutex;
  static inline hook_t* ptr = &hooks_static[0];
  static int call(int x) {
    absl::ReaderMutexLock lock(&mutex);
    return ptr != nullptr ? (*ptr)(x) : 0;
  }
  static void swap(int which) {
    absl::WriterMutexLock lock(&mutex);
    ptr = &hooks_static[which];
  }
};

struct atomic_shared_ptr_ops : no_thread_setup {
  static std::shared_ptr<hook_t> shared(int which) {
    // Non-owning: the hooks are static; the control block is what is measured.
    static const std::shared_ptr<hook_t> ptrs[2] = {
        std::shared_ptr<hook_t>(&hooks_static[0], [](hook_t*) {}),
        std::shared_ptr<hook_t>(&hooks_static[1], [](hook_t*) {})};
    return ptrs[which];
  }
  static std::atomic<std::shared_ptr<hook_t>>& ptr() {
    static std::atomic<std::shared_ptr<hook_t>> p{shared(0)};
    return p;
  }
  static int call(int x) {
    std::shared_ptr<hook_t> h = ptr().load(std::memory_order_acquire);
    return h ? (*h)(x) : 0;
  }
  static void swap(int which) { ptr().store(shared(which), std::memory_order_release); }
};

struct urcu_memb_ops {
  static inline hook_t* ptr = &hooks_static[0];
  static void thread_begin() { urcu_memb_register_thread(); }
  static void thread_end() { urcu_memb_unregister_thread(); }
  static void tick(unsigned) {}
  static int call(int x) {
    urcu_memb_read_lock();
    hook_t* h = rcu_dereference(ptr);
    const int r = h != nullptr ? (*h)(x) : 0;
    urcu_memb_read_unlock();
    return r;
  }
  static void swap(int which) {
    (void)rcu_xchg_pointer(&ptr, &hooks_static[which]);
    urcu_memb_synchronize_rcu();
  }
};

struct urcu_qsbr_ops {
  static inline hook_t* ptr = &hooks_static[0];
  static void thread_begin() { urcu_qsbr_register_thread(); }
  static void thread_end() { urcu_qsbr_unregister_thread(); }
  static void tick(unsigned i) {
    if ((i & 127u) == 0) urcu_qsbr_quiescent_state();
  }
  static int call(int x) {
    urcu_qsbr_read_lock();
    hook_t* h = rcu_dereference(ptr);
    const int r = h != nullptr ? (*h)(x) : 0;
    urcu_qsbr_read_unlock();
    return r;
  }
  static void swap(int which) {
    (void)rcu_xchg_pointer(&ptr, &hooks_static[which]);
    urcu_qsbr_synchronize_rcu();
  }
};

// ---- background threads -----------------------------------------------------

// Exchanges the hook every 10 us (and waits as the protection requires).
class background_swapper {
 public:
  template <class Ops>
  void start() {
    stop_.store(false);
    swaps_.store(0);
    thread_ = std::thread([this] {
      // Default timer slack (50 us) would turn a 10 us sleep into ~60 us.
      prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
      auto next = std::chrono::steady_clock::now();
      for (int i = 1; !stop_.load(std::memory_order_relaxed); ++i) {
        Ops::swap(i & 1);
        swaps_.fetch_add(1, std::memory_order_relaxed);
        next += std::chrono::microseconds(10);
        const auto now = std::chrono::steady_clock::now();
        if (next > now) {
          std::this_thread::sleep_until(next);
        } else {
          next = now;
        }
      }
      Ops::swap(0);
    });
  }
  long stop() {
    stop_.store(true);
    thread_.join();
    return swaps_.load();
  }

 private:
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<long> swaps_{0};
};

// Calls through the hook continuously.
// Confines the calling thread to the first two CPUs it may run on (all of
// them if it may run on fewer); the oversubscribed swaps put four busy
// threads there.
void confine_to_two_cpus() {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  cpu_set_t two;
  CPU_ZERO(&two);
  int taken = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE && taken < 2; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) {
      CPU_SET(cpu, &two);
      ++taken;
    }
  }
  if (taken == 2) (void)sched_setaffinity(0, sizeof two, &two);
}

// The n-th CPU the calling thread may run on, or -1.
int allowed_cpu(int n) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
  for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed) && seen++ == n) return cpu;
  }
  return -1;
}

// Pins the calling thread to one CPU; false (and no change) if it cannot.
bool pin_to_cpu(int cpu) {
  if (cpu < 0) return false;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return sched_setaffinity(0, sizeof one, &one) == 0;
}

// The reader's CPU of a pinned one-reader swap (see hook_swap), or -1.
std::atomic<int> swap_reader_cpu{-1};

class background_reader {
 public:
  // pin_cpu >= 0: the reader runs only on that CPU.
  template <class Ops>
  void start(bool two_cpus = false, int pin_cpu = -1) {
    stop_.store(false);
    calls_.store(0);
    thread_ = std::thread([this, two_cpus, pin_cpu] {
      if (two_cpus) confine_to_two_cpus();
      if (pin_cpu >= 0) (void)pin_to_cpu(pin_cpu);
      Ops::thread_begin();
      long sum = 0;
      unsigned i = 0;
      sum += Ops::call(0);
      ready_.store(true);
      while (!stop_.load(std::memory_order_relaxed)) {
        sum += Ops::call(static_cast<int>(i));
        Ops::tick(++i);
      }
      benchmark::DoNotOptimize(sum);
      calls_.store(i);
      Ops::thread_end();
    });
    while (!ready_.load()) std::this_thread::yield();
  }
  long stop() {
    stop_.store(true);
    thread_.join();
    return calls_.load();
  }

 private:
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<long> calls_{0};
  std::atomic<bool> ready_{false};
};

// Calls through another hook whose function sleeps: the thread spends
// nearly all its time inside a call (descheduled, as far as the writer of
// an unrelated hook can tell).
class stalled_other_reader {
 public:
  template <auto& OtherPtr>
  void start() {
    stop_.store(false);
    // Each run waits for this run's thread to finish one call (so it is in
    // its next one): Google Benchmark calls the body several times, and a
    // flag left true by an earlier run let the swaps start before the new
    // thread ever ran (pinned beside a busy writer, for many thousands of
    // swaps).
    started_.store(false);
    if (!OtherPtr.is_set() && OtherPtr.publish(sleeping_hook)) std::abort();
    thread_ = std::thread([this] {
      prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
      // Beside the reader, never on the writer's CPU: there, the writer
      // that this thread's leave() wakes would preempt it between two calls
      // and swap freely for a whole time slice while no section is open.
      (void)pin_to_cpu(swap_reader_cpu.load());
      long calls = 0;
      while (!stop_.load(std::memory_order_relaxed)) {
        calls += OtherPtr.call(1).value_or(0);
        started_.store(true);
      }
      benchmark::DoNotOptimize(calls);
    });
    while (!started_.load()) std::this_thread::yield();
  }
  void stop() {
    stop_.store(true);
    thread_.join();
  }

 private:
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
};

background_swapper swapper;

// ---- the benchmark bodies -------------------------------------------------------

template <class Ops>
void hook_call(benchmark::State& state, bool with_swap) {
  Ops::thread_begin();
  if (with_swap && state.thread_index() == 0) swapper.start<Ops>();
  long sum = 0;
  unsigned i = 0;
  for (auto _ : state) {
    sum += Ops::call(static_cast<int>(i));
    Ops::tick(++i);
  }
  benchmark::DoNotOptimize(sum);
  // qsbr: go offline before anyone waits for this thread's quiescent state.
  Ops::thread_end();
  if (with_swap && state.thread_index() == 0) {
    state.counters["swaps"] = static_cast<double>(swapper.stop());
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Ops>
void hook_swap(benchmark::State& state, void (*start_stalled)() = nullptr,
               void (*stop_stalled)() = nullptr, int readers = 1, bool two_cpus = false) {
  // One reader: the writer on the first CPU, the reader on the second (a
  // vCPU thread on its own core), so every protection's swap is measured
  // with the same placement. Left to the scheduler, the two sometimes share
  // a CPU, and then a heavy fence has no other CPU to interrupt: on this
  // VM that made one run's p50 0.2 us and the next one's 20 us.
  const bool pinned = !two_cpus && readers == 1;
  cpu_set_t saved;
  const bool restore = (two_cpus || pinned) && sched_getaffinity(0, sizeof saved, &saved) == 0;
  if (two_cpus) confine_to_two_cpus();
  const int writer_cpu = pinned && restore ? allowed_cpu(0) : -1;
  const int reader_cpu = pinned && restore ? allowed_cpu(1) : -1;
  const bool placed = reader_cpu >= 0 && pin_to_cpu(writer_cpu);
  swap_reader_cpu.store(placed ? reader_cpu : -1);
  std::vector<std::unique_ptr<background_reader>> reader_threads;
  for (int r = 0; r < readers; ++r) {
    reader_threads.push_back(std::make_unique<background_reader>());
    reader_threads.back()->start<Ops>(two_cpus, placed ? reader_cpu : -1);
  }
  if (start_stalled != nullptr) start_stalled();
  std::vector<double> samples;
  samples.reserve(1 << 16);
  int which = 1;
  for (auto _ : state) {
    const auto begin = std::chrono::steady_clock::now();
    Ops::swap(which);
    const auto end = std::chrono::steady_clock::now();
    which ^= 1;
    if (samples.size() < samples.capacity()) {
      samples.push_back(std::chrono::duration<double, std::micro>(end - begin).count());
    }
  }
  Ops::swap(0);
  long calls = 0;
  for (auto& reader : reader_threads) calls += reader->stop();
  if (stop_stalled != nullptr) stop_stalled();
  if (restore) (void)sched_setaffinity(0, sizeof saved, &saved);
  std::sort(samples.begin(), samples.end());
  auto percentile = [&](double p) {
    if (samples.empty()) return 0.0;
    const auto index = static_cast<std::size_t>(p * static_cast<double>(samples.size() - 1));
    return samples[index];
  };
  state.counters["p50_us"] = percentile(0.50);
  state.counters["p99_us"] = percentile(0.99);
  state.counters["max_us"] = samples.empty() ? 0.0 : samples.back();
  state.counters["reader_calls"] = static_cast<double>(calls);
}

template <class Ops>
void register_protection(const std::string& name) {
  if constexpr (requires { Ops::publish(); }) Ops::publish();
  benchmark::RegisterBenchmark(("BM_HookCall_" + name).c_str(),
                               [](benchmark::State& s) { hook_call<Ops>(s, false); })
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime();
  benchmark::RegisterBenchmark(("BM_HookCall_" + name + "_Swap").c_str(),
                               [](benchmark::State& s) { hook_call<Ops>(s, true); })
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime();
  benchmark::RegisterBenchmark(("BM_HookSwap_" + name).c_str(),
                               [](benchmark::State& s) { hook_swap<Ops>(s); })
      ->UseRealTime();
}

stalled_other_reader stalled;

template <class Ops>
void register_oversubscribed_swap(const std::string& name) {
  benchmark::RegisterBenchmark(("BM_HookSwap_" + name + "_Oversubscribed").c_str(),
                               [](benchmark::State& s) {
                                 hook_swap<Ops>(s, nullptr, nullptr, /*readers=*/3,
                                                /*two_cpus=*/true);
                               })
      ->UseRealTime();
}

template <class Ops, auto& OtherPtr>
void register_stalled_other_hook(const std::string& name) {
  benchmark::RegisterBenchmark(("BM_HookSwap_" + name + "_StalledOtherHook").c_str(),
                               [](benchmark::State& s) {
                                 hook_swap<Ops>(
                                     s, [] { stalled.start<OtherPtr>(); },
                                     [] { stalled.stop(); });
                               })
      ->UseRealTime();
}

// One read section per iteration, opened three ways; the load inside keeps
// the section from being empty to the compiler.
std::atomic<int> section_word{1};
void rcu_section_guard(benchmark::State& state) {
  for (auto _ : state) {
    ordo::rcu_read_guard guard;
    benchmark::DoNotOptimize(section_word.load(std::memory_order_acquire));
  }
}
void rcu_section_read_lock(benchmark::State& state) {
  ordo::rcu_domain& domain = ordo::rcu_default_domain();
  for (auto _ : state) {
    domain.read_lock();
    benchmark::DoNotOptimize(section_word.load(std::memory_order_acquire));
    domain.read_unlock();
  }
}
void rcu_section_lockable(benchmark::State& state) {
  ordo::rcu_domain& domain = ordo::rcu_default_domain();
  for (auto _ : state) {
    std::scoped_lock region(domain);
    benchmark::DoNotOptimize(section_word.load(std::memory_order_acquire));
  }
}

const bool registered = [] {
  benchmark::RegisterBenchmark("BM_RcuSection_Guard", rcu_section_guard)->Threads(1)->Threads(2)->UseRealTime();
  benchmark::RegisterBenchmark("BM_RcuSection_ReadLock", rcu_section_read_lock)->Threads(1)->Threads(2)->UseRealTime();
  benchmark::RegisterBenchmark("BM_RcuSection_Lockable", rcu_section_lockable)->Threads(1)->Threads(2)->UseRealTime();
  register_protection<raw_ops>("Raw");
  register_protection<unprotected_ops>("Unprotected");
  register_protection<owner_ref_ops>("OwnerRef");
  register_protection<rw_ops>("RwProtect");
  register_protection<rcu_ops>("Rcu");
  register_protection<rcu_fallback_ops>("RcuFallback");
  register_protection<hazard_ops>("Hazptr");
  register_stalled_other_hook<rcu_ops, other_rcu_ptr>("Rcu");
  register_stalled_other_hook<hazard_ops, other_hazard_ptr>("Hazptr");
  register_protection<std_mutex_ops>("StdMutex");
  register_protection<shared_mutex_ops>("SharedMutex");
  register_protection<absl_ops>("AbslReaderLock");
  register_protection<atomic_shared_ptr_ops>("AtomicSharedPtr");
  register_protection<urcu_memb_ops>("UrcuMemb");
  register_protection<urcu_qsbr_ops>("UrcuQsbr");
  register_oversubscribed_swap<rcu_ops>("Rcu");
  register_oversubscribed_swap<urcu_memb_ops>("UrcuMemb");
  ordo_bench::register_membarrier_benchmark();
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
