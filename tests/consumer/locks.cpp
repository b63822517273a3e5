// A consumer of ordo::locks: ordered mutexes over Abseil.
#include <ordo/lock_level.hpp>
#include <ordo/lockdep.hpp>
#include <ordo/ordered_mutex.hpp>

#include <cstdio>

namespace {
struct outer_level : ordo::level<> {};
struct inner_level : ordo::level<outer_level> {};
static_assert(ordo::lock_before_v<outer_level, inner_level>);
ordo::ordered_mutex<outer_level> outer_lock;
ordo::ordered_mutex<inner_level> inner_lock;
}  // namespace

int main() {
  {
    ordo::unlocked ctx;
    auto o = outer_lock.lock(ctx);
    auto i = inner_lock.lock(o);
  }
  std::printf("ordo::locks consumer: ok\n");
  return 0;
}
