// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<x_level>::while_holding<y_level>
//
// lib/locking-selftest.c row rwsem_ABBA1 (tests/kernel/locking_selftest_test.cpp):
// RSL(X1); ML(Y1); then ML(Y1); WSL(X1): the writer side of X under Y
// inverts the order the reader side set. The twin keeps X first.
#include <ordo/ordered_mutex.hpp>

struct x_level : ordo::level<> {};
struct y_level : ordo::level<x_level> {};
ordo::ordered_shared_mutex<x_level> x_lock;
ordo::ordered_mutex<y_level> y_lock;

int main() {
  ordo::unlocked ctx;
  {
    auto gx = x_lock.lock_shared(ctx);
    auto gy = y_lock.lock(gx);
  }
#ifdef ORDO_COMPILE_FAIL
  auto gy = y_lock.lock(ctx);
  auto gx = x_lock.lock(gy);
#else
  auto gx = x_lock.lock(ctx);
  auto gy = y_lock.lock(gx);
#endif
}
