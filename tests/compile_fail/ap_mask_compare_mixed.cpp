// ordo-compile-fail: ordo: ap: cannot mix mask kinds
//
// Comparing (or testing for subset/intersection) masks of different kinds is
// a mix-up too. The twin compares two domain masks.
#include <ordo/ap.hpp>

int main() {
  ordo::ap::ap_matrix m;
  ordo::ap::ap_matrix shadow;
#ifdef ORDO_COMPILE_FAIL
  const bool changed = !(m.aqm == shadow.adm) || m.aqm.intersects(shadow.adm);
#else
  const bool changed = !(m.aqm == shadow.aqm) || m.aqm.intersects(shadow.aqm);
#endif
  return changed ? 1 : 0;
}
