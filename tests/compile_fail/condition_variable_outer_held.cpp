// ordo-compile-fail: ordo: lock order violation: wait/unlocked_call drops only the innermost lock.*dropping<inner_level>::while_holding<outer_level
//
// ordo::condition_variable drops only the guard's (innermost) lock; with an
// outer level held it compiles only with the explicit permission. The twin
// waits through ordo::relockable.
#include <ordo/ordered_mutex.hpp>

#include <mutex>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};

ordo::ordered_mutex<outer_level> outer;
ordo::ordered_mutex<inner_level, std::mutex> inner;
ordo::condition_variable cv;
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
