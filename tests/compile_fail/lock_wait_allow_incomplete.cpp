// ordo-compile-fail: ordo: lock order violation: wait/unlocked_call drops only the innermost lock.*dropping<innermost_level>::while_holding<outer_level
//
// The permission must name every outer level: a lock added to the chain
// later makes the old permission fail to compile instead of silently
// covering it. The twin lists both outer levels.
#include <ordo/ordered_mutex.hpp>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
struct innermost_level : ordo::level<inner_level> {};

ordo::ordered_mutex<outer_level> outer;
ordo::ordered_mutex<inner_level> inner;
ordo::ordered_mutex<innermost_level> innermost;
bool ready = true;

int main() {
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
  auto i = inner.lock(o);
  auto n = innermost.lock(i);
#ifdef ORDO_COMPILE_FAIL
  ordo::wait(n, [] { return ready; }, ordo::allow_held<inner_level>);
#else
  ordo::wait(n, [] { return ready; }, ordo::allow_held<inner_level, outer_level>);
#endif
}
