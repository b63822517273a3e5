// ordo-compile-fail: ordo: assert_held: a required level is not .definitely. held.*required_level<inner_level
//
// ordo::assert_held is the compile-time lockdep_assert_held: a function that
// needs inner_level held cannot be called with a context that lacks it. The
// twin takes the lock first.
#include <ordo/ordered_mutex.hpp>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
struct innermost_level : ordo::level<inner_level> {};

ordo::ordered_mutex<outer_level> outer;
ordo::ordered_mutex<inner_level> inner;

void needs_both(ordo::lock_context auto& ctx) { ordo::assert_held<outer_level, inner_level>(ctx); }

int main() {
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
#ifdef ORDO_COMPILE_FAIL
  needs_both(o);
#else
  auto i = inner.lock(o);
  needs_both(i);
#endif
}
