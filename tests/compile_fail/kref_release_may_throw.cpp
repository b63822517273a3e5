// ordo-compile-fail: ordo: kref<T>: T::kref_release\(\) must be noexcept
//
// The final put runs in destructors and noexcept paths: a release function
// that may throw must be rejected at compile time.
#include <ordo/ref.hpp>

struct pooled : ordo::kref<pooled> {
#ifdef ORDO_COMPILE_FAIL
  void kref_release() {}
#else
  void kref_release() noexcept {}
#endif
};

int main() {
  pooled object;
  ordo::adopt_ref(&object).reset();
  return 0;
}
