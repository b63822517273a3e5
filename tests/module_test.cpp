// Tests for ordo/module.hpp: module states, pins, unload forms, symbol_get.
#include "ordo/module.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <system_error>
#include <thread>
#include <vector>
#include "expect_ok.hpp"

namespace {

using namespace std::chrono_literals;

int add_one(int x) { return x + 1; }
int twice(int x) noexcept { return 2 * x; }
long widen(int x) { return x; }

const std::error_code enoent = std::make_error_code(std::errc::no_such_file_or_directory);
const std::error_code ebusy = std::make_error_code(std::errc::device_or_resource_busy);
const std::error_code einval = std::make_error_code(std::errc::invalid_argument);
const std::error_code eexist = std::make_error_code(std::errc::file_exists);

std::error_code load_math(ordo::module_registry& registry, int* exits = nullptr) {
  return registry.load("math", [exits](ordo::module_loader& loader) -> std::error_code {
    if (auto ec = loader.export_symbol("add_one", &add_one)) return ec;
    if (auto ec = loader.export_symbol("twice", &twice)) return ec;
    if (exits != nullptr) loader.on_exit([exits] { ++*exits; });
    return {};
  });
}

TEST(TryModuleGet, NullptrIsBuiltInCode) {
  EXPECT_TRUE(ordo::try_module_get(nullptr));
  ordo::module_put(nullptr);  // no-op, no report
  ordo::module_get(nullptr);
}

TEST(ModuleRegistry, LoadMakesModuleLiveWithItsSymbols) {
  ordo::module_registry registry;
  ASSERT_OK(load_math(registry));
  ordo::module* math = registry.find("math");
  ASSERT_NE(math, nullptr);
  EXPECT_EQ(math->name(), "math");
  EXPECT_EQ(math->state(), ordo::module_state::live);
  EXPECT_EQ(math->refcount(), 0u);
  auto fn = ordo::symbol_get<int(int)>(registry, "add_one");
  ASSERT_TRUE(fn);
  EXPECT_OK(fn.error());
  EXPECT_EQ(fn(41), 42);
  EXPECT_EQ(fn.owner(), math);
  EXPECT_EQ(math->refcount(), 1u);
}

TEST(ModuleRegistry, CreateRejectsEmptyAndDuplicateNames) {
  ordo::module_registry registry;
  std::error_code ec;
  EXPECT_EQ(registry.create("", ec), nullptr);
  EXPECT_EQ(ec, einval);
  ordo::module* m = registry.create("dup", ec);
  ASSERT_NE(m, nullptr);
  EXPECT_OK(ec);
  EXPECT_EQ(m->state(), ordo::module_state::coming);
  EXPECT_EQ(registry.create("dup", ec), nullptr);
  EXPECT_EQ(ec, eexist);
  EXPECT_OK(registry.go_live(m));
  EXPECT_EQ(registry.go_live(m), einval);  // live → live is not a transition
  EXPECT_OK(registry.try_unload("dup"));
  // Gone: the name is free again, and a new module object is made.
  ordo::module* again = registry.create("dup", ec);
  ASSERT_NE(again, nullptr);
  EXPECT_NE(again, m);
  EXPECT_EQ(m->state(), ordo::module_state::gone);
  EXPECT_OK(registry.go_live(again));
}

TEST(ModuleRegistry, ExportIsOnlyAllowedWhileComing) {
  ordo::module_registry registry;
  std::error_code ec;
  ordo::module* m = registry.create("m", ec);
  ASSERT_NE(m, nullptr);
  EXPECT_OK(registry.export_symbol(m, "add_one", &add_one));
  EXPECT_EQ(registry.export_symbol(m, "", &add_one), einval);
  int (*null_fn)(int) = nullptr;
  EXPECT_EQ(registry.export_symbol(m, "null", null_fn), einval);
  EXPECT_EQ(registry.export_symbol(nullptr, "x", &add_one), einval);
  ASSERT_OK(registry.go_live(m));
  EXPECT_EQ(registry.export_symbol(m, "late", &add_one), einval);
  EXPECT_EQ(ordo::symbol_get<int(int)>(registry, "late").error(), enoent);
}

TEST(ModuleRegistry, ExportOfAnotherModulesNameIsEexist) {
  ordo::module_registry registry;
  ASSERT_OK(load_math(registry));
  const std::error_code ec = registry.load("copycat", [](ordo::module_loader& loader) {
    return loader.export_symbol("add_one", &add_one);
  });
  EXPECT_EQ(ec, eexist);
  EXPECT_EQ(registry.find("copycat"), nullptr);  // the failed load left nothing
  auto fn = ordo::symbol_get<int(int)>(registry, "add_one");
  ASSERT_TRUE(fn);
  EXPECT_EQ(fn.owner(), registry.find("math"));
}

TEST(ModuleRegistry, ForeignModuleIsRejected) {
  ordo::module_registry a;
  ordo::module_registry b;
  std::error_code ec;
  ordo::module* m = a.create("m", ec);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(b.export_symbol(m, "add_one", &add_one), einval);
  EXPECT_EQ(b.go_live(m), einval);
  EXPECT_OK(a.go_live(m));
}

int symbol_a(int) { return 1; }
int symbol_b(int) { return 2; }

// Many names that share prefixes, suffixes and lengths (the lookup hashes a
// word at a time, with an overlapping last word): each resolves to its own
// binding, and near-miss names do not resolve.
TEST(SymbolGet, ManySimilarNamesResolveExactly) {
  ordo::module_registry registry;
  std::vector<std::string> names;
  for (int len = 1; len <= 40; ++len) {
    for (char c : {'a', 'b'}) {
      std::string name(static_cast<std::size_t>(len), 'x');
      name[static_cast<std::size_t>(len) / 2] = c;  // differ only in the middle
      names.push_back(name);
    }
  }
  ASSERT_OK(registry.load("many", [&](ordo::module_loader& loader) -> std::error_code {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (auto ec = loader.export_symbol(names[i], i % 2 == 0 ? &symbol_a : &symbol_b)) return ec;
    }
    return {};
  }));
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto fn = ordo::symbol_get<int(int)>(registry, names[i]);
    ASSERT_TRUE(fn) << names[i];
    EXPECT_EQ(fn(0), i % 2 == 0 ? 1 : 2) << names[i];
  }
  EXPECT_EQ(ordo::symbol_get<int(int)>(registry, std::string(41, 'x')).error(), enoent);
  EXPECT_EQ(ordo::symbol_get<int(int)>(registry, std::string(12, 'x')).error(), enoent);
  EXPECT_EQ(ordo::symbol_get<int(int)>(registry, "").error(), enoent);
}

