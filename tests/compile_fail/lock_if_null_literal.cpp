// ordo-compile-fail: ordo: lock_if: the first argument must be a .possibly null. pointer to an ordo::ordered_mutex
//
// A literal nullptr carries no level. The twin passes a typed null pointer,
// which compiles and locks nothing.
#include <ordo/ordered_mutex.hpp>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
struct innermost_level : ordo::level<inner_level> {};

ordo::ordered_mutex<outer_level> outer;

int main() {
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
#ifdef ORDO_COMPILE_FAIL
  ordo::lock_if(nullptr, o);
#else
  auto none = ordo::lock_if(static_cast<ordo::ordered_mutex<inner_level>*>(nullptr), o);
#endif
}
