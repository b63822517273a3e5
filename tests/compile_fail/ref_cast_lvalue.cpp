// ordo-compile-fail: ordo: ref casts take the reference they convert: pass std::move\(r\)
//
// ref is move-only: a cast either moves the reference (std::move(r)) or
// converts a new one (r.clone()). A cast of an lvalue would hide a copy.
#include <ordo/ref.hpp>

#include <utility>

struct animal : ordo::kref<animal> {
  virtual ~animal() = default;
};
struct cat : animal {};

int main() {
  ordo::ref<animal> a = ordo::make_ref<cat>();
#ifdef ORDO_COMPILE_FAIL
  auto c = ordo::static_ref_cast<cat>(a);
#else
  auto c = ordo::static_ref_cast<cat>(a.clone());
#endif
  return c == a ? 0 : 1;
}
