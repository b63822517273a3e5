// ordo-compile-fail: ordo: lock order violation: wait/unlocked_call drops only the innermost lock.*dropping<inner_level>::while_holding<outer_level
//
// ordo::unlocked_call drops only the innermost lock: calling out while an
// outer lock stays held must be spelled out. The twin does.
#include <ordo/ordered_mutex.hpp>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
struct innermost_level : ordo::level<inner_level> {};

ordo::ordered_mutex<outer_level> outer;
ordo::ordered_mutex<inner_level> inner;
int called = 0;

int main() {
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
  auto i = inner.lock(o);
#ifdef ORDO_COMPILE_FAIL
  ordo::unlocked_call(i, [] { ++called; });
#else
  ordo::unlocked_call(i, [] { ++called; }, ordo::allow_held<outer_level>);
#endif
}
