// ordo-compile-fail: ordo: put_locked: an ordo::ordered_mutex is taken through the caller's lock context
//
// An ordered mutex is taken only through a lock context, so that its order
// is checked; put_locked of one without the context is rejected by name.
#include <ordo/ordered_mutex.hpp>
#include <ordo/ref.hpp>

#include <mutex>
#include <utility>

struct table_level : ordo::level<> {};

struct entry : ordo::kref<entry> {};

ordo::ordered_mutex<table_level, std::mutex> table_lock;

int main() {
  ordo::unlocked ctx;
  auto e = ordo::make_ref<entry>();
#ifdef ORDO_COMPILE_FAIL
  return ordo::put_locked(std::move(e), table_lock) ? 0 : 1;
#else
  return ordo::put_locked(std::move(e), table_lock, ctx) ? 0 : 1;
#endif
}
