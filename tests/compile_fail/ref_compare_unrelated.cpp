// ordo-compile-fail: ordo: ref: comparing a ref<T> with a ref<U> or U\* of an unrelated type
//
// Two refs compare by address only when their pointers do: a ref<a> and a
// ref<b> of unrelated types can never be the same object, so comparing them
// is a mistake the compiler names. Related types (base and derived) compare.
#include <ordo/ref.hpp>

struct apple : ordo::kref<apple> {
  virtual ~apple() = default;
};
struct green_apple : apple {};
struct pear : ordo::kref<pear> {};

bool same(const ordo::ref<apple>& a,
#ifdef ORDO_COMPILE_FAIL
          const ordo::ref<pear>& b
#else
          const ordo::ref<green_apple>& b
#endif
) {
  return a == b;
}

int main() { return same(ordo::ref<apple>(), {}) ? 0 : 1; }
