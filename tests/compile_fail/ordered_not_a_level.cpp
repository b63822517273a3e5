// ordo-compile-fail: ordo: ordered_mutex<Level>: Level must be a lock level.*is_a_level<int>
//
// An ordered mutex's level must be a level type. The twin uses ordo::rank.
#include <ordo/ordered_mutex.hpp>

#ifdef ORDO_COMPILE_FAIL
ordo::ordered_mutex<int> m;
#else
ordo::ordered_mutex<ordo::rank<3>> m;
#endif

int main() {}
