// ordo-compile-fail: ordo: lock order violation: this level is already held.*taking<ww_class>::while_holding<ww_class>
//
// lib/locking-selftest.c row ww_test_block_block (tests/kernel/locking_selftest_test.cpp):
// WWL1(o); WWL1(o2). The twin tries the second (ww_test_block_try).
#include <ordo/ordered_mutex.hpp>

struct ww_class : ordo::level<> {};
ordo::ordered_mutex<ww_class> o, o2;

int main() {
  ordo::unlocked ctx;
  auto g = o.lock(ctx);
#ifdef ORDO_COMPILE_FAIL
  auto g2 = o2.lock(g);
#else
  auto g2 = o2.try_lock(g);
#endif
}
