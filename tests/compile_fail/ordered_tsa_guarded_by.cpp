// ordo-compile-fail: writing variable 'count' requires holding mutex 'c.lock' exclusively
// ordo-compile-fail-compiler: clang
//
// Clang Thread Safety Analysis understands ordo's mutexes and guards: data
// marked ABSL_GUARDED_BY(lock) written without a guard of lock is an error
// under -Wthread-safety -Werror. The twin writes it through a guard.
#include <ordo/ordered_mutex.hpp>

struct counter_level : ordo::level<> {};
struct counter {
  ordo::ordered_mutex<counter_level> lock;
  long count ABSL_GUARDED_BY(lock) = 0;
};

void bump(counter& c, ordo::unlocked& ctx) {
#ifdef ORDO_COMPILE_FAIL
  (void)ctx;
  ++c.count;
#else
  auto g = c.lock.lock(ctx);
  ++c.count;
#endif
}

int main() {
  counter c;
  ordo::unlocked ctx;
  bump(c, ctx);
}
