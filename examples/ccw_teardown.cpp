// examples/ccw_teardown.cpp — the virtio-ccw lesson: the pointee outlives
// the pointer.
//
// A DMA area allocated from a device's pool holds an ordo::ref on the device,
// so the device is released by whoever lets go last: the bus tearing the
// device down, or the driver freeing its last area. This program runs both
// orders single-threaded, then races them on two threads many times, and
// checks that every device is released exactly once and never while one of
// its areas exists. It is clean under ASan and TSan.
//
// The broken variant (ccw::raw_dma_area, a plain device*) is not run here: it
// is undefined behaviour. tests/ref_test.cpp runs it under the asan preset in
// a death test that expects ASan's "heap-use-after-free" report.
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "ccw_teardown.hpp"

namespace {

std::atomic<int> failures{0};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what);
    ++failures;
  }
}

// Device teardown first, areas freed afterwards: the areas keep it alive.
void teardown_before_free() {
  const int before = ccw::devices_released.load();
  auto registration = ordo::make_ref<ccw::device>("0.0.0001");
  ccw::dma_area config = ccw::dma_area::zalloc(registration);
  ccw::dma_area indicators = ccw::dma_area::zalloc(registration);
  check(config && indicators, "two areas allocated");
  registration.reset();  // ccw_device_unregister: the bus lets go
  check(ccw::devices_released.load() == before, "device alive while areas exist");
  config.free();
  check(ccw::devices_released.load() == before, "device alive while one area exists");
  indicators.free();  // the last put: the device is released here
  check(ccw::devices_released.load() == before + 1, "device released by the last area");
}

// Areas freed first, then teardown: the usual order.
void free_before_teardown() {
  const int before = ccw::devices_released.load();
  auto registration = ordo::make_ref<ccw::device>("0.0.0002");
  {
    ccw::dma_area config = ccw::dma_area::zalloc(registration);
    check(static_cast<bool>(config), "area allocated");
  }
  check(ccw::devices_released.load() == before, "device alive while registered");
  registration.reset();
  check(ccw::devices_released.load() == before + 1, "device released by teardown");
}

// Both at once, on two threads, many times.
void racing_teardown(int rounds) {
  const int before = ccw::devices_released.load();
  for (int i = 0; i < rounds; ++i) {
    auto registration = ordo::make_ref<ccw::device>("0.0.0003");
    std::vector<ccw::dma_area> areas;
    for (int a = 0; a < 3; ++a) areas.push_back(ccw::dma_area::zalloc(registration));
    std::thread driver([&areas] { areas.clear(); });       // frees every area
    std::thread bus([&registration] { registration.reset(); });  // unregisters
    driver.join();
    bus.join();
  }
  check(ccw::devices_released.load() == before + rounds, "every raced device released once");
}

}  // namespace

int main() {
  teardown_before_free();
  free_before_teardown();
  racing_teardown(200);
  check(ccw::released_with_areas.load() == 0, "no device released under a live DMA area");
  if (failures != 0) return 1;
  std::printf("ccw_teardown: %d devices, each released once, after its last DMA area\n",
              ccw::devices_released.load());
  return 0;
}