TEST(SymbolGet, MissingSymbolIsEnoent) {
  ordo::module_registry registry;
  auto fn = ordo::symbol_get<int(int)>(registry, "nothing");
  EXPECT_FALSE(fn);
  EXPECT_EQ(fn.error(), enoent);
  EXPECT_EQ(fn.get(), nullptr);
  EXPECT_EQ(fn.owner(), nullptr);
}

TEST(SymbolGet, SignatureMismatchIsEinvalAndPinsNothing) {
  ordo::module_registry registry;
  ASSERT_OK(load_math(registry));
  auto wrong_return = ordo::symbol_get<long(int)>(registry, "add_one");
  EXPECT_FALSE(wrong_return);
  EXPECT_EQ(wrong_return.error(), einval);
  auto wrong_args = ordo::symbol_get<int(long)>(registry, "add_one");
  EXPECT_EQ(wrong_args.error(), einval);
  auto cannot_promise_noexcept = ordo::symbol_get<int(int) noexcept>(registry, "add_one");
  EXPECT_EQ(cannot_promise_noexcept.error(), einval);
  EXPECT_EQ(registry.find("math")->refcount(), 0u);
}

TEST(SymbolGet, NoexceptExportCanBeCalledWithoutNoexcept) {
  ordo::module_registry registry;
  ASSERT_OK(load_math(registry));
  auto exact = ordo::symbol_get<int(int) noexcept>(registry, "twice");
  ASSERT_TRUE(exact);
  static_assert(noexcept(exact(1)));
  EXPECT_EQ(exact(4), 8);
  auto relaxed = ordo::symbol_get<int(int)>(registry, "twice");
  ASSERT_TRUE(relaxed);
  EXPECT_EQ(relaxed(5), 10);
  EXPECT_EQ(registry.find("math")->refcount(), 2u);
}

TEST(SymbolGet, ComingModuleIsEbusyThenLiveSucceeds) {
  ordo::module_registry registry;
  std::error_code ec;
  ordo::module* m = registry.create("m", ec);
  ASSERT_NE(m, nullptr);
  ASSERT_OK(registry.export_symbol(m, "widen", &widen));
  EXPECT_EQ(ordo::symbol_get<long(int)>(registry, "widen").error(), ebusy);
  EXPECT_EQ(m->refcount(), 0u);
  // A coming module can still be pinned directly (its own init may do so).
  EXPECT_TRUE(ordo::try_module_get(m));
  ordo::module_put(m);
  ASSERT_OK(registry.go_live(m));
  auto fn = ordo::symbol_get<long(int)>(registry, "widen");
  ASSERT_TRUE(fn);
  EXPECT_EQ(fn(7), 7L);
}

