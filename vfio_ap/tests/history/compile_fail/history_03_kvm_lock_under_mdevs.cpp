// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held
//
// History §5 row 3 — f21916ec4826 "s390/vfio-ap: clean up vfio_ap resources
// when KVM pointer invalidated" called kvm_arch_crypto_set_masks() with
// matrix_dev->lock held, and set_masks took kvm->lock inside: matrix_dev->lock
// -> kvm->lock, while KVM paths take kvm->lock first. Lockdep reported the
// circular dependency when Secure-Execution guests started; 0cc00c8d4050
// ("fix circular lockdep when setting/clearing crypto masks") papered over it
// (row 6 finishes the job, 86956e70761b).
//
// In ordo the model's own levels (vfio_ap/include/vfio_ap/levels.hpp) make the
// inverted acquisition a compile error: kvm->lock (kvm_level) cannot be taken
// through a context that holds mdevs_lock (mdevs_level). The valid twin is the
// fixed [7.3] order: guests_lock -> kvm->lock -> mdevs_lock, then set_masks
// with kvm->lock held by the caller ("caller must hold kvm->lock").
#include "ordo/ordered_mutex.hpp"
#include "ordo/ref.hpp"
#include "vfio_ap/kvm.hpp"
#include "vfio_ap/levels.hpp"

namespace vfio = ordo::vfio_ap;

ordo::ordered_mutex<vfio::guests_level> guests_lock;
ordo::ordered_mutex<vfio::mdevs_level> mdevs_lock;

void push_shadow(vfio::kvm& guest) {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  // The 2020 code: matrix_dev->lock first, kvm->lock inside set_masks.
  auto g = guests_lock.lock(ctx);
  auto m = mdevs_lock.lock(g);
  auto k = guest.lock.lock(m);
  guest.set_masks(k, {}, {}, {});
#else
  // [7.3] get_update_locks_for_mdev: guests -> kvm -> mdevs.
  auto g = guests_lock.lock(ctx);
  auto k = guest.lock.lock(g);
  auto m = mdevs_lock.lock(k);
  guest.set_masks(m, {}, {}, {});
#endif
}

int main() {
  auto guest = ordo::make_ref<vfio::kvm>("g");
  push_shadow(*guest);
  return 0;
}
