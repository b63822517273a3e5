// A consumer of ordo::core: the standard-library-only headers, each used once.
// Built without Abseil on the include path, and (core_nortti_noexcept) with
// -fno-exceptions -fno-rtti.
#include <ordo/hazard_pointer.hpp>
#include <ordo/hook.hpp>
#include <ordo/module.hpp>
#include <ordo/once.hpp>
#include <ordo/rcu.hpp>
#include <ordo/ref.hpp>
#include <ordo/refcount.hpp>
#include <ordo/version.hpp>

#include <atomic>
#include <cstdio>

namespace {

struct widget : ordo::kref<widget> {
  int value = 7;
};

int twice(int x) { return 2 * x; }

struct setting : ordo::hazard_pointer_obj_base<setting> {
  explicit setting(int v) : value(v) {}
  int value;
};

}  // namespace

int main() {
  long value = 0;
  ordo::store_release(value, 42L);
  if (ordo::load_acquire(value) != 42) return 1;

  ordo::ref<widget> w = ordo::make_ref<widget>();
  if (ordo::ref<widget> again = ordo::get_safe(w.get()); !again || again->value != 7) return 2;

  ordo::hook<int(int)> doubler(&twice);
  ordo::hook_ptr<int(int), ordo::rcu_protect> hook;
  if (hook.publish(doubler)) return 3;
  if (hook.call(21).value_or(0) != 42) return 4;
  hook.clear();

  ordo::hook_ptr<int(int), ordo::hazard_protect> hazard_hook;
  if (hazard_hook.publish(doubler)) return 5;
  if (hazard_hook.call(4).value_or(0) != 8) return 6;
  hazard_hook.clear();

  std::atomic<setting*> current{new setting(1)};
  {
    ordo::hazard_pointer h = ordo::make_hazard_pointer();
    if (h.protect(current)->value != 1) return 7;
  }
  current.exchange(nullptr)->retire();

  ordo::module_registry registry;
  std::printf("ordo::core consumer %s: ok\n", ORDO_VERSION_STRING);
  return 0;
}
