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
//   ref<T> is a smart pointer: it compares (==, <=>) with refs, raw pointers
//   and nullptr by address, so it can key std::set/std::map and be sorted;
//   ordo::ref_hash<T>/ordo::ref_equal<T> (and std::hash<ref<T>>) are
//   transparent, so an unordered set of refs is searched by T* without
//   taking a reference; static_ref_cast / dynamic_ref_cast / const_ref_cast
//   convert like the shared_ptr casts; ref<const T> and ref<Abstract> work;
//   put_locked(r, mutex) is kref_put_mutex.
//
// Why move-only, with an explicit clone()
//   A copy of a shared_ptr is an atomic increment that nobody sees in the
//   code. In kernel-style code every get is a decision (is the object alive?
//   who puts it?), and the vfio-ap bugs were a get without a put. So a new
//   reference is always spelled: clone() (kref_get), get_ref(), get_safe().
//   Everything else a user wants from a pointer (ordering, hashing, lookup by
//   T*, casts, containers) works with moves: the casts take ref<U>&& and
//   transfer the reference; a cast of a copy is `cast<T>(r.clone())`.
//
// When not to use it
//   For single ownership use std::unique_ptr. When the object needs weak
//   references that outlive its memory, use std::shared_ptr/weak_ptr: a raw
//   pointer passed to get_safe must still point to valid memory (see below).
//
// Thread-safety contract
//   Distinct ref<T> objects may be used concurrently even when they refer to
//   the same T. One ref<T> object is not thread-safe (like any value). The
//   count of the pointee is thread-safe (refcount.hpp). Comparisons, hashing
//   and the casts read only the refs they are given (no count traffic; the
//   casts move the one reference they are given). put_locked is thread-safe
//   with every other get and put of the object.
//
// Memory ordering (happens-before)
//   O1  Everything done through any reference before its put happens-before
//       the release function (refcount O2/O3: release on put, acquire on the
//       final one). put_locked's puts are the same puts.
//   O2  get_safe and clone order nothing by themselves (relaxed increments):
//       the object's contents must have been published to the caller by the
//       structure it was found in (a lock, an RCU pointer, a release store).
//   O3  put_locked: a put that is not the last takes no lock. The last put's
//       decrement happens with the mutex held, so a thread that finds the
//       object under that mutex and takes a reference (get_ref) either does
//       so before the decrement (which then is not the last) or cannot find
//       it any more (the release function unlinks it, with the mutex still
//       held). Comparisons, hashes and casts order nothing.
//
// Invariants
//   I1  A non-empty ref<T> holds exactly one reference; its destructor, or
//       reset(), puts it exactly once. Moves and the casts transfer it and
//       leave the source empty; a dynamic_ref_cast that fails leaves the
//       source as it was.
//   I2  get_safe never returns a reference to an object whose final put has
//       happened (its count is dead); it returns an empty ref instead.
//   I3  The release function runs once, after the last put (refcount I1),
//       through the counting base B (B : ordo::kref<B>); when the default
//       delete is used, the type deleted is the object's own (I5).
//   I4  put_locked takes the mutex only when its put may be the last one
//       (the count read one); it then runs the release function with the
//       mutex held, and releases the mutex after it returns.
//   I5  A ref<T> whose T is not its own counting base compiles only if B
//       has a virtual destructor or its own kref_release(): the default
//       `delete (B*)` would otherwise destroy a T through a B*.
//   I6  Two refs, or a ref and a pointer, compare and hash as their
//       addresses converted to a common pointer type: equal iff the same
//       object; the order is std::compare_three_way's total order.
//
// Misuse
//   compile error  ref<T> or get_safe on a T that does not derive from
//                  ordo::kref<T> (or from a B : ordo::kref<B>): "ordo: ref<T>:
//                  T must derive from ordo::kref<T>"; a derived T whose
//                  counting base has no virtual destructor and no
//                  kref_release() (I5): "ordo: ref<T>: ... no virtual
//                  destructor"; a kref_release() that is not noexcept:
//                  "ordo: kref<T>: T::kref_release() must be noexcept";
//                  copying a ref<T> (deleted: use clone(), so every new
//                  reference is visible in the code); comparing a ref with a
//                  ref or pointer of an unrelated type: "ordo: ref: compar...";
//                  a cast between unrelated types, to a type with another
//                  count, of an lvalue ref, a dynamic_ref_cast of a
//                  non-polymorphic type or without RTTI: "ordo:
//                  static_ref_cast: ...", "ordo: dynamic_ref_cast: ...",
//                  "ordo: const_ref_cast: ...", "ordo: ref casts: ...";
//                  put_locked on an ordered mutex without a lock context, or
//                  on what is not a lock: "ordo: put_locked: ..."; a
//                  put_locked whose ordered mutex may not be taken after
//                  the context's levels: "ordo: lock order violation: ..."
//                  (checked where it is written, even if this put is never
//                  the last).
//   runtime report clone()/get_ref() of an object with no reference left
//                  (refcount add_on_zero); more puts than gets (underflow,
//                  only possible through adopt_ref/release() misuse).
//   undefined      get_safe(p) when *p's memory may already be freed: keep
//                  it valid by a lock the release function also takes, or an
//                  RCU grace period before freeing (the kernel's rule for
//                  kvm_get_kvm_safe); dereferencing an empty ref; a release
//                  function run by put_locked that takes the same mutex
//                  (self-deadlock) or destroys it; adopt() of a pointer
//                  converted to a base by hand (B* to a D) with no virtual
//                  destructor (the compiler cannot see that one, I5).
//
// Example (examples/safe_kvm_ref.cpp)
//   struct kvm : ordo::kref<kvm> { int vm_fd; };
//   ordo::ref<kvm> kvm_get_kvm_safe(kvm* k) { return ordo::get_safe(k); }
//   void kvm_put_kvm(ordo::ref<kvm> k) {}          // the put is k's destructor
#ifndef ORDO_REF_HPP
#define ORDO_REF_HPP

