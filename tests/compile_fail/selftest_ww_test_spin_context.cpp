// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<ww_class>::while_holding<spin_level>
//
// lib/locking-selftest.c row ww_test_spin_context (tests/kernel/locking_selftest_test.cpp):
// WWL(o, t); L(A); then L(A); WWL(o, t): a batch is ordered like any
// lock. The twin takes the batch first.
#include <ordo/ordered_mutex.hpp>

struct ww_class : ordo::level<> {};
struct spin_level : ordo::level<ww_class> {};
ordo::ordered_mutex<ww_class> o;
ordo::ordered_mutex<spin_level> a;

int main() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto ga = a.lock(ctx);
  auto t = ordo::lock_all(ga, o);
#else
  auto t = ordo::lock_all(ctx, o);
  auto ga = a.lock(t);
#endif
}
