// ordo-compile-fail: ordo: ref<T>: T must derive from ordo::kref<T>
//
// ordo::ref<T> only owns objects that carry their own count (kref<T>): a ref
// to a plain type must be rejected with ordo's message, not a cast error.
#include <ordo/ref.hpp>

#ifdef ORDO_COMPILE_FAIL
struct plain {
  int value = 0;
};
int use(plain* p) {
  ordo::ref<plain> r = ordo::get_safe(p);
  return r ? r->value : 0;
}
#else
struct counted : ordo::kref<counted> {
  int value = 0;
};
int use(counted* p) {
  ordo::ref<counted> r = ordo::get_safe(p);
  return r ? r->value : 0;
}
#endif

int main() { return use(nullptr); }
