// ordo-compile-fail: ordo: lock order violation: this level is already held.*taking<ww_class>::while_holding<ww_class>
//
// lib/locking-selftest.c row ww_test_block_context (tests/kernel/locking_selftest_test.cpp):
// WWL1(o); WWL(o2, t). The twin takes both in one batch.
#include <ordo/ordered_mutex.hpp>

struct ww_class : ordo::level<> {};
ordo::ordered_mutex<ww_class> o, o2;

int main() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto g = o.lock(ctx);
  auto all = ordo::lock_all(g, o2);
#else
  auto all = ordo::lock_all(ctx, o, o2);
#endif
}
