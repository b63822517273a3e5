// ordo-compile-fail: ordo: lock_all: every mutex must be of the same level and type.*lock_all_of<ordo::basic_ordered_mutex<slot_a,.*with<ordo::basic_ordered_mutex<slot_b,
//
// lock_all orders locks of ONE level by address; locks of different levels
// must be taken one by one in level order. The twin does that.
#include <ordo/ordered_mutex.hpp>

struct slot_a : ordo::level<> {};
struct slot_b : ordo::level<slot_a> {};
ordo::ordered_mutex<slot_a> a;
ordo::ordered_mutex<slot_b> b;

int main() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto both = ordo::lock_all(ctx, a, b);
#else
  auto ga = a.lock(ctx);
  auto gb = b.lock(ga);
#endif
}
