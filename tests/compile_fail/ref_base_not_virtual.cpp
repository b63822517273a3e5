// ordo-compile-fail: ordo: ref<T>: T's counting base B \(B : ordo::kref<B>\) has no virtual destructor
//
// Issue 10, edge 7: a derived object counted by a base that has neither a
// virtual destructor nor a kref_release() would be deleted through the base
// pointer by the final put (~D never runs; ASan: new-delete-type-mismatch).
// ref<D> must not compile; with a virtual destructor it does.
#include <ordo/ref.hpp>

#include <string>

struct base : ordo::kref<base> {
#ifdef ORDO_COMPILE_FAIL
  ~base() = default;
#else
  virtual ~base() = default;
#endif
};
struct derived : base {
  std::string name = "owned by the derived part";
};

int main() {
  ordo::ref<derived> d = ordo::make_ref<derived>();
  return d->name.empty() ? 1 : 0;
}
