// ordo-compile-fail: ordo: lock order violation: the level being taken is declared before a level already held.*taking<ww_class>::while_holding<spin_level>
//
// lib/locking-selftest.c row ww_test_spin_block (tests/kernel/locking_selftest_test.cpp):
// WWL1(o); L(A); then L(A); WWL1(o): A under o, then o under A. The twin
// tries o under A (ww_test_spin_try).
#include <ordo/ordered_mutex.hpp>

struct ww_class : ordo::level<> {};
struct spin_level : ordo::level<ww_class> {};
ordo::ordered_mutex<ww_class> o;
ordo::ordered_mutex<spin_level> a;

int main() {
  ordo::unlocked ctx;
  {
    auto go = o.lock(ctx);
    auto ga = a.lock(go);
  }
  auto ga = a.lock(ctx);
#ifdef ORDO_COMPILE_FAIL
  auto go = o.lock(ga);
#else
  auto go = o.try_lock(ga);
#endif
}
