// ordo-compile-fail: ordo: hazard_pointer: T must be hazard-protectable
//
// try_protect of a type that does not derive from hazard_pointer_obj_base:
// nothing could ever retire it, so protecting it is meaningless and
// rejected. The valid twin derives from the base.
#include <ordo/hazard_pointer.hpp>

#include <atomic>

#ifdef ORDO_COMPILE_FAIL
struct object {
  int value = 1;
};
#else
struct object : ordo::hazard_pointer_obj_base<object> {
  int value = 1;
};
#endif

int use() {
  ordo::hazard_pointer h = ordo::make_hazard_pointer();
  static std::atomic<object*> src{nullptr};
  object* ptr = nullptr;
  return h.try_protect(ptr, src) ? 0 : 1;
}

int main() { return use(); }
