// ordo-compile-fail: ordo: lock order violation: this level is already held.*taking<ww_class>::while_holding<ww_class>
//
// lib/locking-selftest.c row ww_test_context_block (tests/kernel/locking_selftest_test.cpp):
// WWL(o, t); WWL1(o2): a blocking lock of the class outside the batch
// that holds it. The twin takes both in the batch (ww_test_context_context).
#include <ordo/ordered_mutex.hpp>

struct ww_class : ordo::level<> {};
ordo::ordered_mutex<ww_class> o, o2;

int main() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto t = ordo::lock_all(ctx, o);
  auto g = o2.lock(t);
#else
  auto t = ordo::lock_all(ctx, o, o2);
#endif
}
