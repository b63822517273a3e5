// ordo-compile-fail: ordo: read_once/write_once: T must be trivially copyable
//
// read_once on a type that is not trivially copyable cannot be a single atomic
// access; it must be rejected with ordo's own message.
#include <ordo/once.hpp>

#include <string>

#ifdef ORDO_COMPILE_FAIL
std::string shared_name;
std::string read_name() { return ordo::read_once(shared_name); }
#else
long shared_counter;
long read_counter() { return ordo::read_once(shared_counter); }
#endif

int main() { return 0; }
