// ordo-compile-fail: ordo: dynamic_ref_cast: this translation unit is built without RTTI
// ordo-compile-fail-flags: -fno-rtti
//
// ref.hpp needs RTTI only where dynamic_ref_cast is used: built with
// -fno-rtti, static_ref_cast and everything else compile, and a
// dynamic_ref_cast is rejected with ordo's message.
#include <ordo/ref.hpp>

#include <utility>

struct animal : ordo::kref<animal> {
  virtual ~animal() = default;
};
struct cat : animal {};

int main() {
  ordo::ref<animal> a = ordo::make_ref<cat>();
#ifdef ORDO_COMPILE_FAIL
  auto c = ordo::dynamic_ref_cast<cat>(std::move(a));
#else
  auto c = ordo::static_ref_cast<cat>(std::move(a));
#endif
  return c ? 0 : 1;
}
