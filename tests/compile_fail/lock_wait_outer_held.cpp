// ordo-compile-fail: ordo: lock order violation: wait/unlocked_call drops only the innermost lock.*dropping<inner_level>::while_holding<outer_level
//
// ordo::wait drops only the innermost lock; an outer lock held across the
// wait blocks whoever must take it to make progress. Without an explicit
// ordo::allow_held it does not compile; the twin spells the permission.
#include <ordo/ordered_mutex.hpp>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
struct innermost_level : ordo::level<inner_level> {};

ordo::ordered_mutex<outer_level> outer;
ordo::ordered_mutex<inner_level> inner;
bool ready = true;

int main() {
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
  auto i = inner.lock(o);
#ifdef ORDO_COMPILE_FAIL
  ordo::wait(i, [] { return ready; });
#else
  ordo::wait(i, [] { return ready; }, ordo::allow_held<outer_level>);
#endif
}
