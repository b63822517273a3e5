// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<outer_level>::while_holding<inner_level>
//
// try_lock cannot deadlock and is not order-checked itself, but everything
// taken through its guard is: outer after a try-locked inner is still an
// inversion. The twin try-locks outer and then takes inner.
#include <ordo/ordered_mutex.hpp>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
struct innermost_level : ordo::level<inner_level> {};

ordo::ordered_mutex<outer_level> outer;
ordo::ordered_mutex<inner_level> inner;

int main() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  if (auto i = inner.try_lock(ctx)) {
    auto o = outer.lock(*i);
  }
#else
  if (auto o = outer.try_lock(ctx)) {
    auto i = inner.lock(*o);
  }
#endif
}
