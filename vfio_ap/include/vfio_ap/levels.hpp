// vfio_ap/levels.hpp — the lock levels of the vfio-ap reference model.
//
// What it is
//   The kernel's lock order for vfio_ap (vfio_ap_ops.c header comment,
//   docs/vfio-ap-model.md §4.1) written as ordo lock levels, so that taking
//   them in any other order is a compile error:
//
//     kvm_table_level   the host's guest-name table (shared: a vCPU's PQAP,
//                       an open; exclusive: guest create/destroy)
//       -> vfio_level     VFIO core: device open/close/unregister (dev_set->lock)
//       -> ap_bus_level   AP bus: scan mutex and device core (devices, drivers)
//       -> ap_attr_level  ap_attr_mutex (ap_perms_mutex): apmask/aqmask
//       -> guests_level   matrix_dev->guests_lock: mdev_list, m->kvm, info
//       -> kvm_level      kvm->lock (only when the mdev is attached: lock_if)
//       -> hook_level     kvm->arch.crypto.pqap_hook_rwsem (write; the PQAP
//                         intercept takes it shared with nothing held)
//       -> mdevs_level    matrix_dev->mdevs_lock: every ap_matrix_mdev field
//       -> ap_hw_level    the simulated firmware (ZAPQ/TAPQ, fault injection,
//                         the ZAPQ log); a leaf
//
//   mdevs_level also lists guests_level directly: most paths take mdevs
//   right after guests (no guest attached, or no kvm needed).
//   The model-only levels at the top stand for what vfio_ap never names but
//   runs under: the guest table (a vCPU runs inside a live VM: holding the
//   table shared keeps the guest alive without a transient reference, so a
//   guest's count is exactly creator + open devices), dev_set->lock around
//   open_device/close_device, device_lock and ap_scan_bus_mutex around
//   probe/remove. The leaf stands for the hardware.
//
// When not to use it
//   Outside the model: these levels describe vfio_ap's locks only.
//
// Thread-safety contract / memory ordering
//   Types only; see ordered_mutex.hpp.
//
// Invariants
//   L1  guests_level is never taken while mdevs_level is held (the kernel's
//       "never take guests_lock while holding mdevs_lock"): a compile error.
//   L2  ap_attr_level is taken before guests_level by assign_adapter,
//       assign_domain and ap_config, which avoids the ABBA deadlock with
//       apmask_store -> in_use (reference §4.1, row 7 of §5).
//
// Misuse
//   compile error  any acquisition against this order: "ordo: lock order
//                  violation: ...".
//
// Example
//   ordo::unlocked ctx;
//   auto a = ap_attr_mutex.lock(ctx);
//   auto g = guests_lock.lock(a);
//   auto kv = ordo::lock_if(m->kvm ? &m->kvm->lock : nullptr, g);
//   auto md = mdevs_lock.lock(kv);
#ifndef ORDO_VFIO_AP_LEVELS_HPP
#define ORDO_VFIO_AP_LEVELS_HPP

#include "ordo/lock_level.hpp"

namespace ordo::vfio_ap {

struct kvm_table_level : ordo::level<> {};
struct vfio_level : ordo::level<kvm_table_level> {};
struct ap_bus_level : ordo::level<vfio_level> {};
struct ap_attr_level : ordo::level<ap_bus_level> {};
struct guests_level : ordo::level<ap_attr_level> {};
struct kvm_level : ordo::level<guests_level> {};
struct hook_level : ordo::level<kvm_level> {};
struct mdevs_level : ordo::level<hook_level, guests_level> {};
struct ap_hw_level : ordo::level<mdevs_level> {};

static_assert(ordo::lock_before_v<kvm_table_level, ap_hw_level>);
static_assert(!ordo::lock_before_v<mdevs_level, guests_level>);  // L1

}  // namespace ordo::vfio_ap

#endif  // ORDO_VFIO_AP_LEVELS_HPP
