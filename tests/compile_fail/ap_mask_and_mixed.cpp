// ordo-compile-fail: ordo: ap: cannot mix mask kinds
//
// An adapter mask intersected with a domain mask is meaningless (the IDs are
// of different things); it must be rejected with ordo's message. The twin
// intersects two adapter masks.
#include <ordo/ap.hpp>

int main() {
  ordo::ap::adapter_mask apm;
  apm.set(ordo::ap::apid{3});
#ifdef ORDO_COMPILE_FAIL
  ordo::ap::domain_mask aqm;
  auto both = apm & aqm;
#else
  ordo::ap::adapter_mask host_apm = ordo::ap::adapter_mask::all();
  auto both = apm & host_apm;
#endif
  return both.weight() == 1 ? 0 : 1;
}
