// ordo-compile-fail: ordo: lock order violation: this level is already held.*taking<slot_level>::while_holding<slot_level>
//
// A second lock of a held (non-nestable) level, taken one by one, has no
// order between the two: rejected. The twin takes both with ordo::lock_all
// (address order).
#include <ordo/ordered_mutex.hpp>

struct slot_level : ordo::level<> {};
ordo::ordered_mutex<slot_level> left, right;

int main() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto l = left.lock(ctx);
  auto r = right.lock(l);
#else
  auto both = ordo::lock_all(ctx, left, right);
#endif
}
