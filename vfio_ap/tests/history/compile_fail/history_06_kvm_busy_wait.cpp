// ordo-compile-fail: ordo: lock order violation: wait/unlocked_call drops only the innermost lock while an outer lock stays held
//
// History §5 rows 3 and 6 — 0cc00c8d4050 ("s390/vfio-ap: fix circular lockdep
// when setting/clearing crypto masks") added a kvm_busy flag and a
// wait_for_kvm wait queue: set_kvm set kvm_busy, dropped matrix_dev->lock
// around kvm_arch_crypto_set_masks, and every other path waited with
// wait_event_cmd(), dropping and re-taking the mutex until kvm_busy cleared.
// That is a lock lockdep cannot see: a thread waiting for kvm_busy while it
// holds anything the busy thread needs deadlocks with no report (seed 003,
// Halil Pasic: "instead of getting stuck on a lock we will get stuck on
// wait_event_cmd()"). 86956e70761b ("replace open coded locks for
// VFIO_GROUP_NOTIFY_SET_KVM notification") removed it and made the order
// kvm->lock -> matrix_dev->lock explicit.
//
// In ordo a wait drops only the innermost lock; waiting for the busy flag on
// mdevs_lock while guests_lock (an outer level of the model's chain) stays
// held is a compile error unless the code says ordo::allow_held<...> in so
// many words. The valid twin is a wait with mdevs_lock as the only lock held
// (nothing outer can be waited for).
#include "ordo/ordered_mutex.hpp"
#include "vfio_ap/levels.hpp"

namespace vfio = ordo::vfio_ap;

ordo::ordered_mutex<vfio::guests_level> guests_lock;
ordo::ordered_mutex<vfio::mdevs_level> mdevs_lock;
bool kvm_busy = false;  // guarded by mdevs_lock

void assign_adapter_2021() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto g = guests_lock.lock(ctx);
  auto m = mdevs_lock.lock(g);
  // wait_event_cmd(wait_for_kvm, !kvm_busy, unlock(mdevs), lock(mdevs))
  ordo::wait(m, [] { return !kvm_busy; });
#else
  auto m = mdevs_lock.lock(ctx);
  ordo::wait(m, [] { return !kvm_busy; });
#endif
}

int main() {
  assign_adapter_2021();
  return 0;
}
