// ordo-compile-fail: ordo: lock order violation: wait/unlocked_call drops only the innermost lock.*dropping<mdevs_level>::while_holding<guests_level
//
// docs/vfio-ap-model.md §5 rows 3 and 6: the kvm_busy flag and wait_for_kvm
// wait queue: sleeping on the innermost lock (mdevs) until "kvm not busy"
// while guests_lock stays held hid an inversion from lockdep. With ordo the
// wait does not compile unless the permission is spelled out (the twin).
#include <ordo/ordered_mutex.hpp>
#include "lock_vfio_ap_levels.hpp"

void assign_while_busy(ordo::unlocked& ctx, vfio_ap_chain::matrix& m) {
  auto g = m.guests_lock.lock(ctx);
  auto d = m.mdevs_lock.lock(g);
#ifdef ORDO_COMPILE_FAIL
  ordo::wait(d, [&] { return !m.kvm_busy; });
#else
  ordo::wait(d, [&] { return !m.kvm_busy; }, ordo::allow_held<guests_level>);
#endif
}

int main() {
  vfio_ap_chain::matrix m;
  ordo::unlocked ctx;
  assign_while_busy(ctx, m);
}
