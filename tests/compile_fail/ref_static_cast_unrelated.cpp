// ordo-compile-fail: ordo: static_ref_cast<T>\(ref<U>\): U\* does not static_cast to T\*
//
// static_ref_cast converts as static_cast does: a downcast compiles, a cast
// between unrelated types is rejected with ordo's message.
#include <ordo/ref.hpp>

#include <utility>

struct animal : ordo::kref<animal> {
  virtual ~animal() = default;
};
struct cat : animal {};
struct rock : ordo::kref<rock> {};

int main() {
  ordo::ref<animal> a = ordo::make_ref<cat>();
#ifdef ORDO_COMPILE_FAIL
  auto r = ordo::static_ref_cast<rock>(std::move(a));
#else
  auto r = ordo::static_ref_cast<cat>(std::move(a));
#endif
  return r ? 0 : 1;
}
