// examples/ccw_teardown.hpp — the model behind examples/ccw_teardown.cpp and
// the ASan proof in tests/ref_test.cpp.
//
// The virtio-ccw lesson: DMA areas are carved from a per-device DMA pool, and
// freeing an area returns it to that pool, so it touches the device. If the
// device can be released while an area still exists, the area's free is a
// use-after-free. The fix is a rule about lifetimes: the pointee outlives the
// pointer. An area holds a reference on its device (ordo::ref<device>), so
// the device is released by whichever of "device teardown" and "last area
// freed" comes last, in any order, from any thread.
//
// `dma_area` is the fixed version; `raw_dma_area` is the broken one (it keeps
// a plain device*), compiled here so the test can show ASan catching it.
#ifndef ORDO_EXAMPLES_CCW_TEARDOWN_HPP
#define ORDO_EXAMPLES_CCW_TEARDOWN_HPP

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "ordo/ref.hpp"

namespace ccw {

// Counts released devices, so a test can see exactly-once release.
inline std::atomic<int> devices_released{0};
// Counts devices released while a DMA area from their pool still existed.
inline std::atomic<int> released_with_areas{0};

// A fixed-size DMA pool: `slots` areas of `slot_size` bytes.
class dma_pool {
 public:
  static constexpr std::size_t slots = 8;
  static constexpr std::size_t slot_size = 64;

  std::byte* alloc() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t i = 0; i < slots; ++i) {
      if (!used_[i]) {
        used_[i] = true;
        ++in_use_;
        return memory_.get() + i * slot_size;
      }
    }
    return nullptr;
  }

  void free(std::byte* area) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto i = static_cast<std::size_t>(area - memory_.get()) / slot_size;
    used_[i] = false;
    --in_use_;
  }

  std::size_t in_use() {
    std::lock_guard<std::mutex> lock(mutex_);
    return in_use_;
  }

 private:
  std::mutex mutex_;
  std::unique_ptr<std::byte[]> memory_ = std::make_unique<std::byte[]>(slots * slot_size);
  bool used_[slots] = {};
  std::size_t in_use_ = 0;  // guarded by mutex_
};

// The ccw device: refcounted; the bus holds the registration reference.
struct device : ordo::kref<device> {
  explicit device(std::string bus_id) : id(std::move(bus_id)) {}
  ~device() {
    // The invariant the lesson is about: nothing allocated from the pool may
    // outlive the device. Counted, not aborted on, so that the broken
    // variant goes on to show what the kernel saw: a use-after-free.
    if (pool.in_use() != 0) released_with_areas.fetch_add(1);
    devices_released.fetch_add(1);
  }
  std::string id;
  dma_pool pool;
};

// The fix: a DMA area pins its device (ccw_device_dma_zalloc takes a get).
class dma_area {
 public:
  // Allocates from dev's pool; empty when the pool is exhausted.
  static dma_area zalloc(const ordo::ref<device>& dev) {
    dma_area area;
    if (std::byte* bytes = dev->pool.alloc()) {
      area.dev_ = dev.clone();  // the pointee outlives the pointer
      area.bytes_ = bytes;
    }
    return area;
  }
  dma_area() = default;
  dma_area(dma_area&& other) noexcept
      : dev_(std::move(other.dev_)), bytes_(std::exchange(other.bytes_, nullptr)) {}
  dma_area& operator=(dma_area&& other) noexcept {
    dma_area(std::move(other)).swap(*this);
    return *this;
  }
  ~dma_area() { free(); }

  void free() {
    if (bytes_ != nullptr) {
      dev_->pool.free(std::exchange(bytes_, nullptr));
      dev_.reset();  // may be the final put: device released here, safely
    }
  }
  explicit operator bool() const { return bytes_ != nullptr; }
  std::byte* data() const { return bytes_; }
  void swap(dma_area& other) noexcept {
    dev_.swap(other.dev_);
    std::swap(bytes_, other.bytes_);
  }

 private:
  ordo::ref<device> dev_;
  std::byte* bytes_ = nullptr;
};

// The bug: the area remembers a plain device*. Freeing it after the device
// was released writes into freed memory.
class raw_dma_area {
 public:
  static raw_dma_area zalloc(device* dev) {
    raw_dma_area area;
    area.dev_ = dev;
    area.bytes_ = dev->pool.alloc();
    return area;
  }
  raw_dma_area() = default;
  raw_dma_area(raw_dma_area&& other) noexcept
      : dev_(std::exchange(other.dev_, nullptr)), bytes_(std::exchange(other.bytes_, nullptr)) {}
  raw_dma_area& operator=(raw_dma_area&&) = delete;
  ~raw_dma_area() { free(); }

  void free() {
    if (bytes_ != nullptr) dev_->pool.free(std::exchange(bytes_, nullptr));
  }

 private:
  device* dev_ = nullptr;
  std::byte* bytes_ = nullptr;
};

}  // namespace ccw

#endif  // ORDO_EXAMPLES_CCW_TEARDOWN_HPP
