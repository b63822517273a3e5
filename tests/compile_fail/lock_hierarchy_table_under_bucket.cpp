// ordo-compile-fail: ordo: lock order violation
//
// examples/lock_hierarchy.cpp's order: table before bucket before refill.
// A lookup that holds its bucket and then takes the table lock (the
// inversion that deadlocks against flush) does not compile; flush's order,
// table then bucket, does.
#include <ordo/ordered_mutex.hpp>

struct table_level : ordo::level<> {};
struct bucket_level : ordo::level<table_level> {};
struct refill_level : ordo::level<bucket_level> {};

ordo::ordered_mutex<table_level> table_lock;
ordo::ordered_mutex<bucket_level> bucket_lock;

int main() {
  ordo::unlocked ctx;
#ifdef ORDO_COMPILE_FAIL
  auto bucket = bucket_lock.lock(ctx);
  auto table = table_lock.lock(bucket);
#else
  auto table = table_lock.lock(ctx);
  auto bucket = bucket_lock.lock(table);
#endif
  return 0;
}
