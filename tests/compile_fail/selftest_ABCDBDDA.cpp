// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<a_level>::while_holding<d_level>
//
// lib/locking-selftest.c row ABCDBDDA (tests/kernel/locking_selftest_test.cpp):
// LOCK_UNLOCK_2(A, B); (C, D); (B, D); (D, A). The twin takes (A, D).
#include <ordo/ordered_mutex.hpp>

struct a_level : ordo::level<> {};
struct b_level : ordo::level<a_level> {};
struct c_level : ordo::level<> {};
struct d_level : ordo::level<c_level, b_level> {};
ordo::ordered_mutex<a_level> a;
ordo::ordered_mutex<b_level> b;
ordo::ordered_mutex<c_level> c;
ordo::ordered_mutex<d_level> d;

template <class X, class Y>
void lock_unlock_2(ordo::unlocked& ctx, X& x, Y& y) {
  auto gx = x.lock(ctx);
  auto gy = y.lock(gx);
}

int main() {
  ordo::unlocked ctx;
  lock_unlock_2(ctx, a, b);
  lock_unlock_2(ctx, c, d);
  lock_unlock_2(ctx, b, d);
#ifdef ORDO_COMPILE_FAIL
  lock_unlock_2(ctx, d, a);
#else
  lock_unlock_2(ctx, a, d);
#endif
}
