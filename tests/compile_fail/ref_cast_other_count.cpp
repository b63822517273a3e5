// ordo-compile-fail: ordo: ref casts: T and U must be counted by the same ordo::kref<B> base
//
// A cross-cast to a type that has a count of its own would move the
// reference from one counter to another (the first never gets its put).
#include <ordo/ref.hpp>

#include <utility>

struct reader : ordo::kref<reader> {
  virtual ~reader() = default;
};
struct writer : ordo::kref<writer> {
  virtual ~writer() = default;
};
struct file_reader : reader {};

int main() {
  ordo::ref<reader> r = ordo::make_ref<file_reader>();
#ifdef ORDO_COMPILE_FAIL
  auto w = ordo::dynamic_ref_cast<writer>(std::move(r));
#else
  auto w = ordo::dynamic_ref_cast<file_reader>(std::move(r));
#endif
  return w ? 0 : 1;
}
