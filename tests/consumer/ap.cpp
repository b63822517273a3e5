// A consumer of ordo::ap: the AP ids and masks, without Abseil.
#include <ordo/ap.hpp>
#include <ordo/bitmap.hpp>

#include <cstdint>
#include <cstdio>

int main() {
  ordo::ap::adapter_mask apm;
  apm.set(ordo::ap::apid(5));
  if (apm.to_string().substr(0, 4) != "0x04") return 1;
  ordo::bitmap<256> bits;
  bits.set_inv(0);
  if (!bits.test_inv(0) || bits.words()[0] != (std::uint64_t{1} << 63)) return 2;
  std::printf("ordo::ap consumer: ok\n");
  return 0;
}
