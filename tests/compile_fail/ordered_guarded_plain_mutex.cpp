// ordo-compile-fail: ordo: guarded<T, Mutex>: Mutex must be an ordo::ordered_mutex
//
// guarded<T, Mutex> needs an ordered mutex (its level orders the guard
// against everything else). The twin uses one.
#include <ordo/ordered_mutex.hpp>

struct value_level : ordo::level<> {};
#ifdef ORDO_COMPILE_FAIL
ordo::guarded<int, absl::Mutex> value;
#else
ordo::guarded<int, ordo::ordered_mutex<value_level>> value;
#endif

int main() {}
