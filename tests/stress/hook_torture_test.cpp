// Torture test for ordo::hook_ptr, in the spirit of liburcu's rcutorture: a
// writer publishes a new hook object, exchanges, waits as the protection
// requires, poisons the old object and frees it, in a loop; readers call
// through the hook and check they never observe poison. Bounded in time
// (ORDO_TORTURE_MS, default 1500 ms per protection) and sized for 2 cores:
// 2 readers and 1 writer. Under ASan a reader touching a freed object is a
// heap-use-after-free; under TSan a free not ordered after the calls is a
// race report; in every build a poisoned read fails the test.
//
// Protections that claim safety are tortured: rcu_protect (membarrier and
// forced fallback), hazard_protect (also beside a call of another hook that
// never returns), rw_protect, and owner_ref for what it claims (the owner
// module's data is freed by its exit function; the hook objects themselves
// live as long as the test, since owner_ref pins code, not the hook). The
// last test demonstrates that unprotected does not protect: on objects that
// are never freed (so the demonstration is not undefined behaviour) readers
// do observe the poison.
#include <ordo/hook.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <string>
#include <thread>
#include <vector>
#include "expect_ok.hpp"

namespace {

using namespace std::chrono_literals;

constexpr long alive = 0x600d600d;
constexpr long poison = 0x0dead0de;

std::chrono::milliseconds torture_duration() {
  if (const char* env = std::getenv("ORDO_TORTURE_MS")) {
    const long ms = std::strtol(env, nullptr, 10);
    if (ms > 0) return std::chrono::milliseconds(ms);
  }
  return 1500ms;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

std::atomic<long> poisoned_reads{0};

// Reads its own state twice with a pause in between (to widen the window in
// which a premature free would be seen). Plain (volatile) reads: TSan checks
// them against the writer's plain poison store and free.
struct victim {
  explicit victim(long s, ordo::module* owner = nullptr)
      : serial(s), hook(ordo::hook<long(long)>::bind<&victim::observe>(*this, owner)) {}
  long observe(long x) {
    const volatile long* p = &state;
    const long first = *p;
    for (int i = 0; i < 32; ++i) cpu_relax();
    const long second = *p;
    if (first != alive || second != alive) poisoned_reads.fetch_add(1);
    return serial + x;
  }
  long state = alive;
  long serial;
  ordo::hook<long(long)> hook;
};

victim* owner_of(ordo::hook<long(long)>* h) { return static_cast<victim*>(h->context()); }

struct torture_result {
  long calls = 0;
  long empty_calls = 0;
  long swaps = 0;
};

// Runs `readers` threads calling through `ptr` while `writer_step` runs in
// this thread until the deadline.
template <class Ptr, class WriterStep>
torture_result run_torture(Ptr& ptr, WriterStep writer_step, int readers = 2) {
  std::atomic<bool> stop{false};
  std::atomic<long> calls{0}, empty{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      long mine = 0, none = 0;
      for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        if (ptr.call(i + r).has_value()) {
          ++mine;
        } else {
          ++none;
        }
      }
      calls.fetch_add(mine);
      empty.fetch_add(none);
    });
  }
  torture_result result;
  const auto deadline = std::chrono::steady_clock::now() + torture_duration();
  while (std::chrono::steady_clock::now() < deadline) {
    writer_step(result.swaps);
    ++result.swaps;
  }
  stop = true;
  for (auto& t : threads) t.join();
  result.calls = calls.load();
  result.empty_calls = empty.load();
  return result;
}

