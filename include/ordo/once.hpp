// ordo/once.hpp — READ_ONCE / WRITE_ONCE and acquire/release accesses on
// plain objects.
//
// What it is
//   The kernel shares many plain variables between threads through
//   READ_ONCE()/WRITE_ONCE(): a hook pointer published by one CPU and read
//   by another, a flag polled in a loop. In C++ an unsynchronised plain
//   access is a data race and undefined behaviour, and the compiler may tear,
//   fuse or re-load it. These four functions give the kernel idiom a defined
//   meaning by going through std::atomic_ref, so the object stays a plain
//   member (same layout, usable by code that owns it exclusively) while every
//   shared access is atomic:
//
//     read_once(x)           relaxed atomic load        (READ_ONCE)
//     write_once(x, v)       relaxed atomic store       (WRITE_ONCE)
//     load_acquire(x)        acquire load               (smp_load_acquire)
//     store_release(x, v)    release store              (smp_store_release)
//
// When not to use it
//   When the object is only ever shared, declare it std::atomic<T>: the type
//   then says so. Use these where an object is mostly accessed under a lock
//   or by one owner, and only some accesses race (the kernel's case). They do
//   not order anything but the access itself: to publish an object through a
//   pointer, the writer must use store_release and the reader load_acquire;
//   read_once does NOT give the kernel's address-dependency ordering (C++ has
//   no usable memory_order_consume).
//
// Thread-safety contract
//   Every access to a shared object must go through one of these functions
//   (or another atomic_ref / atomic access) for as long as it is shared;
//   mixing them with plain accesses that race is still a data race.
//
// Memory ordering (happens-before)
//   O1  read_once/write_once are single-copy atomic: a reader sees one of the
//       values written, never a mix of two (no tearing), and the compiler may
//       neither fuse, re-load nor split the access. They order nothing else.
//   O2  If thread A calls store_release(x, v) and thread B's load_acquire(x)
//       returns v, everything A did before the store happens-before
//       everything B does after the load.
//
// Misuse
//   compile error  T is not trivially copyable, atomic_ref<T> is not always
//                  lock-free, or alignof(T) is below what atomic_ref<T>
//                  requires: "ordo: read_once/write_once: ...".
//   undefined      the object is not aligned to its type's alignment (only
//                  possible through casts or packed structures).
//
// Example
//   struct hook;                         // the kernel's kvm->arch.crypto
//   hook* pqap_hook = nullptr;           // plain member
//   ordo::store_release(pqap_hook, &h);  // publisher: h fully built first
//   if (hook* p = ordo::load_acquire(pqap_hook)) p->fn();   // reader
#ifndef ORDO_ONCE_HPP
#define ORDO_ONCE_HPP

#include <ordo/detail/config.hpp>

#include <atomic>
#include <type_traits>

namespace ordo {
namespace detail {

// True when T can be accessed through a lock-free std::atomic_ref.
template <class T>
inline constexpr bool once_capable_v = [] {
  if constexpr (!std::is_trivially_copyable_v<T>) {
    return false;
  } else {
    return std::atomic_ref<T>::is_always_lock_free &&
           alignof(T) >= std::atomic_ref<T>::required_alignment;
  }
}();

template <class T>
constexpr void check_once_type() noexcept {
  static_assert(std::is_trivially_copyable_v<T>,
                "ordo: read_once/write_once: T must be trivially copyable");
  if constexpr (std::is_trivially_copyable_v<T>) {
    static_assert(std::atomic_ref<T>::is_always_lock_free,
                  "ordo: read_once/write_once: std::atomic_ref<T> is not lock-free "
                  "for this T (too large?)");
    static_assert(alignof(T) >= std::atomic_ref<T>::required_alignment,
                  "ordo: read_once/write_once: alignof(T) is below "
                  "std::atomic_ref<T>::required_alignment; align the type");
  }
}

}  // namespace detail

/// Relaxed single-copy-atomic load of a plain object (READ_ONCE).
/// Thread-safe. Ordering: relaxed; it orders nothing but itself (O1).
template <class T>
  requires(!std::is_const_v<T>)
[[nodiscard]] inline T read_once(const T& object) noexcept {
  detail::check_once_type<T>();
  if constexpr (detail::once_capable_v<T>) {
    // atomic_ref<const T> is C++26; a load does not write, so dropping const
    // here is sound.
    // relaxed: READ_ONCE promises atomicity, not ordering (O1).
    return std::atomic_ref<T>(const_cast<T&>(object)).load(std::memory_order_relaxed);
  } else {
    return T{};  // unreachable: check_once_type() has already failed
  }
}

/// Relaxed single-copy-atomic store to a plain object (WRITE_ONCE).
/// Thread-safe. Ordering: relaxed; it orders nothing but itself (O1).
template <class T, class U>
  requires(!std::is_const_v<T> && std::is_convertible_v<U, T>)
inline void write_once(T& object, U&& value) noexcept {
  detail::check_once_type<T>();
  if constexpr (detail::once_capable_v<T>) {
    // relaxed: WRITE_ONCE promises atomicity, not ordering (O1).
    std::atomic_ref<T>(object).store(static_cast<T>(value), std::memory_order_relaxed);
  }
}

/// Acquire load (smp_load_acquire). Pairs with store_release (O2).
/// Thread-safe.
template <class T>
  requires(!std::is_const_v<T>)
[[nodiscard]] inline T load_acquire(const T& object) noexcept {
  detail::check_once_type<T>();
  if constexpr (detail::once_capable_v<T>) {
    // acquire: pairs with the publisher's store_release (O2).
    return std::atomic_ref<T>(const_cast<T&>(object)).load(std::memory_order_acquire);
  } else {
    return T{};
  }
}

/// Release store (smp_store_release). Pairs with load_acquire (O2).
/// Thread-safe.
template <class T, class U>
  requires(!std::is_const_v<T> && std::is_convertible_v<U, T>)
inline void store_release(T& object, U&& value) noexcept {
  detail::check_once_type<T>();
  if constexpr (detail::once_capable_v<T>) {
    // release: everything before this store is visible to the reader whose
    // load_acquire returns the value (O2).
    std::atomic_ref<T>(object).store(static_cast<T>(value), std::memory_order_release);
  }
}

}  // namespace ordo

#endif  // ORDO_ONCE_HPP
