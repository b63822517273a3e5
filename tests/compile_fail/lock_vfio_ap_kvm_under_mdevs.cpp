// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<kvm_level>::while_holding<mdevs_level>
//
// docs/vfio-ap-model.md §5 rows 3 and 6: the masks were set under
// matrix_dev->lock while kvm_arch_crypto_set_masks took kvm->lock inside: a
// circular dependency. kvm->lock (even conditional, lock_if) after
// mdevs_lock is rejected. The twin is the fixed order.
#include <ordo/ordered_mutex.hpp>
#include "lock_vfio_ap_levels.hpp"

void set_masks(ordo::unlocked& ctx, vfio_ap_chain::matrix& m, vfio_ap_chain::kvm* k) {
  auto g = m.guests_lock.lock(ctx);
#ifdef ORDO_COMPILE_FAIL
  auto d = m.mdevs_lock.lock(g);
  auto kv = ordo::lock_if(k ? &k->lock : nullptr, d);
#else
  auto kv = ordo::lock_if(k ? &k->lock : nullptr, g);
  auto d = m.mdevs_lock.lock(kv);
#endif
}

int main() {
  vfio_ap_chain::matrix m;
  vfio_ap_chain::kvm k;
  ordo::unlocked ctx;
  set_masks(ctx, m, &k);
}