#include <ordo/detail/config.hpp>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <source_location>
#include <type_traits>
#include <utility>

#include "ordo/refcount.hpp"

// Whether this translation unit has RTTI (dynamic_ref_cast needs it; nothing
// else in this header does).
#if defined(__GXX_RTTI) || defined(_CPPRTTI)
#define ORDO_RTTI 1
#else
#define ORDO_RTTI 0
#endif

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

  // Whether T has its own release function (asked here, where a private
  // kref_release() befriending kref<T> is visible).
  static constexpr bool has_own_release() noexcept {
    return requires(T* self) { self->kref_release(); };
  }

  // The final put: T's kref_release() if it has one, else delete (I3).
  void release() noexcept {
    T* self = static_cast<T*>(this);
    if constexpr (has_own_release()) {
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
  template <class T>
  static void release(kref<T>& object) noexcept {
    object.release();
  }
  template <class T>
  static constexpr bool has_own_release() noexcept {
    return kref<T>::has_own_release();
  }
};

// Which kref<U> a T derives from (T itself, or a base of T); ill-formed when
// none or more than one. Wrapped in type_identity: U may be abstract.
template <class U>
std::type_identity<U> kref_counted_of(const volatile kref<U>*);  // declared only: decltype

template <class T>
concept kref_counted = requires(T* p) { detail::kref_counted_of(p); };

// T's counting base B (B : kref<B>).
template <class T>
using counted_t = typename decltype(detail::kref_counted_of(static_cast<T*>(nullptr)))::type;

template <class T>
constexpr bool check_kref_type() noexcept {
  static_assert(kref_counted<T>,
                "ordo: ref<T>: T must derive from ordo::kref<T> (or from a class B "
                "that derives from ordo::kref<B>)");
  if constexpr (kref_counted<T>) {
    using counted = counted_t<T>;
    // I5: the default release deletes through counted*.
    constexpr bool deletes_right_type = std::is_same_v<std::remove_cv_t<T>, counted> ||
                                        std::has_virtual_destructor_v<counted> ||
                                        kref_access::has_own_release<counted>();
    static_assert(deletes_right_type,
                  "ordo: ref<T>: T's counting base B (B : ordo::kref<B>) has no virtual "
                  "destructor and no kref_release(), so the final put would delete a T "
                  "through a B* (undefined: ~T never runs); give B a virtual destructor "
                  "or a kref_release(), or count T itself");
    return deletes_right_type;
  } else {
    return false;
  }
}

// T's counting base, from any T* (the count is not part of the value: a
// ref<const T> counts as a ref<T> does, like shared_ptr<const T>).
template <class T>
auto* kref_of(T* object) noexcept {
  using counted = counted_t<T>;
  return static_cast<kref<counted>*>(const_cast<std::remove_cv_t<T>*>(object));
}

// I6: a ref<T> and a ref<U> or U* compare only when T* and U* do.
template <class T, class U>
constexpr bool check_comparable() noexcept {
  constexpr bool comparable = requires(T* t, U* u) {
    t == u;
    std::compare_three_way{}(t, u);
  };
  static_assert(comparable,
                "ordo: ref: comparing a ref<T> with a ref<U> or U* of an unrelated type "
                "(T* and U* have no common pointer type)");
  return comparable;
}

// The composite pointer type of T* and U* (a base pointer, more cv): both
// sides convert to it before the address order is taken, because
// std::compare_three_way may compare the raw addresses of a base and a
// derived pointer, which differ when the base is not the first.
template <class T, class U>
using common_pointer_t = decltype(true ? static_cast<T*>(nullptr) : static_cast<U*>(nullptr));

template <class T, class U>
std::strong_ordering address_order(T* a, U* b) noexcept {
  using P = common_pointer_t<T, U>;
  return std::compare_three_way{}(static_cast<P>(a), static_cast<P>(b));
}
}  // namespace detail

