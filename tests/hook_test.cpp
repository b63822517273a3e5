// Tests for ordo/hook.hpp: hooks with context, hook_ptr under each
// protection, waiting guarantees, misuse detection.
#include <ordo/hook.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include "expect_ok.hpp"

namespace {

using namespace std::chrono_literals;

struct vcpu {
  int id;
};

// The vfio-ap shape: the mdev embeds its hook, bound to itself.
struct mdev {
  int response_base;
  int handle_pqap(vcpu& v, std::uint16_t apqn) { return response_base + v.id + apqn; }
  ordo::hook<int(vcpu&, std::uint16_t)> pqap_hook =
      ordo::hook<int(vcpu&, std::uint16_t)>::bind<&mdev::handle_pqap>(*this);
};

TEST(HookPtr, ExampleFromHeader) {
  mdev m{100};
  vcpu v{1};
  ordo::hook_ptr<int(vcpu&, std::uint16_t), ordo::rcu_protect> pqap_hook_ptr;
  ASSERT_OK(pqap_hook_ptr.publish(m.pqap_hook));
  std::optional<int> rc = pqap_hook_ptr.call(v, 0x0105);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 100 + 1 + 0x0105);
  auto old = pqap_hook_ptr.clear();
  EXPECT_OK(old.error);
  EXPECT_EQ(old.previous, &m.pqap_hook);
  EXPECT_FALSE(pqap_hook_ptr.call(v, 0x0105).has_value());
}

// Two mdevs, one hook pointer: call(vcpu, apqn) reaches the mdev that owns
// the published hook.
TEST(HookPtr, CallReachesTheOwningContext) {
  mdev a{1000}, b{2000};
  vcpu v{3};
  ordo::hook_ptr<int(vcpu&, std::uint16_t), ordo::rcu_protect> ptr;
  ASSERT_OK(ptr.publish(a.pqap_hook));
  EXPECT_EQ(ptr.call(v, 4), 1007);
  auto r = ptr.exchange(b.pqap_hook);
  EXPECT_EQ(r.previous, &a.pqap_hook);
  EXPECT_EQ(ptr.call(v, 4), 2007);
}

int add_context(int& base, int x) { return base + x; }
int twice(int x) { return 2 * x; }

TEST(Hook, FormsOfFunction) {
  int base = 40;
  ordo::hook<int(int)> with_context(&add_context, base);
  EXPECT_EQ(with_context(2), 42);
  EXPECT_EQ(with_context.context(), &base);
  ordo::hook<int(int)> plain(&twice);
  EXPECT_EQ(plain(21), 42);
  auto lambda = [&base](int x) { return base - x; };
  auto callable = ordo::hook<int(int)>::from_callable(lambda);
  EXPECT_EQ(callable(1), 39);
  ordo::hook<int(int)> empty;
  EXPECT_FALSE(empty.has_function());
  ordo::hook<int(int)> null_plain(static_cast<int (*)(int)>(nullptr));
  EXPECT_FALSE(null_plain.has_function());
  EXPECT_EQ(plain.owner(), nullptr);
}

// ---- behaviour common to every protection ----------------------------------

template <class P>
class HookPtrEach : public testing::Test {};
using protections =
    testing::Types<ordo::unprotected, ordo::owner_ref, ordo::rw_protect, ordo::rcu_protect,
                   ordo::hazard_protect>;
TYPED_TEST_SUITE(HookPtrEach, protections);

TYPED_TEST(HookPtrEach, EmptyCallReturnsEmpty) {
  ordo::hook_ptr<int(int), TypeParam> ptr;
  EXPECT_FALSE(ptr.is_set());
  EXPECT_FALSE(ptr.call(1).has_value());
  auto cleared = ptr.clear();
  EXPECT_OK(cleared.error);
  EXPECT_EQ(cleared.previous, nullptr);
}

TYPED_TEST(HookPtrEach, PublishCallExchangeClear) {
  int base1 = 10, base2 = 20;
  ordo::hook<int(int)> h1(&add_context, base1), h2(&add_context, base2);
  ordo::hook_ptr<int(int), TypeParam> ptr;
  EXPECT_OK(ptr.publish(h1));
  EXPECT_TRUE(ptr.is_set());
  EXPECT_EQ(ptr.call(1), 11);
  auto swapped = ptr.exchange(h2);
  EXPECT_TRUE(swapped);
  EXPECT_EQ(swapped.previous, &h1);
  EXPECT_EQ(ptr.call(1), 21);
  auto cleared = ptr.clear();
  EXPECT_EQ(cleared.previous, &h2);
  EXPECT_FALSE(ptr.is_set());
}

