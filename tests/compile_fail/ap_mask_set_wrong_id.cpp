// ordo-compile-fail: ordo: ap: a mask is indexed only by its own ID type
//
// Setting a domain ID in an adapter mask is the classic apm/aqm mix-up; the
// mask accepts only its own ID type. The twin sets an apid.
#include <ordo/ap.hpp>

int main() {
  ordo::ap::adapter_mask apm;
#ifdef ORDO_COMPILE_FAIL
  apm.set(ordo::ap::apqi{3});
#else
  apm.set(ordo::ap::apid{3});
#endif
  return apm.weight() == 1 ? 0 : 1;
}
