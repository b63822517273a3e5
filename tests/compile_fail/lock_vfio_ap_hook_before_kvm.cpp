// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<kvm_level>::while_holding<pqap_hook_level>
//
// docs/vfio-ap-model.md §4.1 [7.3]: kvm->lock, then the pqap_hook rwsem
// (write). Taking kvm->lock under the rwsem inverts the order. The twin
// follows get_update_locks_for_kvm.
#include <ordo/ordered_mutex.hpp>
#include "lock_vfio_ap_levels.hpp"

void set_kvm(ordo::unlocked& ctx, vfio_ap_chain::matrix& m, vfio_ap_chain::kvm& k) {
  auto g = m.guests_lock.lock(ctx);
#ifdef ORDO_COMPILE_FAIL
  auto h = k.pqap_hook_rwsem.lock(g);
  auto kv = k.lock.lock(h);
#else
  auto kv = k.lock.lock(g);
  auto h = k.pqap_hook_rwsem.lock(kv);
#endif
}

int main() {
  vfio_ap_chain::matrix m;
  vfio_ap_chain::kvm k;
  ordo::unlocked ctx;
  set_kvm(ctx, m, k);
}
