// ordo-compile-fail: ordo: ap: a mask is indexed only by its own ID type
//
// A raw number says nothing about which kind of ID it is, so a typed mask
// does not take one. The twin names the kind.
#include <ordo/ap.hpp>

int main() {
  ordo::ap::domain_mask aqm;
  aqm.set(ordo::ap::apqi{7});
#ifdef ORDO_COMPILE_FAIL
  return aqm.test(7) ? 0 : 1;
#else
  return aqm.test(ordo::ap::apqi{7}) ? 0 : 1;
#endif
}
