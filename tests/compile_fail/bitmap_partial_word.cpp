// ordo-compile-fail: ordo: bitmap<N>: N must be a positive multiple of 64
//
// With a partial last word the LSB-0 and MSB-0 numberings would address
// different bits, so bitmap<N> needs whole words. The twin uses 128 bits.
#include <ordo/bitmap.hpp>

int main() {
#ifdef ORDO_COMPILE_FAIL
  ordo::bitmap<100> b;
#else
  ordo::bitmap<128> b;
#endif
  b.set_inv(99);
  return b.test_inv(99) ? 0 : 1;
}
