// ordo-compile-fail: ordo: lock order violation: lock levels are declared in a cycle
//
// lib/locking-selftest.c row ABCABC (tests/kernel/locking_selftest_test.cpp):
// LOCK_UNLOCK_2(A, B); (C, A); (B, C). Declaring the three orders the row
// takes as levels is itself a declared cycle (A before B before C before
// A). The twin declares only the first two (C before A before B).
#include <ordo/ordered_mutex.hpp>

struct a_level;
struct c_level;
struct b_level : ordo::level<a_level> {};
#ifdef ORDO_COMPILE_FAIL
struct c_level : ordo::level<b_level> {};
#else
struct c_level : ordo::level<> {};
#endif
struct a_level : ordo::level<c_level> {};
ordo::ordered_mutex<a_level> a;
ordo::ordered_mutex<b_level> b;
ordo::ordered_mutex<c_level> c;

template <class X, class Y>
void lock_unlock_2(ordo::unlocked& ctx, X& x, Y& y) {
  auto gx = x.lock(ctx);
  auto gy = y.lock(gx);
}

int main() {
  ordo::unlocked ctx;
  lock_unlock_2(ctx, a, b);
  lock_unlock_2(ctx, c, a);
}
