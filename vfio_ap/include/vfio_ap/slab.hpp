// vfio_ap/slab.hpp — a kmem_cache for the model's objects of one type: an
// object destroyed through it keeps its memory, poisoned for
// AddressSanitizer, and the next object made takes the memory freed longest
// ago.
//
// Why
//   host::reset followed by the same boot (every sysfs_fuzz input) frees and
//   allocates the same 48 queue devices again. Under ASan an allocation costs
//   microseconds (a stack trace, shadow poisoning, the quarantine, libFuzzer's
//   malloc hook): the queue devices' allocations and frees were a sixth of
//   that target's time. The kernel keeps its objects of one type in a slab
//   cache for the same reason.
//
// What AddressSanitizer still sees
//   Memory on the free list is poisoned: any access to it is reported
//   (use-after-poison), as a use after free would be. Reuse is first in,
//   first out, so a pointer kept to an object after its destruction points
//   at poisoned memory until every object freed before it was reused (a
//   dangling queue pointer within one sysfs_fuzz input: the queues freed by
//   the previous input's reset are reused first). At most `keep` free
//   objects are kept; the rest go back to the allocator, so memory stays
//   flat after a large host configuration.
//
// Thread-safety contract
//   slab<T>: none of its own; the owner's lock guards it (matrix_dev:
//   mdevs_lock, as the table of queue devices it serves).
//   slab<T, Mutex>: make and destroy may run on any thread; its free list
//   is guarded by a Mutex of its own, held only while the list changes
//   (never while T is constructed or destroyed), so it is a leaf below
//   every lock its callers hold. matrix_dev's mdevs are destroyed after
//   its locks are dropped (their guest reference and module pin may go
//   with them), hence slab<mdev, std::mutex>.
#ifndef ORDO_VFIO_AP_SLAB_HPP
#define ORDO_VFIO_AP_SLAB_HPP

#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "ordo/detail/sanitizer.hpp"

#if ORDO_ASAN
extern "C" {
// The ASan runtime's manual poisoning (compiler-rt
// include/sanitizer/asan_interface.h), declared here as ordo declares the
// TSan interface it uses.
void __asan_poison_memory_region(void const volatile* addr, std::size_t size);
void __asan_unpoison_memory_region(void const volatile* addr, std::size_t size);
}
#endif

namespace ordo::vfio_ap {

namespace detail {
struct slab_unlocked {  // slab<T>: the owner's lock guards it
  void lock() noexcept {}
  void unlock() noexcept {}
};
}  // namespace detail

template <class T, class Mutex = detail::slab_unlocked>
class slab {
 public:
  /// Destroys an object through the slab that made it.
  struct deleter {
    slab* owner = nullptr;
    void operator()(T* object) const noexcept { owner->destroy(object); }
  };
  using pointer = std::unique_ptr<T, deleter>;

  /// Keeps at most `keep` free objects.
  explicit slab(std::size_t keep) noexcept : keep_(keep) {}
  slab(const slab&) = delete;
  slab& operator=(const slab&) = delete;
  /// Every object it made must have been destroyed through it.
  ~slab() {
    for (std::size_t i = head_; i < free_.size(); ++i) release(free_[i]);
  }

  /// A new T(args...), in the memory freed longest ago if there is any.
  template <class... Args>
  [[nodiscard]] pointer make(Args&&... args) {
    void* memory = nullptr;
    {
      std::lock_guard<Mutex> guard(mutex_);
      memory = take();
    }
    try {
      return pointer(::new (memory) T(std::forward<Args>(args)...), deleter{this});
    } catch (...) {
      std::lock_guard<Mutex> guard(mutex_);
      give_back(memory);
      throw;
    }
  }

  /// Free objects kept now (for tests).
  [[nodiscard]] std::size_t kept() noexcept {
    std::lock_guard<Mutex> guard(mutex_);
    return free_count();
  }

 private:
  static constexpr std::align_val_t align{alignof(T)};

  // With mutex_ held.
  [[nodiscard]] std::size_t free_count() const noexcept { return free_.size() - head_; }

  void destroy(T* object) noexcept {
    object->~T();
    std::lock_guard<Mutex> guard(mutex_);
    give_back(object);
  }
  void* take() {
    if (head_ == free_.size()) return ::operator new(sizeof(T), align);
    void* memory = free_[head_++];
    if (head_ == free_.size()) {  // empty: start again at the front
      free_.clear();
      head_ = 0;
    }
#if ORDO_ASAN
    __asan_unpoison_memory_region(memory, sizeof(T));
#endif
    return memory;
  }
  void give_back(void* memory) noexcept {
    if (free_count() >= keep_) {
      ::operator delete(memory, align);
      return;
    }
    if (head_ != 0 && free_.size() == free_.capacity()) {  // reclaim the consumed front
      free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    try {
      free_.push_back(memory);
    } catch (...) {  // no room to remember it: the allocator takes it back
      ::operator delete(memory, align);
      return;
    }
#if ORDO_ASAN
    __asan_poison_memory_region(memory, sizeof(T));
#endif
  }
  static void release(void* memory) noexcept {
#if ORDO_ASAN
    __asan_unpoison_memory_region(memory, sizeof(T));
#endif
    ::operator delete(memory, align);
  }

  std::size_t keep_;
  [[no_unique_address]] Mutex mutex_;
  std::vector<void*> free_;  // [head_, size): oldest first; guarded by mutex_
  std::size_t head_ = 0;
};

}  // namespace ordo::vfio_ap

#endif  // ORDO_VFIO_AP_SLAB_HPP
