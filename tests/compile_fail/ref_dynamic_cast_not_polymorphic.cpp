// ordo-compile-fail: ordo: dynamic_ref_cast<T>\(ref<U>\): U must be polymorphic
//
// dynamic_ref_cast asks the object's dynamic type, which only a polymorphic
// class has.
#include <ordo/ref.hpp>

#include <utility>

#ifdef ORDO_COMPILE_FAIL
struct animal : ordo::kref<animal> {
 private:
  friend class ordo::kref<animal>;
  void kref_release() noexcept { delete this; }
};
#else
struct animal : ordo::kref<animal> {
  virtual ~animal() = default;
};
#endif
struct cat : animal {};

int main() {
  ordo::ref<animal> a = ordo::make_ref<animal>();
  auto c = ordo::dynamic_ref_cast<cat>(std::move(a));
  return c ? 1 : 0;
}
