// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<outer_level>::while_holding<inner_level>
//
// Taking a level declared before one already held is an inversion: the
// diagnostic names both levels. The twin takes them in the declared order.
#include <ordo/ordered_mutex.hpp>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
struct innermost_level : ordo::level<inner_level> {};

ordo::ordered_mutex<outer_level> outer;
ordo::ordered_mutex<inner_level> inner;

void f(ordo::unlocked& ctx) {
#ifdef ORDO_COMPILE_FAIL
  auto i = inner.lock(ctx);
  auto o = outer.lock(i);
#else
  auto o = outer.lock(ctx);
  auto i = inner.lock(o);
#endif
}

int main() {
  ordo::unlocked ctx;
  f(ctx);
}
