// ordo-compile-fail: ordo: lock order violation: wait/unlocked_call drops only the innermost lock.*dropping<inner_level>::while_holding<outer_level
//
// A guard is BasicLockable for its own (innermost) lock, so
// std::condition_variable_any can wait on it; like ordo::wait, with an
// outer level held that compiles only with the explicit permission. The
// twin spells it with ordo::relockable.
#include <ordo/ordered_mutex.hpp>

#include <condition_variable>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};

ordo::ordered_mutex<outer_level> outer;
ordo::ordered_mutex<inner_level> inner;
std::condition_variable_any cv;
bool ready = true;

int main() {
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
  auto i = inner.lock(o);
#ifdef ORDO_COMPILE_FAIL
  cv.wait(i, [] { return ready; });
#else
  ordo::relockable lk(i, ordo::allow_held<outer_level>);
  cv.wait(lk, [] { return ready; });
#endif
}