// Exchange (even steps) or clear-then-publish (odd steps), then poison and
// free what was replaced: the protection must have waited for its calls.
template <class Protection>
void torture_waiting_protection(ordo::hook_ptr<long(long), Protection>& ptr) {
  poisoned_reads = 0;
  auto* first = new victim(0);
  ASSERT_OK(ptr.publish(first->hook));
  auto result = run_torture(ptr, [&](long step) {
    auto* next = new victim(step + 1);
    ordo::hook<long(long)>* previous = nullptr;
    if (step % 2 == 0) {
      auto r = ptr.exchange(next->hook);
      ASSERT_OK(r.error);
      previous = r.previous;
    } else {
      auto r = ptr.clear();
      ASSERT_OK(r.error);
      previous = r.previous;
      ASSERT_OK(ptr.publish(next->hook));
    }
    ASSERT_NE(previous, nullptr);
    victim* old = owner_of(previous);
    old->state = poison;  // plain store: must be ordered after every call
    delete old;
  });
  auto last = ptr.clear();
  delete owner_of(last.previous);
  EXPECT_EQ(poisoned_reads.load(), 0);
  EXPECT_GT(result.swaps, 10);
  EXPECT_GT(result.calls, 100);
  testing::Test::RecordProperty("swaps", std::to_string(result.swaps));
  testing::Test::RecordProperty("calls", std::to_string(result.calls));
}

TEST(HookTorture, RcuProtectNeverCallsAFreedHook) {
  ordo::rcu_domain domain;
  ordo::hook_ptr<long(long), ordo::rcu_protect> ptr(domain);
  torture_waiting_protection(ptr);
}

// Two writers exchange the same hook at once: their grace periods are shared
// (rcu.hpp O5), and each frees what its own exchange returned.
void torture_two_writers(ordo::rcu_domain& domain) {
  ordo::hook_ptr<long(long), ordo::rcu_protect> ptr(domain);
  poisoned_reads = 0;
  ASSERT_OK(ptr.publish((new victim(0))->hook));
  std::atomic<long> errors{0};
  auto swap_once = [&](long serial) {
    auto* next = new victim(serial);
    auto r = ptr.exchange(next->hook);
    if (r.error || r.previous == nullptr) {
      errors.fetch_add(1);
      return;
    }
    victim* old = owner_of(r.previous);
    old->state = poison;  // plain store: must be ordered after every call
    delete old;
  };
  std::atomic<bool> stop{false};
  std::atomic<long> second_swaps{0};
  std::thread second([&] {
    for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      swap_once(-1 - i);
      second_swaps.fetch_add(1, std::memory_order_relaxed);
    }
  });
  auto result = run_torture(ptr, [&](long step) { swap_once(step + 1); });
  stop = true;
  second.join();
  delete owner_of(ptr.clear().previous);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(poisoned_reads.load(), 0);
  EXPECT_GT(result.swaps, 10);
  EXPECT_GT(second_swaps.load(), 10);
  EXPECT_GT(result.calls, 100);
}

TEST(HookTorture, RcuProtectWithTwoWritersNeverCallsAFreedHook) {
  ordo::rcu_domain domain;
  torture_two_writers(domain);
}

TEST(HookTorture, RcuProtectInFallbackModeNeverCallsAFreedHook) {
  ordo::rcu_domain domain(ordo::rcu_domain_options{.fence = ordo::rcu_fence::fallback});
  ASSERT_EQ(domain.fence_mode(), ordo::rcu_fence_mode::fallback);
  ordo::hook_ptr<long(long), ordo::rcu_protect> ptr(domain);
  torture_waiting_protection(ptr);
}

TEST(HookTorture, RcuProtectInDefaultDomainNeverCallsAFreedHook) {
  ordo::hook_ptr<long(long), ordo::rcu_protect> ptr;
  torture_waiting_protection(ptr);
}

TEST(HookTorture, HazardProtectNeverCallsAFreedHook) {
  ordo::hook_ptr<long(long), ordo::hazard_protect> ptr;
  torture_waiting_protection(ptr);
}

// The same, while a third thread sits inside a call of ANOTHER
// hazard_protect hook for the whole run: clear() must not wait for it (if it
// did, the writer would make no progress and `swaps` would stay 0).
TEST(HookTorture, HazardProtectIgnoresAStuckCallOfAnotherHook) {
  std::atomic<bool> inside{false}, release{false};
  auto stuck_body = [&](long x) {
    inside = true;
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return x;
  };
  auto stuck_hook = ordo::hook<long(long)>::from_callable(stuck_body);
  ordo::hook_ptr<long(long), ordo::hazard_protect> other;
  ASSERT_OK(other.publish(stuck_hook));
  std::thread stuck([&] { (void)other.call(0); });
  while (!inside.load()) std::this_thread::yield();
  ordo::hook_ptr<long(long), ordo::hazard_protect> ptr;
  torture_waiting_protection(ptr);
  release = true;
  stuck.join();
  EXPECT_EQ(other.clear().previous, &stuck_hook);
}

