// ordo-compile-fail: ordo: lock order violation: lock levels are declared in a cycle.*declared_cycle<cycle_a, cycle_b>
//
// Two levels each declared before the other: a cycle. It is a compile error
// naming both levels as soon as a mutex uses one (the closure walk is
// bounded, so this is not an endless instantiation). The twin is acyclic.
#include <ordo/ordered_mutex.hpp>

struct cycle_a;
struct cycle_b : ordo::level<cycle_a> {};
#ifdef ORDO_COMPILE_FAIL
struct cycle_a : ordo::level<cycle_b> {};
#else
struct cycle_a : ordo::level<> {};
#endif
ordo::ordered_mutex<cycle_a> a;
ordo::ordered_mutex<cycle_b> b;

int main() {
  ordo::unlocked ctx;
  auto ga = a.lock(ctx);
  auto gb = b.lock(ga);
}
