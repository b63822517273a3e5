// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<a_level>::while_holding<b_level>
//
// lib/locking-selftest.c row ABBA (tests/kernel/locking_selftest_test.cpp):
// LOCK_UNLOCK_2(A, B); LOCK_UNLOCK_2(B, A). The second pair inverts the
// declared order. The twin takes both pairs in order.
#include <ordo/ordered_mutex.hpp>

struct a_level : ordo::level<> {};
struct b_level : ordo::level<a_level> {};
ordo::ordered_mutex<a_level> a;
ordo::ordered_mutex<b_level> b;

int main() {
  ordo::unlocked ctx;
  {
    auto ga = a.lock(ctx);
    auto gb = b.lock(ga);
  }
#ifdef ORDO_COMPILE_FAIL
  auto gb = b.lock(ctx);
  auto ga = a.lock(gb);
#else
  auto ga = a.lock(ctx);
  auto gb = b.lock(ga);
#endif
}
