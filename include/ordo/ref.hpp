// ordo/ref.hpp — kref<T>, an intrusive reference count with a release
// function, and ref<T>, the owning reference that puts exactly once.
//
// What it is
//   The kernel's kref/kvm_get_kvm/kvm_put_kvm pattern without its classic
//   bug, the forgotten put (vfio-ap's KVM reference taken on attach and never
//   dropped, reference §5 rows 1–2). An object that is counted derives from
//   ordo::kref<T> (CRTP); it starts with one reference. Every reference a
//   caller holds is an ordo::ref<T>: the put happens in its destructor,
//   exactly once, and the final put calls T's release function.
//
//     auto k = ordo::make_ref<kvm>(...);    // new object, count 1
//     ordo::ref<kvm> r = k.clone();         // kvm_get_kvm: count 2
//     ordo::ref<kvm> s = ordo::get_safe(p); // kvm_get_kvm_safe: empty if dying
//     // r, s, k go out of scope: three puts; the last runs kvm's release.
//
//   Release: if T has a member `void kref_release() noexcept` (it may be
//   private with `friend class ordo::kref<T>;`), the final put calls it and it
//   owns the object's end (delete this, return to a pool, unlink then free).
//   Otherwise the final put does `delete static_cast<T*>(this)`.
//
// When not to use it
//   For single ownership use std::unique_ptr. When the object needs weak
//   references that outlive its memory, use std::shared_ptr/weak_ptr: a raw
//   pointer passed to get_safe must still point to valid memory (see below).
//
// Thread-safety contract
//   Distinct ref<T> objects may be used concurrently even when they refer to
//   the same T. One ref<T> object is not thread-safe (like any value). The
//   count of the pointee is thread-safe (refcount.hpp).
//
// Memory ordering (happens-before)
//   O1  Everything done through any reference before its put happens-before
//       the release function (refcount O2/O3: release on put, acquire on the
//       final one).
//   O2  get_safe and clone order nothing by themselves (relaxed increments):
//       the object's contents must have been published to the caller by the
//       structure it was found in (a lock, an RCU pointer, a release store).
//
// Invariants
//   I1  A non-empty ref<T> holds exactly one reference; its destructor, or
//       reset(), puts it exactly once. Moves transfer it and leave the source
//       empty.
//   I2  get_safe never returns a reference to an object whose final put has
//       happened (its count is dead); it returns an empty ref instead.
//   I3  The release function runs once, after the last put (refcount I1).
//
// Misuse
//   compile error  ref<T> or get_safe on a T that does not derive from
//                  ordo::kref<T> (or from a B : ordo::kref<B>): "ordo: ref<T>:
//                  T must derive from ordo::kref<T>"; a kref_release() that
//                  is not noexcept: "ordo: kref<T>: T::kref_release() must be
//                  noexcept"; copying a ref<T> (deleted: use clone(), so
//                  every new reference is visible in the code).
//   runtime report clone()/get_ref() of an object with no reference left
//                  (refcount add_on_zero); more puts than gets (underflow,
//                  only possible through adopt_ref/release() misuse).
//   undefined      get_safe(p) when *p's memory may already be freed: keep
//                  it valid by a lock the release function also takes, or an
//                  RCU grace period before freeing (the kernel's rule for
//                  kvm_get_kvm_safe); dereferencing an empty ref.
//
// Example (examples/safe_kvm_ref.cpp)
//   struct kvm : ordo::kref<kvm> { int vm_fd; };
//   ordo::ref<kvm> kvm_get_kvm_safe(kvm* k) { return ordo::get_safe(k); }
//   void kvm_put_kvm(ordo::ref<kvm> k) {}          // the put is k's destructor
#ifndef ORDO_REF_HPP
#define ORDO_REF_HPP

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <source_location>
#include <type_traits>
#include <utility>

#include "ordo/refcount.hpp"

namespace ordo {

template <class T>
class ref;
namespace detail {
struct kref_access;
}

/// CRTP base of a reference-counted T: `struct kvm : ordo::kref<kvm> {...};`.
/// Holds the count (initially 1, the reference make_ref/adopt_ref hands out).
/// Not copyable or movable: the count belongs to one object.
template <class T>
class kref {
 public:
  kref(const kref&) = delete;
  kref& operator=(const kref&) = delete;

  /// The number of references now (kref_read); a snapshot for diagnostics.
  /// Thread-safe. Ordering: relaxed.
  [[nodiscard]] std::uint32_t kref_read() const noexcept { return refs_.read(); }

 protected:
  constexpr kref() noexcept : refs_(1) {}
  ~kref() = default;

 private:
  template <class U>
  friend class ref;
  friend struct detail::kref_access;

  // The final put: T's kref_release() if it has one, else delete (I3).
  void release() noexcept {
    T* self = static_cast<T*>(this);
    if constexpr (requires { self->kref_release(); }) {
      static_assert(noexcept(self->kref_release()),
                    "ordo: kref<T>: T::kref_release() must be noexcept");
      self->kref_release();
    } else {
      delete self;
    }
  }

  void put(std::source_location where) noexcept {
    // dec_and_test: release on the decrement, acquire when final (O1).
    if (refs_.dec_and_test(where)) release();
  }

