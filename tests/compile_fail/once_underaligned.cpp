// ordo-compile-fail: ordo: read_once/write_once: alignof\(T\) is below
//
// Two 32-bit halves make 8 bytes, but with alignment 4 the object may straddle
// a cache line and atomic_ref<T> requires 8: rejected until the type is aligned.
#include <ordo/once.hpp>

#include <cstdint>

#ifdef ORDO_COMPILE_FAIL
struct halves { std::uint32_t lo, hi; };
#else
struct alignas(8) halves { std::uint32_t lo, hi; };
#endif
halves shared_halves;
halves load_halves() { return ordo::load_acquire(shared_halves); }

int main() { return 0; }
