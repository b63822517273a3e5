// ordo-compile-fail: ordo: assert_held: a required level is not .definitely. held.*required_level<mdevs_level
//
// docs/vfio-ap-model.md §4.1: vfio_ap_mdev_update_guest_apcb runs under the
// update locks (guests_lock, kvm->lock if attached, mdevs_lock). Calling it
// without mdevs_lock does not compile. The twin takes the full set.
#include <ordo/ordered_mutex.hpp>
#include "lock_vfio_ap_levels.hpp"

void hot_unplug(ordo::unlocked& ctx, vfio_ap_chain::matrix& m, vfio_ap_chain::kvm* k) {
  auto g = m.guests_lock.lock(ctx);
  auto kv = ordo::lock_if(k ? &k->lock : nullptr, g);
#ifdef ORDO_COMPILE_FAIL
  vfio_ap_chain::update_guest_apcb(kv);
#else
  auto d = m.mdevs_lock.lock(kv);
  vfio_ap_chain::update_guest_apcb(d);
#endif
}

int main() {
  vfio_ap_chain::matrix m;
  ordo::unlocked ctx;
  hot_unplug(ctx, m, nullptr);
}
