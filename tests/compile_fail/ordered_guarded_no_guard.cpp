// ordo-compile-fail: ordo: guarded<T, Mutex>: the data is reachable only through a guard
//
// The value inside ordo::guarded has no accessor but lock(): touching it
// without a guard does not compile. The twin locks first.
#include <ordo/ordered_mutex.hpp>

#include <vector>
struct list_level : ordo::level<> {};
ordo::guarded<std::vector<int>, ordo::ordered_mutex<list_level>> numbers;

int main() {
#ifdef ORDO_COMPILE_FAIL
  numbers->push_back(1);
#else
  ordo::unlocked ctx;
  numbers.lock(ctx)->push_back(1);
#endif
}
