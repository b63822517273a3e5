// A consumer of ordo: includes every public header and uses each once, so the
// consumer tests prove that an installed or vendored ordo is usable with a
// strict consumer's warnings (-Wall -Wextra -Wpedantic -Werror).
#include <ordo/ap.hpp>
#include <ordo/bitmap.hpp>
#include <ordo/hazard_pointer.hpp>
#include <ordo/hook.hpp>
#include <ordo/lock_level.hpp>
#include <ordo/lockdep.hpp>
#include <ordo/module.hpp>
#include <ordo/once.hpp>
#include <ordo/ordered_mutex.hpp>
#include <ordo/rcu.hpp>
#include <ordo/ref.hpp>
#include <ordo/refcount.hpp>
#include <ordo/ordo.hpp>  // the umbrella header, after every header it includes

#include <cstdio>
#include <string>

namespace {

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
static_assert(ordo::lock_before_v<outer_level, inner_level>);

ordo::ordered_mutex<outer_level> outer_lock;
ordo::ordered_mutex<inner_level> inner_lock;

struct widget : ordo::kref<widget> {
  int value = 7;
};

int twice(int x) { return 2 * x; }

}  // namespace

int main() {
  long value = 0;
  ordo::store_release(value, 42L);
  if (ordo::load_acquire(value) != 42) return 1;

  ordo::ap::adapter_mask apm;
  apm.set(ordo::ap::apid(5));
  if (apm.to_string().substr(0, 4) != "0x04") return 2;

  {
    ordo::unlocked ctx;
    auto o = outer_lock.lock(ctx);
    auto i = inner_lock.lock(o);
  }

  ordo::ref<widget> w = ordo::make_ref<widget>();
  if (ordo::ref<widget> again = ordo::get_safe(w.get()); !again || again->value != 7) return 3;

  ordo::hook<int(int)> doubler(&twice);
  ordo::hook_ptr<int(int), ordo::rcu_protect> hook;
  if (hook.publish(doubler)) return 4;
  if (hook.call(21).value_or(0) != 42) return 5;
  hook.clear();

  std::printf("ordo consumer: ok");
  return 0;
}
