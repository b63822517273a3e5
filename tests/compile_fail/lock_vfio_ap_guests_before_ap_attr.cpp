// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<ap_attr_level>::while_holding<guests_level>
//
// docs/vfio-ap-model.md §4.1, §5 row 7: ap_attr_mutex (ap_perms_mutex) is
// taken FIRST by assign_adapter; taking it while holding guests_lock was the
// ABBA deadlock with apmask_store -> in_use. The twin is the fixed order.
#include <ordo/ordered_mutex.hpp>
#include "lock_vfio_ap_levels.hpp"

void assign_adapter(ordo::unlocked& ctx, vfio_ap_chain::matrix& m) {
#ifdef ORDO_COMPILE_FAIL
  auto g = m.guests_lock.lock(ctx);
  auto a = m.ap_attr_mutex.lock(g);
#else
  auto a = m.ap_attr_mutex.lock(ctx);
  auto g = m.guests_lock.lock(a);
#endif
}

int main() {
  vfio_ap_chain::matrix m;
  ordo::unlocked ctx;
  assign_adapter(ctx, m);
}
