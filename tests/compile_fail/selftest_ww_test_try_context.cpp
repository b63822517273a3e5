// ordo-compile-fail: ordo: lock order violation: this level is already held.*taking<ww_class>::while_holding<ww_class>
//
// lib/locking-selftest.c row ww_test_try_context (tests/kernel/locking_selftest_test.cpp):
// WWT(o); WWL(o2, t): a batch of the class under a try of it. The twin
// tries the second (ww_test_try_try).
#include <ordo/ordered_mutex.hpp>

struct ww_class : ordo::level<> {};
ordo::ordered_mutex<ww_class> o, o2;

int main() {
  ordo::unlocked ctx;
  auto t = o.try_lock(ctx);
  if (!t) return 1;
#ifdef ORDO_COMPILE_FAIL
  auto all = ordo::lock_all(*t, o2);
#else
  auto g = o2.try_lock(*t);
#endif
}
