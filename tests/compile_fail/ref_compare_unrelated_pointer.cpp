// ordo-compile-fail: ordo: ref: comparing a ref<T> with a ref<U> or U\* of an unrelated type
//
// The order of a ref against a raw pointer of an unrelated type is rejected
// the same way (it would only compare addresses of different objects).
#include <ordo/ref.hpp>

struct apple : ordo::kref<apple> {};
struct pear : ordo::kref<pear> {};

bool before(const ordo::ref<apple>& a,
#ifdef ORDO_COMPILE_FAIL
            pear* p
#else
            apple* p
#endif
) {
  return a < p;
}

int main() { return before(ordo::ref<apple>(), nullptr) ? 1 : 0; }
