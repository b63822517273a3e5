// ordo-compile-fail: ordo: wait: ordo::allow_held<...> lists a level that is not held.*allowed_level<outer_level>
//
// A permission for a level that is not held is a stale permission: it is
// rejected, so it cannot linger after the chain changed. The twin has no
// outer lock and no permission.
#include <ordo/ordered_mutex.hpp>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
struct innermost_level : ordo::level<inner_level> {};

ordo::ordered_mutex<inner_level> inner;
bool ready = true;

int main() {
  ordo::unlocked ctx;
  auto i = inner.lock(ctx);
#ifdef ORDO_COMPILE_FAIL
  ordo::wait(i, [] { return ready; }, ordo::allow_held<outer_level>);
#else
  ordo::wait(i, [] { return ready; });
#endif
}
