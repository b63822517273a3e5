// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held
//
// History §5 row 7 — "s390/vfio-ap: implement in-use callback for vfio_ap
// driver" (2022 dynamic-configuration series): assign_adapter held
// guests_lock/mdevs_lock and then took ap_perms_mutex inside
// ap_apqn_in_matrix_owned_by_def_drv(), while apmask_store holds
// ap_perms_mutex and calls vfio_ap's in_use(), which takes guests_lock: an
// ABBA deadlock. The fix moved ap_perms_mutex (ap_attr_mutex since 6.19,
// row 12) out of the helper; assign_adapter, assign_domain and ap_config take
// it first (reference §4.1, levels.hpp L2).
//
// ordo: the model's ap_perms::mutex is an ordered_mutex<ap_attr_level>;
// taking it through a context that holds guests_lock is a compile error. The
// valid twin is the fixed order ap_attr -> guests -> mdevs, with
// ap_perms::reserved() demanding ap_attr_mutex in the context.
#include "ordo/ordered_mutex.hpp"
#include "vfio_ap/ap_hw.hpp"
#include "vfio_ap/levels.hpp"

namespace vfio = ordo::vfio_ap;

vfio::ap_perms perms;
ordo::ordered_mutex<vfio::guests_level> guests_lock;
ordo::ordered_mutex<vfio::mdevs_level> mdevs_lock;

bool assign_adapter(ordo::ap::apqn q) {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto g = guests_lock.lock(ctx);
  auto m = mdevs_lock.lock(g);
  auto a = perms.mutex.lock(m);  // ap_apqn_in_matrix_owned_by_def_drv()
  return perms.reserved(a, q);
#else
  auto a = perms.mutex.lock(ctx);
  auto g = guests_lock.lock(a);
  auto m = mdevs_lock.lock(g);
  return perms.reserved(m, q);
#endif
}

int main() { return assign_adapter(ordo::ap::apqn{}) ? 0 : 1; }