TEST(SymbolGet, SymbolGetInsideInitIsEbusy) {
  ordo::module_registry registry;
  std::error_code inside;
  ASSERT_OK(registry.load("self", [&](ordo::module_loader& loader) {
    (void)loader.export_symbol("add_one", &add_one);
    inside = ordo::symbol_get<int(int)>(loader.self().registry(), "add_one").error();
  }));
  EXPECT_EQ(inside, ebusy);
}

TEST(SymbolRef, DestructorPutsExactlyOnceAndMovesLeaveSourceEmpty) {
  ordo::module_registry registry;
  ASSERT_OK(load_math(registry));
  ordo::module* math = registry.find("math");
  {
    auto a = ordo::symbol_get<int(int)>(registry, "add_one");
    EXPECT_EQ(math->refcount(), 1u);
    auto b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the contract under test
    EXPECT_EQ(a.owner(), nullptr);
    EXPECT_TRUE(b);
    EXPECT_EQ(math->refcount(), 1u);
    ordo::symbol_ref<int(int)> c;
    EXPECT_FALSE(c);
    c = std::move(b);
    EXPECT_EQ(math->refcount(), 1u);
    c = ordo::symbol_get<int(int)>(registry, "add_one");  // old pin dropped, new taken
    EXPECT_EQ(math->refcount(), 1u);
    c.reset();
    EXPECT_EQ(math->refcount(), 0u);
    EXPECT_EQ(c.error(), enoent);
    c.reset();  // idempotent
    EXPECT_EQ(math->refcount(), 0u);
  }
  EXPECT_EQ(math->refcount(), 0u);
}

TEST(SymbolRefDeathTest, CallingAnEmptyRefIsReported) {
  ordo::symbol_ref<int(int)> empty;
  EXPECT_DEATH((void)empty(1), "ordo: call through an empty symbol_ref");
}

TEST(ModuleUnload, TryUnloadIsEbusyWhilePinnedAndChangesNothing) {
  ordo::module_registry registry;
  int exits = 0;
  ASSERT_OK(load_math(registry, &exits));
  ordo::module* math = registry.find("math");
  auto fn = ordo::symbol_get<int(int)>(registry, "add_one");
  ASSERT_TRUE(fn);
  EXPECT_EQ(registry.try_unload("math"), ebusy);
  EXPECT_EQ(math->state(), ordo::module_state::live);
  EXPECT_EQ(math->refcount(), 1u);
  EXPECT_EQ(exits, 0);
  auto again = ordo::symbol_get<int(int)>(registry, "add_one");  // still gettable
  EXPECT_TRUE(again);
  again.reset();
  fn.reset();
  EXPECT_OK(registry.try_unload("math"));
  EXPECT_EQ(exits, 1);
  EXPECT_EQ(math->state(), ordo::module_state::gone);
  EXPECT_EQ(registry.find("math"), nullptr);
  EXPECT_EQ(ordo::symbol_get<int(int)>(registry, "add_one").error(), enoent);
  EXPECT_FALSE(ordo::try_module_get(math));  // stale pointer: fails, no crash
  EXPECT_EQ(registry.try_unload("math"), enoent);
  EXPECT_EQ(registry.unload("math"), enoent);
}

TEST(ModuleUnload, UnloadOfComingModuleIsEbusy) {
  ordo::module_registry registry;
  std::error_code ec;
  ordo::module* m = registry.create("m", ec);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(registry.try_unload("m"), ebusy);
  EXPECT_EQ(registry.unload("m"), ebusy);
  EXPECT_EQ(m->state(), ordo::module_state::coming);
  ASSERT_OK(registry.go_live(m));
}

TEST(ModuleUnload, WaitingUnloadBlocksNewPinsAtOnceAndWaitsForTheLast) {
  ordo::module_registry registry;
  std::atomic<int> exits{0};
  ASSERT_OK(registry.load("m", [&](ordo::module_loader& loader) {
    (void)loader.export_symbol("add_one", &add_one);
    loader.on_exit([&] { exits.fetch_add(1); });
  }));
  ordo::module* m = registry.find("m");
  auto pin = ordo::symbol_get<int(int)>(registry, "add_one");
  ASSERT_TRUE(pin);
  auto unloaded = std::async(std::launch::async, [&] { return registry.unload("m"); });
  // Wait until the unload has started (state going), then check it is held.
  while (m->state() != ordo::module_state::going) std::this_thread::yield();
  const bool pinned_while_going = ordo::try_module_get(m);
  EXPECT_FALSE(pinned_while_going);  // "going" is only visible once pins are blocked
  if (pinned_while_going) ordo::module_put(m);  // do not hang the unload on failure
  EXPECT_EQ(ordo::symbol_get<int(int)>(registry, "add_one").error(), enoent);
  EXPECT_EQ(registry.try_unload("m"), ebusy);
  EXPECT_EQ(registry.unload("m"), ebusy);  // already going
  EXPECT_EQ(unloaded.wait_for(50ms), std::future_status::timeout);
  EXPECT_EQ(exits.load(), 0);
  EXPECT_EQ(pin(1), 2);  // the pinned function is still callable
  pin.reset();
  EXPECT_OK(unloaded.get());
  EXPECT_EQ(exits.load(), 1);
  EXPECT_EQ(m->state(), ordo::module_state::gone);
}

