// ordo-compile-fail: ordo: ap: cannot mix mask kinds
//
// Assigning usage domains to the control-domain mask (aqm vs adm: the same
// number space, different roles) must not compile. The twin assigns a
// control-domain mask.
#include <ordo/ap.hpp>

int main() {
  ordo::ap::ap_matrix m;
  ordo::ap::control_domain_mask host_adm;
  host_adm.set(ordo::ap::cdom{1});
#ifdef ORDO_COMPILE_FAIL
  m.adm = m.aqm;
#else
  m.adm = host_adm;
#endif
  return m.adm.weight() == 1 ? 0 : 1;
}
