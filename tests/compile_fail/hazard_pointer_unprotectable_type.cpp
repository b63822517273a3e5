// ordo-compile-fail: ordo: hazard_pointer: T must be hazard-protectable
//
// A hazard pointer can only protect an object that the library knows how to
// retire: a class deriving from hazard_pointer_obj_base<T, D> ([saferecl.hp]
// "Mandates: T is a hazard-protectable type"). Protecting a plain struct, or
// a class derived from a protectable one (its protection would not match
// the address retire() records), is rejected. The valid twin protects the
// protectable base.
#include <ordo/hazard_pointer.hpp>

#include <atomic>

struct protectable : ordo::hazard_pointer_obj_base<protectable> {
  int value = 1;
};
struct derived : protectable {};
struct plain {
  int value = 1;
};

int use() {
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
#ifdef ORDO_COMPILE_FAIL
  static std::atomic<derived*> src{nullptr};
#else
  static std::atomic<protectable*> src{nullptr};
#endif
  return h.protect(src) == nullptr ? 0 : 1;
}

int main() { return use(); }
