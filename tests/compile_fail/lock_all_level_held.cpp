// ordo-compile-fail: ordo: lock order violation: this level is already held.*taking<slot_level>::while_holding<slot_level>
//
// lock_all of a level the context already holds would nest a third lock of
// that level outside any address order: rejected. The twin takes all three
// in one lock_all.
#include <ordo/ordered_mutex.hpp>

struct slot_level : ordo::level<> {};
ordo::ordered_mutex<slot_level> a, b, c;

int main() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto first = a.lock(ctx);
  auto rest = ordo::lock_all(first, b, c);
#else
  auto all = ordo::lock_all(ctx, a, b, c);
#endif
}
