// ordo-compile-fail: ordo: assert_held: a required level is not .definitely. held.*exclusive<ordo::vfio_ap::kvm_level
//
// History §5 row 10 — "s390/vfio-ap: lock mdev object when handling mdev
// remove request" (Feb 2025, Fixes: 2e3d8d71e285 "wire in the
// vfio_device_ops request callback"). vfio_ap_mdev_request cleared the
// guest's masks and touched the mdev with no lock at all; v1 of the fix took
// mdevs_lock only, and the merged version takes the full update locks
// (guests_lock -> kvm->lock -> mdevs_lock) because kvm_arch_crypto_clear_masks
// wants the caller to hold kvm->lock.
//
// In ordo the model's kvm::clear_masks states that requirement as
// ordo::exclusive<kvm_level> (checked by ordo::assert_held, whose
// static_assert names it): the v1 locking (guests_lock and mdevs_lock, no
// kvm->lock) does not compile. The valid twin is the merged fix: the update
// locks, kvm->lock through ordo::lock_if (held only when a guest is
// attached), and for an attached guest lockdep_assert_held(&kvm->lock)
// (kvm->lock.assert_held), which checks the instance and makes the
// lock_if's "maybe" definite.
#include "ordo/ordered_mutex.hpp"
#include "ordo/ref.hpp"
#include "vfio_ap/kvm.hpp"
#include "vfio_ap/levels.hpp"

namespace vfio = ordo::vfio_ap;

ordo::ordered_mutex<vfio::guests_level> guests_lock;
ordo::ordered_mutex<vfio::mdevs_level> mdevs_lock;

void request(vfio::kvm* guest) {
  ordo::unlocked ctx;
  auto g = guests_lock.lock(ctx);
#ifdef ORDO_COMPILE_FAIL
  auto m = mdevs_lock.lock(g);  // v1: mdevs_lock only
#else
  auto k = ordo::lock_if(guest != nullptr ? &guest->lock : nullptr, g);
  auto m = mdevs_lock.lock(k);
#endif
#ifdef ORDO_COMPILE_FAIL
  if (guest != nullptr) guest->clear_masks(m);
#else
  if (guest != nullptr) {
    auto kl = guest->lock.assert_held(m);
    guest->clear_masks(kl);
  }
#endif
}

int main() {
  auto guest = ordo::make_ref<vfio::kvm>("g");
  request(guest.get());
  return 0;
}