  refcount refs_;
};

namespace detail {
// The free functions' way to the private count.
struct kref_access {
  template <class T>
  static refcount& count(kref<T>& object) noexcept {
    return object.refs_;
  }
};

// Which kref<U> a T derives from (T itself, or a base of T); ill-formed when
// none or more than one.
template <class U>
U kref_counted_of(const kref<U>*);  // declared only: used in decltype

template <class T>
concept kref_counted = requires(T* p) { detail::kref_counted_of(p); };

template <class T>
constexpr void check_kref_type() noexcept {
  static_assert(kref_counted<T>,
                "ordo: ref<T>: T must derive from ordo::kref<T> (or from a class B "
                "that derives from ordo::kref<B>)");
}

// T's counting base.
template <class T>
auto* kref_of(T* object) noexcept {
  using counted = decltype(kref_counted_of(object));
  return static_cast<kref<counted>*>(object);
}
}  // namespace detail

/// An owning reference to a kref-counted T: puts exactly once, in its
/// destructor (I1). Move-only; clone() takes another reference explicitly.
template <class T>
class ref {
 public:
  using element_type = T;

  /// An empty reference.
  constexpr ref() noexcept = default;
  constexpr ref(std::nullptr_t) noexcept {}  // NOLINT: implicit, like a pointer

  ref(ref&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  /// From a ref to a derived type (the count is the base's).
  template <class U>
    requires(!std::is_same_v<U, T> && std::is_convertible_v<U*, T*>)
  ref(ref<U>&& other) noexcept  // NOLINT: implicit, like unique_ptr's
      : object_(other.release()) {}

  ref& operator=(ref&& other) noexcept {
    ref(std::move(other)).swap(*this);  // the old reference is put by the temporary
    return *this;
  }
  ref& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  ref(const ref&) = delete;
  ref& operator=(const ref&) = delete;

  ~ref() {
    detail::check_kref_type<T>();
    if constexpr (detail::kref_counted<T>) {
      if (object_ != nullptr) detail::kref_of(object_)->put(std::source_location::current());
    }
  }

  /// Takes over one reference the caller already owns (no increment): the
  /// initial reference of a new object, or one detached by release().
  [[nodiscard]] static ref adopt(T* object) noexcept {
    detail::check_kref_type<T>();
    ref r;
    r.object_ = object;
    return r;
  }

  /// Another reference to the same object (kref_get / kvm_get_kvm): the
  /// increment cannot fail because this one holds a reference. Empty gives
  /// empty. Thread-safe w.r.t. other refs. Ordering: relaxed (O2).
  [[nodiscard]] ref clone(std::source_location where = std::source_location::current()) const noexcept {
    if (object_ == nullptr) return ref();
    detail::kref_access::count(*detail::kref_of(object_)).inc(where);
    return adopt(object_);
  }

  /// Puts the reference now (if any) and empties this (I1).
  void reset() noexcept { ref().swap(*this); }

  /// Detaches the reference without putting it: the caller now owns it and
  /// must hand it back through adopt() (or the object leaks).
  [[nodiscard]] T* release() noexcept { return std::exchange(object_, nullptr); }

  void swap(ref& other) noexcept { std::swap(object_, other.object_); }
  friend void swap(ref& a, ref& b) noexcept { a.swap(b); }

  [[nodiscard]] T* get() const noexcept { return object_; }
  T& operator*() const noexcept { return *object_; }
  T* operator->() const noexcept { return object_; }
  [[nodiscard]] explicit operator bool() const noexcept { return object_ != nullptr; }

  template <class U>
  friend bool operator==(const ref& a, const ref<U>& b) noexcept {
    return a.get() == b.get();
  }
  friend bool operator==(const ref& a, std::nullptr_t) noexcept { return a.get() == nullptr; }
  friend bool operator==(const ref& a, const T* b) noexcept { return a.get() == b; }

 private:
  T* object_ = nullptr;
};

/// Adopts the reference the caller owns on `object` (no increment).
template <class T>
[[nodiscard]] ref<T> adopt_ref(T* object) noexcept {
  return ref<T>::adopt(object);
}

/// Allocates a T with `new` (count 1) and returns that reference. If T
/// customises kref_release(), it must end with deleting the object.
template <class T, class... Args>
[[nodiscard]] ref<T> make_ref(Args&&... args) {
  detail::check_kref_type<T>();
  return ref<T>::adopt(new T(std::forward<Args>(args)...));
}

/// A new reference to an object the caller already holds a reference to
/// (kvm_get_kvm). Reports add_on_zero if there was none. Thread-safe.
/// Ordering: relaxed (O2).
template <class T>
[[nodiscard]] ref<T> get_ref(T& object,
                             std::source_location where = std::source_location::current()) noexcept {
  detail::check_kref_type<T>();
  detail::kref_access::count(*detail::kref_of(&object)).inc(where);
  return ref<T>::adopt(&object);
}

/// A reference to `object` unless it is already dying (kvm_get_kvm_safe,
/// kref_get_unless_zero): empty when its count is dead or `object` is null
/// (I2). `*object`'s memory must be valid for the duration of the call (see
/// the header: a lock or RCU). Thread-safe. Ordering: relaxed (O2).
template <class T>
[[nodiscard]] ref<T> get_safe(T* object,
                              std::source_location where = std::source_location::current()) noexcept {
  detail::check_kref_type<T>();
  if (object == nullptr) return ref<T>();
  if (!detail::kref_access::count(*detail::kref_of(object)).inc_not_zero(where)) {
    return ref<T>();
  }
  return ref<T>::adopt(object);
}

}  // namespace ordo

template <class T>
struct std::hash<ordo::ref<T>> {
  std::size_t operator()(const ordo::ref<T>& r) const noexcept { return std::hash<T*>{}(r.get()); }
};

#endif  // ORDO_REF_HPP