TEST(ModuleUnload, UnpinnedWaitingUnloadReturnsAtOnce) {
  ordo::module_registry registry;
  int exits = 0;
  ASSERT_OK(load_math(registry, &exits));
  EXPECT_OK(registry.unload("math"));
  EXPECT_EQ(exits, 1);
}

TEST(ModuleRegistry, ReloadAfterUnloadBindsTheNewModule) {
  ordo::module_registry registry;
  ASSERT_OK(load_math(registry));
  ordo::module* first = registry.find("math");
  ASSERT_OK(registry.unload("math"));
  ASSERT_OK(load_math(registry));
  ordo::module* second = registry.find("math");
  ASSERT_NE(second, first);
  auto fn = ordo::symbol_get<int(int)>(registry, "add_one");
  ASSERT_TRUE(fn);
  EXPECT_EQ(fn.owner(), second);
}

TEST(ModuleRegistry, FailedInitAbortsTheLoad) {
  ordo::module_registry registry;
  bool exit_ran = false;
  const std::error_code ec = registry.load("broken", [&](ordo::module_loader& loader) {
    (void)loader.export_symbol("add_one", &add_one);
    loader.on_exit([&] { exit_ran = true; });
    return std::make_error_code(std::errc::no_such_device);
  });
  EXPECT_EQ(ec, std::make_error_code(std::errc::no_such_device));
  EXPECT_EQ(registry.find("broken"), nullptr);
  EXPECT_FALSE(exit_ran);  // exit is not run for a module whose init failed
  EXPECT_EQ(ordo::symbol_get<int(int)>(registry, "add_one").error(), enoent);
  EXPECT_OK(load_math(registry));  // the symbol name is free again
}

TEST(ModuleRegistry, ThrowingInitAbortsTheLoadAndRethrows) {
  ordo::module_registry registry;
  EXPECT_THROW((void)registry.load("thrower",
                                   [](ordo::module_loader& loader) {
                                     (void)loader.export_symbol("add_one", &add_one);
                                     throw std::runtime_error("init failed");
                                   }),
               std::runtime_error);
  EXPECT_EQ(registry.find("thrower"), nullptr);
  EXPECT_OK(load_math(registry));
}

TEST(ModuleRegistry, DestructorRunsExitOfLoadedModulesNewestFirst) {
  std::string order;
  {
    ordo::module_registry registry;
    ASSERT_OK(registry.load("a", [&](ordo::module_loader& l) { l.on_exit([&] { order += 'a'; }); }));
    ASSERT_OK(registry.load("b", [&](ordo::module_loader& l) { l.on_exit([&] { order += 'b'; }); }));
  }
  EXPECT_EQ(order, "ba");
}

TEST(ModuleRegistryDeathTest, DestroyingWhilePinnedIsReported) {
  EXPECT_DEATH(
      {
        auto* registry = new ordo::module_registry;
        (void)registry->load("m", [](ordo::module_loader& l) { (void)l.export_symbol("f", &add_one); });
        auto pin = ordo::symbol_get<int(int)>(*registry, "f");
        delete registry;
      },
      "ordo: module_registry destroyed while this module is pinned.*: m");
}

TEST(ModulePutDeathTest, PutWithoutPinIsReportedAsUnderflow) {
  ordo::set_refcount_report_handler(&ordo::refcount_report_abort);
  ordo::module_registry registry;
  ASSERT_OK(load_math(registry));
  ordo::module* math = registry.find("math");
  EXPECT_DEATH(ordo::module_put(math), "ordo::refcount: underflow; use-after-free");
  ordo::set_refcount_report_handler(nullptr);
}

TEST(ModulePut, PutWithoutPinChangesNothingWhenTheHandlerReturns) {
  static std::atomic<int> reports{0};
  auto previous = ordo::set_refcount_report_handler([](const ordo::refcount_report& r) {
    if (r.error == ordo::refcount_error::underflow) reports.fetch_add(1);
  });
  ordo::module_registry registry;
  ASSERT_OK(load_math(registry));
  ordo::module* math = registry.find("math");
  ordo::module_put(math);
  EXPECT_EQ(reports.load(), 1);
  EXPECT_EQ(math->refcount(), 0u);
  EXPECT_TRUE(ordo::try_module_get(math));
  ordo::module_put(math);
  EXPECT_OK(registry.try_unload("math"));
  ordo::set_refcount_report_handler(previous);
}

}  // namespace
