// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before
//
// The vfio_ap lock order (reference §4.1): never take guests_lock while
// holding mdevs_lock. The inversion is a compile error; the twin takes them
// in the kernel's order.
#include <vfio_ap/matrix_dev.hpp>

void walk_mdevs(ordo::vfio_ap::matrix_dev& dev) {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto md = dev.mdevs_lock.lock(ctx);
  auto g = dev.guests_lock.lock(md);
#else
  auto g = dev.guests_lock.lock(ctx);
  auto md = dev.mdevs_lock.lock(g);
#endif
}

int main() { return 0; }