TYPED_TEST(HookPtrEach, PublishNeverReplacesASetHook) {
  int base1 = 10, base2 = 20;
  ordo::hook<int(int)> h1(&add_context, base1), h2(&add_context, base2);
  ordo::hook_ptr<int(int), TypeParam> ptr;
  ASSERT_OK(ptr.publish(h1));
  EXPECT_EQ(ptr.publish(h2), std::errc::operation_not_permitted);
  EXPECT_EQ(ptr.call(0), 10);  // unchanged
}

TYPED_TEST(HookPtrEach, HookWithoutFunctionIsRejected) {
  ordo::hook<int(int)> empty;
  ordo::hook_ptr<int(int), TypeParam> ptr;
  EXPECT_EQ(ptr.publish(empty), std::errc::invalid_argument);
  EXPECT_FALSE(ptr.is_set());
  auto r = ptr.exchange(empty);
  EXPECT_EQ(r.error, std::errc::invalid_argument);
  EXPECT_FALSE(ptr.is_set());
}

TYPED_TEST(HookPtrEach, VoidHooksReturnWhetherTheyRan) {
  int calls = 0;
  auto count = [&calls](int n) { calls += n; };
  auto h = ordo::hook<void(int)>::from_callable(count);
  ordo::hook_ptr<void(int), TypeParam> ptr;
  EXPECT_FALSE(ptr.call(1));
  ASSERT_OK(ptr.publish(h));
  EXPECT_TRUE(ptr.call(2));
  EXPECT_EQ(calls, 2);
}

TYPED_TEST(HookPtrEach, ExceptionsPropagateAndReleaseTheProtection) {
  auto thrower = [](int) -> int { throw std::runtime_error("hook failed"); };
  auto h = ordo::hook<int(int)>::from_callable(thrower);
  ordo::hook_ptr<int(int), TypeParam> ptr;
  ASSERT_OK(ptr.publish(h));
  EXPECT_THROW((void)ptr.call(1), std::runtime_error);
  // The protection was released: clearing neither deadlocks nor reports.
  auto cleared = ptr.clear();
  EXPECT_OK(cleared.error);
  if constexpr (std::is_same_v<TypeParam, ordo::rcu_protect>) {
    EXPECT_FALSE(ptr.domain().in_read_section());
  }
}

TYPED_TEST(HookPtrEach, MoveOnlyArgumentsAndResults) {
  auto take = [](std::unique_ptr<int> p) { return std::make_unique<int>(*p + 1); };
  auto h = ordo::hook<std::unique_ptr<int>(std::unique_ptr<int>)>::from_callable(take);
  ordo::hook_ptr<std::unique_ptr<int>(std::unique_ptr<int>), TypeParam> ptr;
  ASSERT_OK(ptr.publish(h));
  auto r = ptr.call(std::make_unique<int>(41));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(**r, 42);
}

// ---- waiting guarantees -----------------------------------------------------

