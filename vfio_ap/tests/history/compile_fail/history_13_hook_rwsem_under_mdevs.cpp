// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held
//
// History §5 rows 5 and 13 — "[PATCH 1/2] s390/vfio-ap: r/w lock for PQAP
// interception handler function pointer" (Tony Krowiak, 2021-07-19) guarded
// kvm->arch.crypto.pqap_hook with pqap_hook_rwsem; [6.16] set/unset_kvm took
// it on its own before the update locks, and [7.3] moved it inside the
// update-lock set: guests_lock -> kvm->lock -> pqap_hook_rwsem (write) ->
// mdevs_lock, with the PQAP intercept taking it shared and then mdevs_lock
// (reference §4.1).
//
// ordo: the model's rwsem is an ordered_shared_mutex<hook_level>; publishing
// or clearing the hook with mdevs_lock already held (rwsem inside mdevs) is a
// compile error, since the intercept's rwsem -> mdevs_lock would close a
// cycle. The valid twin is the [7.3] unset_kvm order.
#include "ordo/ordered_mutex.hpp"
#include "ordo/ref.hpp"
#include "vfio_ap/kvm.hpp"
#include "vfio_ap/levels.hpp"

namespace vfio = ordo::vfio_ap;

ordo::ordered_mutex<vfio::guests_level> guests_lock;
ordo::ordered_mutex<vfio::mdevs_level> mdevs_lock;

void unset_kvm(vfio::kvm& guest) {
  ordo::unlocked ctx;
  auto g = guests_lock.lock(ctx);
  auto k = guest.lock.lock(g);
#ifdef ORDO_COMPILE_FAIL
  auto m = mdevs_lock.lock(k);
  auto h = guest.pqap_hook_rwsem.lock(m);
  guest.clear_pqap_hook(h);
#else
  auto h = guest.pqap_hook_rwsem.lock(k);
  auto m = mdevs_lock.lock(h);
  guest.clear_pqap_hook(m);
#endif
  guest.clear_masks(m);
}

int main() {
  auto guest = ordo::make_ref<vfio::kvm>("g");
  unset_kvm(*guest);
  return 0;
}
