// ordo-compile-fail: reading variable 'count' requires holding mutex 'c.lock'
// ordo-compile-fail-compiler: clang
//
// The guard's scope is the lock's scope for Clang's analysis too: reading
// guarded data after the guard is gone is an error. The twin reads inside.
#include <ordo/ordered_mutex.hpp>

struct counter_level : ordo::level<> {};
struct counter {
  ordo::ordered_mutex<counter_level> lock;
  long count ABSL_GUARDED_BY(lock) = 0;
};

long read(counter& c, ordo::unlocked& ctx) {
#ifdef ORDO_COMPILE_FAIL
  { auto g = c.lock.lock(ctx); }
  return c.count;
#else
  auto g = c.lock.lock(ctx);
  return c.count;
#endif
}

int main() {
  counter c;
  ordo::unlocked ctx;
  return static_cast<int>(read(c, ctx));
}