template <class Pred>
bool becomes_true_within(Pred done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

// A hook whose call blocks until released.
struct blocking_hook {
  std::atomic<bool> inside{false}, release{false};
  int operator()(int x) {
    inside = true;
    while (!release.load()) std::this_thread::yield();
    return x;
  }
};

template <class P>
class HookPtrWaiting : public testing::Test {};
using waiting_protections =
    testing::Types<ordo::rw_protect, ordo::rcu_protect, ordo::hazard_protect>;
TYPED_TEST_SUITE(HookPtrWaiting, waiting_protections);

TYPED_TEST(HookPtrWaiting, ClearReturnsOnlyAfterTheCallInFlight) {
  blocking_hook body;
  auto h = ordo::hook<int(int)>::from_callable(body);
  ordo::hook_ptr<int(int), TypeParam> ptr;
  ASSERT_OK(ptr.publish(h));
  std::thread caller([&] { EXPECT_EQ(ptr.call(5), 5); });
  while (!body.inside.load()) std::this_thread::yield();
  std::atomic<bool> cleared{false};
  std::thread writer([&] {
    auto r = ptr.clear();
    EXPECT_EQ(r.previous, &h);
    cleared = true;
  });
  EXPECT_FALSE(becomes_true_within([&] { return cleared.load(); }, 100ms));
  body.release = true;
  caller.join();
  writer.join();
  EXPECT_TRUE(cleared.load());
}

TYPED_TEST(HookPtrWaiting, ClearFromInsideTheCallIsReportedNotADeadlock) {
  static std::atomic<int> reports;
  reports = 0;
  auto previous = ordo::set_hook_report_handler([](const ordo::hook_report& r) {
    if (r.kind == ordo::hook_report_kind::exchange_inside_call) reports.fetch_add(1);
  });
  ordo::hook_ptr<int(int), TypeParam> ptr;
  int other_base = 7;
  ordo::hook<int(int)> other(&add_context, other_base);
  std::error_code clear_error, exchange_error;
  auto self_clear = [&](int x) {
    clear_error = ptr.clear().error;
    exchange_error = ptr.exchange(other).error;
    return x;
  };
  auto h = ordo::hook<int(int)>::from_callable(self_clear);
  ASSERT_OK(ptr.publish(h));
  EXPECT_EQ(ptr.call(3), 3);
  EXPECT_EQ(clear_error, std::errc::resource_deadlock_would_occur);
  EXPECT_EQ(exchange_error, std::errc::resource_deadlock_would_occur);
  EXPECT_EQ(reports.load(), 2);
  EXPECT_TRUE(ptr.is_set());  // nothing changed
  EXPECT_EQ(ptr.clear().previous, &h);
  ordo::set_hook_report_handler(previous);
}

TEST(HookPtr, RcuClearInsideAnotherHookOfTheSameDomainIsReported) {
  static std::atomic<int> reports;
  reports = 0;
  auto previous = ordo::set_hook_report_handler(
      [](const ordo::hook_report&) { reports.fetch_add(1); });
  ordo::rcu_domain domain;
  ordo::hook_ptr<int(int), ordo::rcu_protect> first(domain), second(domain);
  int base = 1;
  ordo::hook<int(int)> plain(&add_context, base);
  ASSERT_OK(second.publish(plain));
  std::error_code error;
  auto clear_second = [&](int x) {
    error = second.clear().error;
    return x;
  };
  auto h = ordo::hook<int(int)>::from_callable(clear_second);
  ASSERT_OK(first.publish(h));
  EXPECT_EQ(first.call(1), 1);
  EXPECT_EQ(error, std::errc::resource_deadlock_would_occur);
  EXPECT_EQ(reports.load(), 1);
  EXPECT_TRUE(second.is_set());
  ordo::set_hook_report_handler(previous);
}

TEST(HookPtr, RwRecursiveCallIsReportedAndNotMade) {
  static std::atomic<int> reports;
  reports = 0;
  auto previous = ordo::set_hook_report_handler([](const ordo::hook_report& r) {
    if (r.kind == ordo::hook_report_kind::recursive_call) reports.fetch_add(1);
  });
  ordo::hook_ptr<int(int), ordo::rw_protect> ptr;
  std::optional<int> inner;
  auto recurse = [&](int x) {
    inner = ptr.call(x + 1);
    return x;
  };
  auto h = ordo::hook<int(int)>::from_callable(recurse);
  ASSERT_OK(ptr.publish(h));
  EXPECT_EQ(ptr.call(1), 1);
  EXPECT_FALSE(inner.has_value());
  EXPECT_EQ(reports.load(), 1);
  ordo::set_hook_report_handler(previous);
}

TEST(HookPtr, RwProtectWritersAreNotStarvedByOverlappingCalls) {
  // Two callers whose calls always overlap: a reader-preferring lock (glibc's
  // default, std::shared_mutex) never lets exchange() in, and this test
  // would hang until the CTest timeout. rw_protect prefers writers.
  auto slow = [](int x) {
    std::this_thread::sleep_for(100us);
    return x;
  };
  auto h1 = ordo::hook<int(int)>::from_callable(slow);
  auto h2 = ordo::hook<int(int)>::from_callable(slow);
  ordo::hook_ptr<int(int), ordo::rw_protect> ptr;
  ASSERT_OK(ptr.publish(h1));
  std::atomic<bool> stop{false};
  std::vector<std::thread> callers;
  for (int i = 0; i < 2; ++i) {
    callers.emplace_back([&] {
      while (!stop.load()) (void)ptr.call(1);
    });
  }
  for (int i = 0; i < 50; ++i) {
    auto r = ptr.exchange(i % 2 == 0 ? h2 : h1);
    EXPECT_OK(r.error);
  }
  stop = true;
  for (auto& t : callers) t.join();
}

TEST(HookPtr, UnprotectedClearDoesNotWaitForCallsInFlight) {
  // The demonstration that unprotected guarantees nothing: clear() returns
  // while a call through the old hook is still running, so freeing the hook
  // (or its context) here would be a use-after-free in the caller.
  blocking_hook body;
  auto h = ordo::hook<int(int)>::from_callable(body);
  ordo::hook_ptr<int(int), ordo::unprotected> ptr;
  ASSERT_OK(ptr.publish(h));
  std::thread caller([&] { EXPECT_EQ(ptr.call(5), 5); });
  while (!body.inside.load()) std::this_thread::yield();
  auto r = ptr.clear();  // returns at once
  EXPECT_EQ(r.previous, &h);
  EXPECT_FALSE(body.release.load());  // the call is still in flight
  body.release = true;
  caller.join();
}

TEST(HookPtr, UnprotectedAndOwnerRefMayClearFromInsideTheirCall) {
  // They never wait, so clearing from inside is harmless and not reported.
  ordo::hook_ptr<int(int), ordo::unprotected> a;
  auto clear_a = [&](int x) { return a.clear().error ? -1 : x; };
  auto ha = ordo::hook<int(int)>::from_callable(clear_a);
  ASSERT_OK(a.publish(ha));
  EXPECT_EQ(a.call(4), 4);
  EXPECT_FALSE(a.is_set());
  ordo::hook_ptr<int(int), ordo::owner_ref> b;
  auto clear_b = [&](int x) { return b.clear().error ? -1 : x; };
  auto hb = ordo::hook<int(int)>::from_callable(clear_b);
  ASSERT_OK(b.publish(hb));
  EXPECT_EQ(b.call(4), 4);
  EXPECT_FALSE(b.is_set());
}

TEST(HookPtr, RcuClearIsNotStalledByAReaderOfAnotherDomain) {
  ordo::rcu_domain hooks_domain, other_domain;
  ordo::hook_ptr<int(int), ordo::rcu_protect> ptr(hooks_domain);
  EXPECT_EQ(&ptr.domain(), &hooks_domain);
  int base = 1;
  ordo::hook<int(int)> h(&add_context, base);
  ASSERT_OK(ptr.publish(h));
  std::atomic<bool> inside{false}, release{false};
  std::thread slow([&] {
    ordo::rcu_read_guard guard(other_domain);
    inside = true;
    while (!release.load()) std::this_thread::yield();
  });
  while (!inside.load()) std::this_thread::yield();
  EXPECT_EQ(ptr.call(1), 2);
  EXPECT_EQ(ptr.clear().previous, &h);  // returns although `slow` is inside
  release = true;
  slow.join();
}

// hazard_protect waits only for calls that hold the old hook: a call of
// another hook that never returns (a descheduled vCPU of another guest)
// does not delay clear().
TEST(HookPtr, HazardClearIsNotStalledByACallOfAnotherHook) {
  ordo::hook_ptr<int(int), ordo::hazard_protect> ptr, other_ptr;
  int base = 1;
  ordo::hook<int(int)> h(&add_context, base);
  ASSERT_OK(ptr.publish(h));
  blocking_hook body;
  auto stuck = ordo::hook<int(int)>::from_callable(body);
  ASSERT_OK(other_ptr.publish(stuck));
  std::thread slow([&] { EXPECT_EQ(other_ptr.call(4), 4); });
  while (!body.inside.load()) std::this_thread::yield();
  EXPECT_EQ(ptr.call(1), 2);
  EXPECT_EQ(ptr.clear().previous, &h);  // returns although `slow` is inside its call
  body.release = true;
  slow.join();
  EXPECT_EQ(other_ptr.clear().previous, &stuck);
}

// The same hook object published in two hook_ptrs: clearing one from inside
// a call of the other would wait for the call it runs in.
TEST(HookPtr, HazardClearOfAHookThisThreadIsCallingIsReportedWhateverThePointer) {
  static std::atomic<int> reports;
  reports = 0;
  auto previous = ordo::set_hook_report_handler(
      [](const ordo::hook_report&) { reports.fetch_add(1); });
  ordo::hook_ptr<int(int), ordo::hazard_protect> first, second;
  std::error_code error;
  auto clear_second = [&](int x) {
    error = second.clear().error;
    return x;
  };
  auto h = ordo::hook<int(int)>::from_callable(clear_second);
  ASSERT_OK(first.publish(h));
  ASSERT_OK(second.publish(h));
  EXPECT_EQ(first.call(1), 1);
  EXPECT_EQ(error, std::errc::resource_deadlock_would_occur);
  EXPECT_EQ(reports.load(), 1);
  EXPECT_TRUE(second.is_set());
  ordo::set_hook_report_handler(previous);
  EXPECT_EQ(first.clear().previous, &h);
  EXPECT_EQ(second.clear().previous, &h);
}

// But clearing ANOTHER hook from inside a call is fine with hazard_protect
// (with rcu_protect it is EDEADLK when both share a domain).
TEST(HookPtr, HazardClearOfAnotherHookFromInsideACallSucceeds) {
  ordo::hook_ptr<int(int), ordo::hazard_protect> first, second;
  int base = 1;
  ordo::hook<int(int)> plain(&add_context, base);
  ASSERT_OK(second.publish(plain));
  ordo::hook_ptr<int(int), ordo::hazard_protect>::exchange_result result;
  auto clear_second = [&](int x) {
    result = second.clear();
    return x;
  };
  auto h = ordo::hook<int(int)>::from_callable(clear_second);
  ASSERT_OK(first.publish(h));
  EXPECT_EQ(first.call(1), 1);
  EXPECT_OK(result.error);
  EXPECT_EQ(result.previous, &plain);
  EXPECT_FALSE(second.is_set());
  EXPECT_EQ(first.clear().previous, &h);
}

// Calls nested deeper than the per-thread slots (8) still protect their hook
// and are still seen by the EDEADLK check, and so are the outer calls that
// hold the thread's own slots: the outermost call's slot (hook_top) and the
// chained ones (walked up to the next free one). Run twice: every slot is
// free again after the outermost call returns.
TEST(HookPtr, HazardCallsNestDeeplyAndTheInnermostIsStillChecked) {
  static std::atomic<int> reports;
  reports = 0;
  auto previous = ordo::set_hook_report_handler(
      [](const ordo::hook_report&) { reports.fetch_add(1); });
  constexpr int depth = 12;
  ordo::hook_ptr<int(int), ordo::hazard_protect> ptrs[depth];
  std::error_code innermost_error;
  std::error_code outer_error;
  std::error_code outermost_error;
  auto nest = [&](int level) -> int {
    if (level + 1 < depth) return ptrs[level + 1].call(level + 1).value_or(-1);
    innermost_error = ptrs[level].clear().error;  // its own hook: EDEADLK
    outer_error = ptrs[3].clear().error;          // held by a chained slot: EDEADLK
    outermost_error = ptrs[0].clear().error;      // held by hook_top: EDEADLK
    return level;
  };
  auto h = ordo::hook<int(int)>::from_callable(nest);
  std::vector<ordo::hook<int(int)>> hooks(depth, h);
  for (int i = 0; i < depth; ++i) ASSERT_OK(ptrs[i].publish(hooks[i]));
  for (int round = 1; round <= 2; ++round) {
    innermost_error = outer_error = outermost_error = {};
    EXPECT_EQ(ptrs[0].call(0), depth - 1);
    EXPECT_EQ(innermost_error, std::errc::resource_deadlock_would_occur);
    EXPECT_EQ(outer_error, std::errc::resource_deadlock_would_occur);
    EXPECT_EQ(outermost_error, std::errc::resource_deadlock_would_occur);
    EXPECT_EQ(reports.load(), 3 * round);
  }
  for (int i = 0; i < depth; ++i) EXPECT_EQ(ptrs[i].clear().previous, &hooks[i]);
  ordo::set_hook_report_handler(previous);
}

// Exchanging a hook for itself frees nothing, so it does not wait, not even
// from inside a call of that hook (where waiting would be a deadlock).
TEST(HookPtr, HazardExchangeOfAHookForItselfReturnsAtOnce) {
  ordo::hook_ptr<int(int), ordo::hazard_protect> ptr;
  ordo::hook<int(int)> h;
  ordo::hook_ptr<int(int), ordo::hazard_protect>::exchange_result result;
  auto same = [&](int x) {
    result = ptr.exchange(h);
    return x;
  };
  h = ordo::hook<int(int)>::from_callable(same);
  ASSERT_OK(ptr.publish(h));
  EXPECT_EQ(ptr.call(5), 5);
  EXPECT_OK(result.error);
  EXPECT_EQ(result.previous, &h);
  EXPECT_EQ(ptr.clear().previous, &h);
}

TEST(HookPtr, RcuHookInFallbackDomain) {
  ordo::rcu_domain domain(ordo::rcu_domain_options{.fence = ordo::rcu_fence::fallback});
  ordo::hook_ptr<int(int), ordo::rcu_protect> ptr(domain);
  int base = 5;
  ordo::hook<int(int)> h(&add_context, base);
  ASSERT_OK(ptr.publish(h));
  EXPECT_EQ(ptr.call(1), 6);
  EXPECT_EQ(ptr.clear().previous, &h);
}

// ---- owner_ref ----------------------------------------------------------------

TEST(HookPtr, OwnerRefPinsTheOwnerDuringTheCallAndFailsOnceItIsGoing) {
  ordo::module_registry modules;
  ASSERT_OK(modules.load("vfio_ap", [](ordo::module_loader&) {}));
  ordo::module* owner = modules.find("vfio_ap");
  ASSERT_NE(owner, nullptr);
  std::uint32_t pins_during_call = 0;
  std::atomic<bool> inside{false}, release{false};
  std::atomic<int> calls{0};
  auto body = [&](int x) {
    calls.fetch_add(1);
    if (x != 9) return x;  // only the first call waits
    pins_during_call = owner->refcount();
    inside = true;
    while (!release.load()) std::this_thread::yield();
    return x;
  };
  auto h = ordo::hook<int(int)>::from_callable(body, owner);
  EXPECT_EQ(h.owner(), owner);
  ordo::hook_ptr<int(int), ordo::owner_ref> ptr;
  ASSERT_OK(ptr.publish(h));
  std::thread caller([&] { EXPECT_EQ(ptr.call(9), 9); });
  while (!inside.load()) std::this_thread::yield();
  EXPECT_EQ(pins_during_call, 1u);
  std::atomic<bool> unloaded{false};
  std::thread unloader([&] {
    EXPECT_OK(modules.unload("vfio_ap"));  // waits for the pin
    unloaded = true;
  });
  EXPECT_FALSE(becomes_true_within([&] { return unloaded.load(); }, 100ms));
  // While the owner is going, new calls fail (try_module_get fails).
  ASSERT_TRUE(becomes_true_within(
      [&] { return owner->state() == ordo::module_state::going; }, 5000ms));
  EXPECT_FALSE(ptr.call(2).has_value());  // made while going: not called
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(owner->refcount(), 1u);  // the failed call left no pin
  release = true;
  caller.join();
  unloader.join();
  EXPECT_TRUE(unloaded.load());
  EXPECT_FALSE(ptr.call(1).has_value());  // owner gone: the call fails
  EXPECT_TRUE(ptr.is_set());              // the pointer itself is untouched
  EXPECT_EQ(owner->refcount(), 0u);
}

// issue 10, RCU edge 6: unload() from inside a call through an owner_ref
// hook of the module would wait for the call's own pin.
TEST(HookPtr, OwnerRefUnloadFromInsideTheCallIsRefusedNotADeadlock) {
  ordo::module_registry modules;
  ASSERT_OK(modules.load("vfio_ap", [](ordo::module_loader&) {}));
  ordo::module* owner = modules.find("vfio_ap");
  ASSERT_NE(owner, nullptr);
  std::error_code inside_result;
  auto body = [&](int x) {
    inside_result = modules.unload("vfio_ap");
    return x;
  };
  auto h = ordo::hook<int(int)>::from_callable(body, owner);
  ordo::hook_ptr<int(int), ordo::owner_ref> ptr;
  ASSERT_OK(ptr.publish(h));
  EXPECT_EQ(ptr.call(3), 3);
  EXPECT_EQ(inside_result, std::errc::device_or_resource_busy);
  EXPECT_EQ(owner->state(), ordo::module_state::live);  // nothing changed
  EXPECT_EQ(owner->refcount(), 0u);
  // Outside the call the same unload goes through.
  EXPECT_OK(modules.unload("vfio_ap"));
  EXPECT_EQ(owner->state(), ordo::module_state::gone);
}

TEST(HookPtr, OwnerRefWithBuiltInOwnerAlwaysCalls) {
  ordo::hook_ptr<int(int), ordo::owner_ref> ptr;
  ordo::hook<int(int)> h(&twice);  // owner nullptr: built-in
  ASSERT_OK(ptr.publish(h));
  EXPECT_EQ(ptr.call(4), 8);
}

}  // namespace
