// ordo-compile-fail: ordo: lock_all: every argument must be an ordo::ordered_mutex
//
// lock_all takes ordered mutexes only (the level orders the batch against
// what is held). The twin passes ordered mutexes.
#include <ordo/ordered_mutex.hpp>

struct slot_level : ordo::level<> {};
ordo::ordered_mutex<slot_level> a, b;
absl::Mutex plain_a, plain_b;

int main() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto all = ordo::lock_all(ctx, plain_a, plain_b);
#else
  auto all = ordo::lock_all(ctx, a, b);
#endif
}
