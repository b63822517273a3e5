// The vfio-ap lock chain (docs/vfio-ap-model.md §4.1) as ordo levels, shared
// by the lock_vfio_ap_*.cpp compile-fail cases and
// tests/vfio_ap_lock_chain_test.cpp. Not a compile-fail case itself (.hpp).
//
//   ap_attr_mutex -> guests_lock -> kvm->lock (if a guest is attached)
//     -> pqap_hook rwsem (write) -> mdevs_lock
//   PQAP intercept: pqap_hook rwsem (read) -> mdevs_lock
#ifndef ORDO_TESTS_LOCK_VFIO_AP_LEVELS_HPP
#define ORDO_TESTS_LOCK_VFIO_AP_LEVELS_HPP

#include <ordo/ordered_mutex.hpp>

#include <mutex>

struct ap_attr_level : ordo::level<> {};
struct guests_level : ordo::level<ap_attr_level> {};
struct kvm_level : ordo::level<guests_level> {};
struct pqap_hook_level : ordo::level<kvm_level> {};
// mdevs_lock follows the rwsem on the update path and the intercept path,
// and guests_lock directly when no guest is attached.
struct mdevs_level : ordo::level<pqap_hook_level, guests_level> {};

namespace vfio_ap_chain {

struct kvm {
  ordo::ordered_mutex<kvm_level, std::mutex> lock;  // any Lockable
  ordo::ordered_shared_mutex<pqap_hook_level> pqap_hook_rwsem;
  int masks_set = 0;
};

struct matrix {
  ordo::ordered_mutex<ap_attr_level> ap_attr_mutex;
  ordo::ordered_mutex<guests_level> guests_lock;
  ordo::ordered_mutex<mdevs_level> mdevs_lock;
  bool kvm_busy = false;  // the history's open-coded lock (rows 3 and 6)
  int apcb_updates = 0;
};

// vfio_ap_mdev_update_guest_apcb: needs guests_lock and mdevs_lock, and
// kvm->lock if a guest is attached (held or conditionally held).
inline void update_guest_apcb(ordo::lock_context auto& ctx) {
  ordo::assert_held<guests_level, ordo::maybe<kvm_level>, mdevs_level>(ctx);
}

}  // namespace vfio_ap_chain

#endif  // ORDO_TESTS_LOCK_VFIO_AP_LEVELS_HPP
