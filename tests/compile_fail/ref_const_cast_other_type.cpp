// ordo-compile-fail: ordo: const_ref_cast<T>\(ref<U>\): T and U must differ only in const/volatile
//
// const_ref_cast removes or adds const, nothing else.
#include <ordo/ref.hpp>

#include <utility>

struct animal : ordo::kref<animal> {
  virtual ~animal() = default;
};
struct cat : animal {};

int main() {
  ordo::ref<const cat> c = ordo::make_ref<cat>();
#ifdef ORDO_COMPILE_FAIL
  auto m = ordo::const_ref_cast<animal>(std::move(c));
#else
  auto m = ordo::const_ref_cast<cat>(std::move(c));
#endif
  return m ? 0 : 1;
}
