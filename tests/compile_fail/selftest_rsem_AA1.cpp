// ordo-compile-fail: ordo: lock order violation: this level is already held.*taking<x_level>::while_holding<x_level>
//
// lib/locking-selftest.c row rsem_AA1 (tests/kernel/locking_selftest_test.cpp):
// RSL(X1); RSL(X1): a reader lock taken again by its reader is a
// self-deadlock once a writer queues between the two. The twin takes it
// once.
#include <ordo/ordered_mutex.hpp>

struct x_level : ordo::level<> {};
ordo::ordered_shared_mutex<x_level> x1;

int main() {
  ordo::unlocked ctx;
  auto g = x1.lock_shared(ctx);
#ifdef ORDO_COMPILE_FAIL
  auto again = x1.lock_shared(g);
#endif
}
