// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<pqap_hook_level>::while_holding<mdevs_level>
//
// docs/vfio-ap-model.md §4.1: the PQAP intercept takes the pqap_hook rwsem
// (read) and then mdevs_lock (handle_pqap). Reading the hook under
// mdevs_lock inverts it. The twin is the intercept's order.
#include <ordo/ordered_mutex.hpp>
#include "lock_vfio_ap_levels.hpp"

void handle_pqap(ordo::unlocked& ctx, vfio_ap_chain::matrix& m, vfio_ap_chain::kvm& k) {
#ifdef ORDO_COMPILE_FAIL
  auto d = m.mdevs_lock.lock(ctx);
  auto h = k.pqap_hook_rwsem.lock_shared(d);
#else
  auto h = k.pqap_hook_rwsem.lock_shared(ctx);
  auto d = m.mdevs_lock.lock(h);
#endif
}

int main() {
  vfio_ap_chain::matrix m;
  vfio_ap_chain::kvm k;
  ordo::unlocked ctx;
  handle_pqap(ctx, m, k);
}
