// ordo-compile-fail: ordo: lock order violation
//
// put_locked takes its ordered mutex only for the last put, yet its order
// against the context is checked where put_locked is written: a put under
// an entry lock that would take the table lock (above it) does not compile,
// even if that put would never be the last at run time.
#include <ordo/ordered_mutex.hpp>
#include <ordo/ref.hpp>

#include <mutex>
#include <utility>

struct table_level : ordo::level<> {};
struct bucket_level : ordo::level<table_level> {};

struct entry : ordo::kref<entry> {};

ordo::ordered_mutex<table_level, std::mutex> table_lock;
ordo::ordered_mutex<bucket_level, std::mutex> bucket_lock;

int main() {
  ordo::unlocked ctx;
  auto e = ordo::make_ref<entry>();
  auto keep = e.clone();
#ifdef ORDO_COMPILE_FAIL
  auto b = bucket_lock.lock(ctx);
  return ordo::put_locked(std::move(e), table_lock, b) ? 1 : 0;
#else
  auto t = table_lock.lock(ctx);
  return ordo::put_locked(std::move(e), bucket_lock, t) ? 1 : 0;
#endif
}
