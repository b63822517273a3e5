// ordo-compile-fail: ordo: assert_held: a required level is not
//
// vfio_ap_mdev_update_guest_apcb must run with guests_lock, kvm->lock (when
// the mdev is attached: ordo::lock_if) and mdevs_lock held (reference §3.4;
// kvm_arch_crypto_set_masks: "caller must hold kvm->lock", §5 rows 3 and 6).
// Skipping kvm->lock, as the 2021 circular-lockdep fix had to undo, does not
// compile; the twin takes the conditional kvm->lock and builds.
#include <vfio_ap/matrix_dev.hpp>

void push_shadow_to_guest(ordo::vfio_ap::matrix_dev& dev, ordo::vfio_ap::mdev& m) {
  ordo::unlocked ctx;
  auto g = dev.guests_lock.lock(ctx);
#ifdef ORDO_COMPILE_FAIL
  auto md = dev.mdevs_lock.lock(g);  // kvm->lock never taken
#else
  auto kv = ordo::lock_if(m.guest != nullptr ? &m.guest->lock : nullptr, g);
  auto md = dev.mdevs_lock.lock(kv);
#endif
  dev.update_guest_apcb(md, m);
}

int main() { return 0; }