TEST(HookTorture, RwProtectNeverCallsAFreedHook) {
  ordo::hook_ptr<long(long), ordo::rw_protect> ptr;
  torture_waiting_protection(ptr);
}

// owner_ref: each generation is a module whose exit function poisons and
// frees the data its hook uses. The writer publishes the next generation's
// hook and unloads the previous module (which waits for pinned calls). The
// hook objects themselves are never freed: owner_ref does not protect them.
TEST(HookTorture, OwnerRefNeverRunsCodeOfAnUnloadedModule) {
  poisoned_reads = 0;
  ordo::module_registry modules;
  std::deque<ordo::hook<long(long)>> hooks;  // stable addresses, kept to the end
  auto load_generation = [&](long generation) -> ordo::hook<long(long)>& {
    victim* data = nullptr;
    const std::string name = "vfio_ap." + std::to_string(generation);
    EXPECT_OK(modules.load(name, [&](ordo::module_loader& loader) {
      data = new victim(generation, &loader.self());
      loader.on_exit([data] {
        data->state = poison;  // after every pinned call (module.hpp O2)
        delete data;
      });
    }));
    return hooks.emplace_back(data->hook);
  };
  ordo::hook_ptr<long(long), ordo::owner_ref> ptr;
  ASSERT_OK(ptr.publish(load_generation(0)));
  auto result = run_torture(ptr, [&](long step) {
    auto r = ptr.exchange(load_generation(step + 1));
    ASSERT_OK(r.error);
    ASSERT_OK(modules.unload("vfio_ap." + std::to_string(step)));
  });
  (void)ptr.clear();
  EXPECT_EQ(poisoned_reads.load(), 0);
  EXPECT_GT(result.swaps, 10);
  EXPECT_GT(result.calls, 100);
}

// unprotected: the same loop, except nothing waits. Objects come from a
// two-element pool and are poisoned (atomically, never freed) right after
// they are replaced, then revived before reuse. Readers do see the poison:
// unprotected guarantees nothing about the lifetime of the hook it called.
struct pooled_victim {
  long observe(long x) {
    const long first = std::atomic_ref<long>(state).load(std::memory_order_relaxed);
    for (int i = 0; i < 256; ++i) cpu_relax();
    const long second = std::atomic_ref<long>(state).load(std::memory_order_relaxed);
    if (first != alive || second != alive) poisoned_reads.fetch_add(1);
    return x;
  }
  alignas(std::atomic_ref<long>::required_alignment) long state = alive;
  ordo::hook<long(long)> hook = ordo::hook<long(long)>::bind<&pooled_victim::observe>(*this);
};

TEST(HookTorture, UnprotectedDoesObservePoison) {
  poisoned_reads = 0;
  pooled_victim pool[2];
  ordo::hook_ptr<long(long), ordo::unprotected> ptr;
  ASSERT_OK(ptr.publish(pool[0].hook));
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) (void)ptr.call(i);
    });
  }
  // Until the poison has been seen, bounded by the torture duration (x3).
  const auto deadline = std::chrono::steady_clock::now() + 3 * torture_duration();
  for (int step = 1;
       poisoned_reads.load() == 0 && std::chrono::steady_clock::now() < deadline; ++step) {
    pooled_victim& next = pool[step % 2];
    pooled_victim& old = pool[(step + 1) % 2];
    std::atomic_ref<long>(next.state).store(alive, std::memory_order_relaxed);  // revive
    auto r = ptr.exchange(next.hook);  // returns at once: calls of `old` may run
    ASSERT_EQ(r.previous, &old.hook);
    std::atomic_ref<long>(old.state).store(poison, std::memory_order_relaxed);
    std::this_thread::sleep_for(20us);
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(poisoned_reads.load(), 0)
      << "no reader observed a replaced hook: unexpected for unprotected";
}

}  // namespace
