// ordo-compile-fail: ordo: lock order violation: this level is already held.*taking<x_level>::while_holding<x_level>
//
// lib/locking-selftest.c row AA (tests/kernel/locking_selftest_test.cpp):
// LOCK(X1); LOCK(X2), two locks of one class. A second lock of a held
// non-nestable level has no order between the two: rejected. The twin
// takes both with ordo::lock_all.
#include <ordo/ordered_mutex.hpp>

struct x_level : ordo::level<> {};
ordo::ordered_mutex<x_level> x1, x2;

int main() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto g1 = x1.lock(ctx);
  auto g2 = x2.lock(g1);
#else
  auto both = ordo::lock_all(ctx, x1, x2);
#endif
}
