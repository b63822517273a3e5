// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held
//
// History §5 row 7 — the 2022 dynamic-configuration series (v20, merged ~6.0):
// "introduce new mutex to control access to the KVM pointer" (guests_lock)
// and "use proper locking order when setting/clearing KVM pointer" fixed the
// order guests_lock -> kvm->lock -> mdevs_lock; the ops.c rule is "never take
// guests_lock while holding mdevs_lock" (reference §4.1, §7). In [6.16]
// vfio_ap_mdev_probe still did list_add under mdevs_lock while mdev_list is
// guests_lock's (row 13, "mdev_list add under the wrong lock").
//
// ordo: guests_lock (guests_level) cannot be taken through a context holding
// mdevs_lock (mdevs_level): invariant L1 of levels.hpp, a compile error. The
// valid twin is the [7.3] status_show / in_use order: guests, then mdevs.
#include "ordo/ordered_mutex.hpp"
#include "vfio_ap/levels.hpp"

namespace vfio = ordo::vfio_ap;

ordo::ordered_mutex<vfio::guests_level> guests_lock;
ordo::ordered_mutex<vfio::mdevs_level> mdevs_lock;

void status_show() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto m = mdevs_lock.lock(ctx);   // [6.16] status_show: mdevs_lock only ...
  auto g = guests_lock.lock(m);    // ... then the mdev_list walk wants guests_lock
#else
  auto g = guests_lock.lock(ctx);  // [7.3]: guests_lock, then mdevs_lock
  auto m = mdevs_lock.lock(g);
#endif
}

int main() {
  status_show();
  return 0;
}
