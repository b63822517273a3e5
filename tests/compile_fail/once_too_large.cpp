// ordo-compile-fail: ordo: read_once/write_once: std::atomic_ref<T> is not lock-free
//
// A 32-byte struct cannot be read in one lock-free access: READ_ONCE on it
// would tear, so it must not compile. The 8-byte twin does.
#include <ordo/once.hpp>

#include <cstdint>

#ifdef ORDO_COMPILE_FAIL
struct wide { std::uint64_t words[4]; };
wide shared_wide;
void store_wide(wide w) { ordo::write_once(shared_wide, w); }
#else
struct alignas(8) narrow8 { std::uint32_t lo, hi; };
narrow8 shared_narrow8;
void store_narrow(narrow8 n) { ordo::write_once(shared_narrow8, n); }
#endif

int main() { return 0; }
