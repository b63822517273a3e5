// ordo-compile-fail: ordo: put_locked: Mutex must be BasicLockable
//
// put_locked needs something it can lock and unlock (std or absl style).
#include <ordo/ref.hpp>

#include <mutex>
#include <utility>

struct entry : ordo::kref<entry> {};

int main() {
  auto e = ordo::make_ref<entry>();
#ifdef ORDO_COMPILE_FAIL
  int not_a_lock = 0;
#else
  std::mutex not_a_lock;
#endif
  return ordo::put_locked(std::move(e), not_a_lock) ? 0 : 1;
}
