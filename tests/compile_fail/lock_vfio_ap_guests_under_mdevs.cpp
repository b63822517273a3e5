// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<guests_level>::while_holding<mdevs_level>
//
// docs/vfio-ap-model.md §7: "Never take guests_lock while holding
// mdevs_lock." The twin takes guests_lock first.
#include <ordo/ordered_mutex.hpp>
#include "lock_vfio_ap_levels.hpp"

void probe(ordo::unlocked& ctx, vfio_ap_chain::matrix& m) {
#ifdef ORDO_COMPILE_FAIL
  auto d = m.mdevs_lock.lock(ctx);
  auto g = m.guests_lock.lock(d);
#else
  auto g = m.guests_lock.lock(ctx);
  auto d = m.mdevs_lock.lock(g);
#endif
}

int main() {
  vfio_ap_chain::matrix m;
  ordo::unlocked ctx;
  probe(ctx, m);
}
