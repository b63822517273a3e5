// ordo-compile-fail: ordo: lock_if: the first argument must be a .possibly null. pointer to an ordo::ordered_mutex
//
// lock_if needs a level to order the conditional lock: a bare absl::Mutex
// has none. The twin passes an ordered mutex; both branches of lock_if give
// the same context type.
#include <ordo/ordered_mutex.hpp>

struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
struct innermost_level : ordo::level<inner_level> {};

#include <type_traits>
ordo::ordered_mutex<outer_level> outer;
ordo::ordered_mutex<inner_level> inner;
absl::Mutex plain;

int main() {
  ordo::unlocked ctx;
  auto o = outer.lock(ctx);
#ifdef ORDO_COMPILE_FAIL
  auto maybe = ordo::lock_if(&plain, o);
#else
  ordo::ordered_mutex<inner_level>* none = nullptr;
  static_assert(std::is_same_v<decltype(ordo::lock_if(none, o)), decltype(ordo::lock_if(&inner, o))>);
  auto maybe = ordo::lock_if(&inner, o);
#endif
}
