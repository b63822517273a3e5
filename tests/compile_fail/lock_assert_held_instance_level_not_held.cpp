// ordo-compile-fail: ordo: assert_held: a required level is not .definitely. held.*required_level<ordo::maybe<inner_level
//
// m.assert_held(ctx) checks at run time which instance of m's level ctx
// holds; the level itself must be in ctx's type, at least as a lock_if's
// "maybe". Asserting it through a context that shows only the outer level
// does not compile; the twin asserts through the lock_if's context.
#include <ordo/ordered_mutex.hpp>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};

ordo::ordered_mutex<outer_level> outer;
ordo::ordered_mutex<inner_level> inner;

int main(int argc, char**) {
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
  auto maybe = ordo::lock_if(argc > 0 ? &inner : nullptr, o);
#ifdef ORDO_COMPILE_FAIL
  (void)inner.assert_held(o);
#else
  auto definite = inner.assert_held(maybe);
  ordo::assert_held<outer_level, inner_level>(definite);
#endif
  return 0;
}