/// An owning reference to a kref-counted T: puts exactly once, in its
/// destructor (I1). Move-only; clone() takes another reference explicitly.
template <class T>
class ref {
 public:
  /// The referenced type.
  using element_type = T;

  /// An empty reference.
  constexpr ref() noexcept = default;
  /// An empty reference, like a null pointer.
  constexpr ref(std::nullptr_t) noexcept {}  // NOLINT: implicit, like a pointer

  /// Takes over other's reference; other becomes empty.
  ref(ref&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  /// From a ref to a derived type, or to const T (the count is the base's).
  template <class U>
    requires(!std::is_same_v<U, T> && std::is_convertible_v<U*, T*>)
  ref(ref<U>&& other) noexcept  // NOLINT: implicit, like unique_ptr's
      : object_(other.release()) {}

  /// Puts the old reference, then takes over other's; other becomes empty.
  ref& operator=(ref&& other) noexcept {
    ref(std::move(other)).swap(*this);  // the old reference is put by the temporary
    return *this;
  }
  /// Puts the reference, if any; the ref becomes empty.
  ref& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  ref(const ref&) = delete;
  ref& operator=(const ref&) = delete;

  ~ref() {
    if constexpr (detail::check_kref_type<T>()) {
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

  /// Exchanges the references (no count changes).
  void swap(ref& other) noexcept { std::swap(object_, other.object_); }
  /// Exchanges the references (no count changes).
  friend void swap(ref& a, ref& b) noexcept { a.swap(b); }

  /// The object, or nullptr when empty; the ref keeps its reference.
  [[nodiscard]] T* get() const noexcept { return object_; }
  /// The object. Precondition: not empty.
  T& operator*() const noexcept { return *object_; }
  /// The object. Precondition: not empty.
  T* operator->() const noexcept { return object_; }
  /// True when the ref holds a reference.
  [[nodiscard]] explicit operator bool() const noexcept { return object_ != nullptr; }

  /// Same object (I6). Compiles only for comparable pointer types. Not
  /// thread-safe for the refs themselves (reads them); orders nothing.
  template <class U>
  friend bool operator==(const ref& a, const ref<U>& b) noexcept {
    if constexpr (detail::check_comparable<T, U>()) {
      return a.get() == b.get();
    } else {
      return false;
    }
  }
  /// Refers to `b` (I6); with a derived U* the pointer converts as usual.
  template <class U>
  friend bool operator==(const ref& a, U* b) noexcept {
    if constexpr (detail::check_comparable<T, U>()) {
      return a.get() == b;
    } else {
      return false;
    }
  }
  /// Empty.
  friend bool operator==(const ref& a, std::nullptr_t) noexcept { return a.get() == nullptr; }

  /// Address order (I6: std::compare_three_way, a total order), so refs key
  /// std::set and std::map and sort; an empty ref orders as nullptr.
  template <class U>
  friend std::strong_ordering operator<=>(const ref& a, const ref<U>& b) noexcept {
    if constexpr (detail::check_comparable<T, U>()) {
      return detail::address_order(a.get(), b.get());
    } else {
      return std::strong_ordering::equal;
    }
  }
  /// Address order against a raw pointer (I6).
  template <class U>
  friend std::strong_ordering operator<=>(const ref& a, U* b) noexcept {
    if constexpr (detail::check_comparable<T, U>()) {
      return detail::address_order(a.get(), b);
    } else {
      return std::strong_ordering::equal;
    }
  }
  /// Address order against nullptr: an empty ref is equal to it.
  friend std::strong_ordering operator<=>(const ref& a, std::nullptr_t) noexcept {
    return std::compare_three_way{}(a.get(), static_cast<T*>(nullptr));
  }

  /// absl::Hash support (absl::flat_hash_set<ref<T>> with the default
  /// hash): the hash of the pointer, as absl::Hash<T*> gives it (I6).
  template <class H>
  friend H AbslHashValue(H state, const ref& r) {
    return H::combine(std::move(state), static_cast<const T*>(r.get()));
  }

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

// ---------------------------------------------------------------------------
// Hashing and lookup by pointer

/// Transparent hash of ref<T> and const T* (I6): an unordered set of refs
/// can be searched with a raw pointer, without taking a reference:
///   std::unordered_set<ordo::ref<T>, ordo::ref_hash<T>, ordo::ref_equal<T>>
///   absl::flat_hash_set<ordo::ref<T>, ordo::ref_hash<T>, ordo::ref_equal<T>>
///   set.find(raw)   // raw: T* or a pointer to a class derived from T
/// std::hash<ordo::ref<T>> is this hash. Thread-safe (stateless).
template <class T>
struct ref_hash {
  /// Marks the hash transparent (lookup by const T* without a ref).
  using is_transparent = void;
  /// The hash of r.get().
  std::size_t operator()(const ref<T>& r) const noexcept { return (*this)(r.get()); }
  /// The hash of the pointer (std::hash<const T*>).
  std::size_t operator()(const T* p) const noexcept { return std::hash<const T*>{}(p); }
};

/// Transparent equality of ref<T> and const T* (I6), ref_hash's partner.
/// Thread-safe (stateless).
template <class T>
struct ref_equal {
  /// Marks the equality transparent (lookup by const T* without a ref).
  using is_transparent = void;
  /// Same object.
  bool operator()(const ref<T>& a, const ref<T>& b) const noexcept { return a.get() == b.get(); }
  /// a refers to b.
  bool operator()(const ref<T>& a, const T* b) const noexcept { return a.get() == b; }
  /// b refers to a.
  bool operator()(const T* a, const ref<T>& b) const noexcept { return a == b.get(); }
  /// Same pointer.
  bool operator()(const T* a, const T* b) const noexcept { return a == b; }
};

// ---------------------------------------------------------------------------
// Casts (the shared_ptr casts, for a move-only owner)

namespace detail {
template <class T>
inline constexpr bool always_false_ref_v = false;

// The target keeps the source's one reference: it must be counted by the
// same kref<B>, or the reference would be put on another counter.
template <class T, class U>
constexpr bool check_same_count() noexcept {
  if constexpr (kref_counted<T> && kref_counted<U>) {
    constexpr bool same = std::is_same_v<counted_t<T>, counted_t<U>>;
    static_assert(same,
                  "ordo: ref casts: T and U must be counted by the same ordo::kref<B> base "
                  "(the cast moves U's reference; T would put it on another counter)");
    return same;
  } else {
    return check_kref_type<T>() && check_kref_type<U>();
  }
}

template <class T, class U>
constexpr bool check_static_cast() noexcept {
  constexpr bool castable = requires(U* p) { static_cast<T*>(p); };
  static_assert(castable,
                "ordo: static_ref_cast<T>(ref<U>): U* does not static_cast to T* (unrelated "
                "types, or removing const: use const_ref_cast)");
  return castable && check_same_count<T, U>();
}

template <class T, class U>
constexpr bool check_const_cast() noexcept {
  constexpr bool castable = std::is_same_v<std::remove_cv_t<T>, std::remove_cv_t<U>>;
  static_assert(castable,
                "ordo: const_ref_cast<T>(ref<U>): T and U must differ only in const/volatile");
  return castable && check_same_count<T, U>();
}

template <class T, class U>
constexpr bool check_dynamic_cast() noexcept {
  static_assert(ORDO_RTTI || always_false_ref_v<T>,
                "ordo: dynamic_ref_cast: this translation unit is built without RTTI "
                "(-fno-rtti); use static_ref_cast where the type is known");
  static_assert(std::is_polymorphic_v<U>,
                "ordo: dynamic_ref_cast<T>(ref<U>): U must be polymorphic (a virtual "
                "function, e.g. a virtual destructor)");
  return ORDO_RTTI && std::is_polymorphic_v<U> && check_same_count<T, U>();
}

template <class T>
constexpr bool check_cast_source() noexcept {
  static_assert(always_false_ref_v<T>,
                "ordo: ref casts take the reference they convert: pass std::move(r) (moves "
                "it) or r.clone() (a new reference); ref has no hidden copies");
  return false;
}
}  // namespace detail

/// ref<T> from ref<U> by static_cast<T*> (static_pointer_cast): moves the
/// reference, `r` is left empty (I1). Compiles only if U* static_casts to T*
/// and both are counted by one kref<B>. Not thread-safe for r; no count
/// traffic.
template <class T, class U>
[[nodiscard]] ref<T> static_ref_cast(ref<U>&& r) noexcept {
  if constexpr (detail::check_static_cast<T, U>()) {
    return ref<T>::adopt(static_cast<T*>(r.release()));
  } else {
    return ref<T>();
  }
}

/// ref<T> from ref<U> by dynamic_cast<T*> (dynamic_pointer_cast): on
/// success moves the reference and empties `r`; on failure returns empty and
/// leaves `r` holding its reference (I1). Needs RTTI and a polymorphic U in
/// the translation units that call it only. Not thread-safe for r.
template <class T, class U>
[[nodiscard]] ref<T> dynamic_ref_cast(ref<U>&& r) noexcept {
  if constexpr (detail::check_dynamic_cast<T, U>()) {
#if ORDO_RTTI
    T* target = dynamic_cast<T*>(r.get());
    if (target == nullptr) return ref<T>();
    (void)r.release();
    return ref<T>::adopt(target);
#else
    (void)r;  // unreachable: check_dynamic_cast is false without RTTI
    return ref<T>();
#endif
  } else {
    return ref<T>();
  }
}

/// ref<T> from ref<U> by const_cast<T*> (const_pointer_cast): moves the
/// reference. T and U differ only in cv. Not thread-safe for r.
template <class T, class U>
[[nodiscard]] ref<T> const_ref_cast(ref<U>&& r) noexcept {
  if constexpr (detail::check_const_cast<T, U>()) {
    return ref<T>::adopt(const_cast<T*>(r.release()));
  } else {
    return ref<T>();
  }
}

/// The casts of an lvalue: a compile error naming the two spellings that
/// say what happens to the reference (std::move(r) or r.clone()).
template <class T, class U>
ref<T> static_ref_cast(const ref<U>&) noexcept {
  static_assert(detail::check_cast_source<T>());
  return ref<T>();
}
template <class T, class U>
ref<T> dynamic_ref_cast(const ref<U>&) noexcept {
  static_assert(detail::check_cast_source<T>());
  return ref<T>();
}
template <class T, class U>
ref<T> const_ref_cast(const ref<U>&) noexcept {
  static_assert(detail::check_cast_source<T>());
  return ref<T>();
}

// ---------------------------------------------------------------------------
// put_locked (kref_put_mutex)

namespace detail {
template <class M>
concept std_basic_lockable = requires(M& m) {
  m.lock();
  m.unlock();
};
template <class M>
concept absl_basic_lockable = requires(M& m) {
  m.Lock();
  m.Unlock();
};
// An ordo ordered mutex (or anything else with a level): taken only
// through a lock context.
template <class M>
concept has_lock_level = requires { typename M::level_type; };

template <class M>
constexpr bool check_put_lock() noexcept {
  static_assert(!has_lock_level<M>,
                "ordo: put_locked: an ordo::ordered_mutex is taken through the caller's lock "
                "context: put_locked(std::move(r), mutex, ctx)");
  static_assert(has_lock_level<M> || std_basic_lockable<M> || absl_basic_lockable<M>,
                "ordo: put_locked: Mutex must be BasicLockable (lock()/unlock(), or absl's "
                "Lock()/Unlock())");
  return !has_lock_level<M> && (std_basic_lockable<M> || absl_basic_lockable<M>);
}

// The put of put_locked (I4): no lock unless this put may be the last; the
// deciding decrement and the release function run inside with_lock(body),
// which holds the lock around body().
template <class T, class WithLock>
bool put_under(ref<T>& r, WithLock&& with_lock, std::source_location where) noexcept {
  T* object = r.release();
  if (object == nullptr) return false;
  auto* counted = kref_of(object);
  refcount& count = kref_access::count(*counted);
  // Not the last: a plain put (release ordering, refcount O2), no lock.
  if (count.dec_not_one(where)) return false;
  return std::forward<WithLock>(with_lock)([&]() noexcept {
    // Under the lock: a getter that found the object meanwhile has made this
    // put not the last (O3); dec_and_test is release, and acquire when final.
    const bool last = count.dec_and_test(where);
    if (last) kref_access::release(*counted);
    return last;
  });
}
}  // namespace detail

/// Puts `r` taking `mutex` only if this may be the last reference
/// (kref_put_mutex, refcount_dec_and_mutex_lock): then the final decrement
/// and T's release function run with `mutex` held, and `mutex` is unlocked
/// after the release returns (I4). Returns true when this put released the
/// object. Lookups that take references under `mutex` (get_ref) therefore
/// never meet a dead count (O3). `mutex` is a BasicLockable (std or absl
/// style) that the release function neither takes nor destroys; an ordered
/// mutex needs the overload with a context. Thread-safe. Ordering: O1, O3.
template <class T, class Mutex>
bool put_locked(ref<T> r, Mutex& mutex,
                std::source_location where = std::source_location::current()) noexcept {
  if constexpr (detail::check_put_lock<Mutex>()) {
    return detail::put_under(
        r,
        [&mutex](auto&& body) noexcept {
          if constexpr (detail::std_basic_lockable<Mutex>) {
            mutex.lock();
            const bool last = body();
            mutex.unlock();
            return last;
          } else {
            mutex.Lock();
            const bool last = body();
            mutex.Unlock();
            return last;
          }
        },
        where);
  } else {
    return false;
  }
}

/// put_locked with an ordo ordered mutex: the mutex is taken as
/// `mutex.lock(ctx)`, so its order against what ctx holds is checked at
/// compile time wherever put_locked is written (even though it is taken only
/// for the last put) and by the validator when it is taken. The release
/// function runs with it held (ctx's levels plus mutex's). Thread-safe.
/// Ordering: O1, O3, and ordered_mutex.hpp O1 for the lock.
template <class T, class Mutex, class Ctx>
  requires requires(Mutex& m, Ctx& c, std::source_location w) { m.lock(c, w); }
bool put_locked(ref<T> r, Mutex& mutex, Ctx& ctx,
                std::source_location where = std::source_location::current()) noexcept {
  return detail::put_under(
      r,
      [&](auto&& body) noexcept {
        auto guard = mutex.lock(ctx, where);  // unlocked when the lambda returns
        return body();
      },
      where);
}

}  // namespace ordo

/// std::hash<ordo::ref<T>>: the address, as ordo::ref_hash<T> (transparent:
/// usable with std::equal_to<> or ordo::ref_equal<T> for lookup by T*).
template <class T>
struct std::hash<ordo::ref<T>> : ordo::ref_hash<T> {};

#endif  // ORDO_REF_HPP
