// ordo/ordered_mutex.hpp — mutexes whose lock order is checked by the type
// system, lock contexts and guards, lock_if, lock_all, waits, guarded<T>.
//
// What it is
//   Every lock has a level (lock_level.hpp). Taking a lock needs a *context*
//   that says what the thread already holds: the root ordo::unlocked, or a
//   guard (a guard is itself a context, and its type lists every level held
//   along the chain). lock(ctx) compiles only if the new level is declared
//   after every level in ctx: a lock-order inversion, an unrelated pair or a
//   second lock of one level is a compile error naming both levels, not a
//   lockdep splat found in testing.
//
//     void assign(ordo::unlocked& ctx, kvm* k) {
//       auto a  = ap_attr_mutex.lock(ctx);
//       auto g  = guests_lock.lock(a);
//       auto kv = ordo::lock_if(k ? &k->lock : nullptr, g);  // same type both ways
//       auto m  = mdevs_lock.lock(kv);
//       update_guest_apcb(m);        // holds<guests_level, mdevs_level> auto&
//     }
//
//   ordered_mutex<Level, Mutex = absl::Mutex> wraps any Lockable (absl
//   style Lock/Unlock/TryLock or std style lock/unlock/try_lock);
//   ordered_shared_mutex<Level> is the reader/writer form (lock and
//   lock_shared). Both are zero-cost wrappers when the validator is off:
//   sizeof(ordered_mutex<L>) == sizeof(absl::Mutex), a guard is one pointer.
//
// When not to use it
//   For a lock taken from a callback whose caller's context cannot be passed
//   in (the order is then unknowable at compile time); use try_lock or a
//   plain absl::Mutex there, and the validator for the rest. For data that a
//   single lock guards, prefer ordo::guarded<T, Mutex>.
//
// Thread-safety contract
//   The mutex members are thread-safe. Contexts and guards belong to the
//   thread that made them: passing one to another thread is undefined (the
//   validator reports it when it can). A context must be used only while it
//   is the innermost: after `auto g = m.lock(ctx)`, take the next lock
//   through g, not ctx (a stale context; the validator reports it).
//
// Memory ordering (happens-before)
//   O1  If thread X's guard of mutex m is destroyed (unlock), everything X did
//       before is visible to thread Y after Y's lock of m returns. Shared
//       guards give the same edge from writers to readers and from readers'
//       unlock to the next writer. That is the underlying Lockable's
//       guarantee; ordo adds the same edges for ThreadSanitizer through the
//       __tsan_mutex_* annotations (absl::Mutex from Debian is not TSan
//       instrumented).
//   O2  ordo::wait(g, cond) releases m (as an unlock) and re-acquires it
//       (as a lock) before returning; cond is evaluated with m held.
//
// Invariants
//   I1  A context's held_levels lists, in acquisition order, the level of
//       every lock held along its chain (held<L, shared, maybe>).
//   I2  lock(ctx) compiles only if for every held level H:
//       lock_before_v<H, Level>, or H == Level and Level is nestable.
//   I3  Guards release in reverse order of acquisition (RAII); a guard that
//       was moved from releases nothing.
//   I4  wait/unlocked_call drop only the guard's own (innermost) lock; with
//       outer levels in the guard's type they compile only with
//       ordo::allow_held<every outer level...>.
//   I5  lock_all takes locks of one level in ascending address order, each
//       distinct lock once.
//
// Sanitizers and static analysis
//   ThreadSanitizer: every lock, unlock, try-lock (with its outcome), shared
//   lock and condition wait is described with __tsan_mutex_* at the ordered
//   mutex's address, so any Lockable TSan cannot see (Debian's absl::Mutex)
//   gives correct happens-before edges. Locks TSan already sees (the std
//   mutexes, or yours: specialize ordo::lockable_is_tsan_visible_v) are not
//   annotated twice.
//   Clang Thread Safety Analysis: the mutexes are capabilities and guards
//   scoped capabilities, so `auto g = m.lock(ctx);` makes ABSL_GUARDED_BY(m)
//   data accessible in g's scope. The analysis cannot follow try_lock
//   (optional), lock_if (conditional) or lock_all (a batch): data touched
//   under those needs ordo::guarded or an explicit escape.
//
// Misuse
//   compile error  "ordo: lock order violation: ..." for a wrong order, an
//                  unrelated level, a level already held, a declared
//                  cycle, a wait/unlocked_call with an outer lock held;
//                  "ordo: lock_all: ...", "ordo: lock_if: ...",
//                  "ordo: assert_held: ...", "ordo: guarded<T, Mutex>: ...",
//                  "ordo: wait: ...". Clang's -Wthread-safety flags data
//                  marked ABSL_GUARDED_BY(m) touched without m's guard.
//   runtime report (validator on) a stale context, an unlock of a lock not
//                  held, out-of-order release, nestable instances out of
//                  order, waits with extra locks held, ordo::unlocked made
//                  while holding a lock, and every inversion between chains
//                  (lockdep.hpp).
//   undefined      a context or guard used from another thread than its
//                  maker's with the validator off; destroying a mutex that
//                  is held; a Lockable that may not be unlocked by another
//                  thread (absl::Mutex, std::mutex) released through a guard
//                  moved to another thread.
//
// Example (tests/ordered_mutex_test.cpp, DesignExampleRunsWithAndWithoutAGuest)
//   struct guests_level : ordo::level<> {};
//   struct mdevs_level  : ordo::level<guests_level> {};
//   ordo::ordered_mutex<guests_level> guests_lock;
//   ordo::ordered_mutex<mdevs_level> mdevs_lock;
//   void f(ordo::unlocked& ctx) {
//     auto g = guests_lock.lock(ctx);
//     auto m = mdevs_lock.lock(g);      // mdevs_lock.lock(ctx) would compile
//   }                                   // too, but be a stale context
#ifndef ORDO_ORDERED_MUTEX_HPP
#define ORDO_ORDERED_MUTEX_HPP

#include <ordo/detail/sanitizer.hpp>
#include <ordo/lock_level.hpp>
#include <ordo/lockdep.hpp>

#include <absl/base/thread_annotations.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <source_location>
#include <type_traits>
#include <utility>

namespace ordo {

// ---------------------------------------------------------------------------
// Held-level lists (I1)

namespace detail {

template <class Level, bool Shared, bool Maybe>
struct held {
  using level = Level;
  static constexpr bool shared = Shared;
  static constexpr bool maybe = Maybe;
};

template <class List, class T>
struct append;
template <class... Ts, class T>
struct append<type_list<Ts...>, T> {
  using type = type_list<Ts..., T>;
};
template <class List, class T>
using append_t = typename append<List, T>::type;

template <class List>
struct last;
template <class T>
struct last<type_list<T>> {
  using type = T;
};
template <class T, class U, class... Rest>
struct last<type_list<T, U, Rest...>> : last<type_list<U, Rest...>> {};

// The list without its last element (the outer levels of a guard).
template <class Out, class In>
struct drop_last_in_order;
template <class... Out, class T>
struct drop_last_in_order<type_list<Out...>, type_list<T>> {
  using type = type_list<Out...>;
};
template <class... Out, class T, class U, class... Rest>
struct drop_last_in_order<type_list<Out...>, type_list<T, U, Rest...>>
    : drop_last_in_order<type_list<Out..., T>, type_list<U, Rest...>> {};

template <class List>
using outer_of_t = typename drop_last_in_order<type_list<>, List>::type;

template <class Level, class List>
struct find_level;
template <class Level, class... H>
struct find_level<Level, type_list<H...>> {
  static constexpr bool definite = ((std::is_same_v<Level, typename H::level> && !H::maybe) || ...);
  static constexpr bool any = (std::is_same_v<Level, typename H::level> || ...);
  static constexpr bool exclusive =
      ((std::is_same_v<Level, typename H::level> && !H::maybe && !H::shared) || ...);
};

template <class Level, class List>
struct order_ok;
template <class Level, class... H>
struct order_ok<Level, type_list<H...>> {
  static constexpr bool value =
      (true && ... &&
       lock_order::taking<Level>::template while_holding<typename H::level>::check());
};

}  // namespace detail

/// In ordo::holds / ordo::assert_held: the level is held, or conditionally
/// held (taken by ordo::lock_if).
template <class Level>
struct maybe {};
/// In ordo::holds / ordo::assert_held: the level is held in exclusive mode.
template <class Level>
struct exclusive {};

namespace detail {
template <class Req, class List>
struct satisfies {
  static constexpr bool value = find_level<Req, List>::definite;
};
template <class Level, class List>
struct satisfies<maybe<Level>, List> {
  static constexpr bool value = find_level<Level, List>::any;
};
template <class Level, class List>
struct satisfies<exclusive<Level>, List> {
  static constexpr bool value = find_level<Level, List>::exclusive;
};
}  // namespace detail

/// A lock context: ordo::unlocked or any guard. Contexts expose the list of
/// held levels (I1) and their validator depth (lockdep.hpp I1).
template <class C>
concept lock_context = requires(const C& c) {
  typename C::held_levels;
  { c.lockdep_depth() } -> std::convertible_to<long>;
};

/// The compile-time lockdep_assert_held: Ctx's type shows every L held.
/// L may be a level, ordo::maybe<level> (held or conditionally held) or
/// ordo::exclusive<level>.
template <class Ctx, class... L>
concept holds = lock_context<std::remove_cvref_t<Ctx>> &&
                (detail::satisfies<L, typename std::remove_cvref_t<Ctx>::held_levels>::value &&
                 ...);

namespace detail {
template <class Required, class Ctx>
struct required_level {
  static constexpr bool is_held_by_context = satisfies<Required, typename Ctx::held_levels>::value;
  static constexpr bool check() {
    static_assert(is_held_by_context,
                  "ordo: assert_held: a required level is not (definitely) held by this "
                  "context; a lock_if level only satisfies ordo::maybe<level>");
    return is_held_by_context;
  }
};
}  // namespace detail

/// Fails to compile, naming the level, unless ctx holds every L (same
/// forms as ordo::holds). Use it where a concept failure would be cryptic.
template <class... L, lock_context Ctx>
constexpr void assert_held(const Ctx&) noexcept {
  static_assert((detail::required_level<L, Ctx>::check() && ...));
}

// ---------------------------------------------------------------------------
// Root context

/// The root context: "this thread holds no lock". Make one at the top of a
/// call chain (`ordo::unlocked ctx;`) and pass it down by reference. With
/// the validator on, making one while the thread holds a validated lock is
/// a runtime report. Not copyable or movable: it is a place in a chain.
template <class Validator = default_validator>
class basic_unlocked {
 public:
  using held_levels = detail::type_list<>;
  using validator = Validator;

  /// Thread-compatible (one per thread). Reports (validator on) if the
  /// thread holds a lock; the context then starts from what is held, so
  /// that the fault is reported once, not again at every use.
  explicit basic_unlocked(std::source_location where = std::source_location::current()) noexcept {
    if constexpr (Validator::enabled) {
      lockdep::detail::on_root_context(where);
      depth_.value = static_cast<std::uint32_t>(lockdep::held_count());
    }
  }
  basic_unlocked(const basic_unlocked&) = delete;
  basic_unlocked& operator=(const basic_unlocked&) = delete;

  /// The validator depth (lockdep.hpp I1): 0 for a proper root, or -1 when
  /// not validated.
  long lockdep_depth() const noexcept {
    if constexpr (Validator::enabled) {
      return static_cast<long>(depth_.value);
    } else {
      return -1;
    }
  }

 private:
  struct no_depth {};
  struct depth {
    std::uint32_t value = 0;
  };
  [[no_unique_address]] std::conditional_t<Validator::enabled, depth, no_depth> depth_;
};

/// The root context with the default validator policy.
using unlocked = basic_unlocked<>;

/// A lock order tag for nestable levels: instances of one nestable level are
/// taken in ascending key order (checked by the validator).
struct nest_key {
  std::uint32_t value = 0;
};

template <class Level, class Mutex, class Validator, bool Shared>
class basic_ordered_mutex;

/// True when ThreadSanitizer already sees Lockable's synchronisation: the
/// std mutexes (TSan intercepts pthread), or a lock built from atomics in
/// instrumented code. ordo then adds no __tsan_mutex_* annotations (two
/// models of one lock at one address confuse TSan). False by default:
/// absl::Mutex from an uninstrumented libabsl, or any lock TSan cannot see,
/// is annotated. Specialize it for your own instrumented locks.
template <class Lockable>
inline constexpr bool lockable_is_tsan_visible_v = false;
template <>
inline constexpr bool lockable_is_tsan_visible_v<std::mutex> = true;
template <>
inline constexpr bool lockable_is_tsan_visible_v<std::timed_mutex> = true;
template <>
inline constexpr bool lockable_is_tsan_visible_v<std::recursive_mutex> = true;
template <>
inline constexpr bool lockable_is_tsan_visible_v<std::shared_mutex> = true;
template <>
inline constexpr bool lockable_is_tsan_visible_v<std::shared_timed_mutex> = true;

namespace detail {

template <class T>
inline constexpr bool is_ordered_mutex_v = false;
template <class Level, class Mutex, class Validator, bool Shared>
inline constexpr bool is_ordered_mutex_v<basic_ordered_mutex<Level, Mutex, Validator, Shared>> =
    true;

// Adapters over the two Lockable spellings.
template <class M>
concept absl_lockable = requires(M& m) {
  m.Lock();
  m.Unlock();
  { m.TryLock() } -> std::convertible_to<bool>;
};
template <class M>
concept std_lockable = requires(M& m) {
  m.lock();
  m.unlock();
  { m.try_lock() } -> std::convertible_to<bool>;
};
template <class M>
concept absl_shared_lockable = absl_lockable<M> && requires(M& m) {
  m.ReaderLock();
  m.ReaderUnlock();
  { m.ReaderTryLock() } -> std::convertible_to<bool>;
};
template <class M>
concept std_shared_lockable = std_lockable<M> && requires(M& m) {
  m.lock_shared();
  m.unlock_shared();
  { m.try_lock_shared() } -> std::convertible_to<bool>;
};

template <class M>
struct lock_ops {
  static void lock(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (absl_lockable<M>) m.Lock(); else m.lock();
  }
  static void unlock(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (absl_lockable<M>) m.Unlock(); else m.unlock();
  }
  static bool try_lock(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (absl_lockable<M>) return m.TryLock(); else return m.try_lock();
  }
  static void lock_shared(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (absl_shared_lockable<M>) m.ReaderLock(); else m.lock_shared();
  }
  static void unlock_shared(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (absl_shared_lockable<M>) m.ReaderUnlock(); else m.unlock_shared();
  }
  static bool try_lock_shared(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (absl_shared_lockable<M>) {
      return m.ReaderTryLock();
    } else {
      return m.try_lock_shared();
    }
  }
};

// The validator's per-instance state: nothing unless the validator is on
// and the level is nestable (then the instance key and its class id).
template <class Level, class Validator, bool = Validator::enabled && level_nestable_v<Level>>
struct instance_state {
  constexpr instance_state() noexcept = default;
  constexpr explicit instance_state(nest_key) noexcept {}
  std::uint32_t key() const noexcept { return 0; }
  std::uint32_t class_id() const { return lockdep::detail::class_of<Level>(); }
};
template <class Level, class Validator>
struct instance_state<Level, Validator, true> {
  constexpr instance_state() noexcept = default;
  constexpr explicit instance_state(nest_key k) noexcept : key_(k.value) {}
  std::uint32_t key() const noexcept { return key_; }
  std::uint32_t class_id() const {
    // relaxed: a plain id, see lockdep::detail::class_of.
    std::uint32_t id = class_.load(std::memory_order_relaxed);
    if (id == 0) {
      id = lockdep::detail::register_class(type_name_v<Level>, &lockdep::detail::level_tag<Level>,
                                           key_);
      class_.store(id, std::memory_order_relaxed);  // relaxed: as above
    }
    return id;
  }
  std::uint32_t key_ = 0;
  mutable std::atomic<std::uint32_t> class_{0};
};

// What a guard remembers for the validator: its place in the held stack and
// where it was taken. Empty when the validator is off.
template <class Validator>
struct guard_record {
  constexpr guard_record() noexcept = default;
  constexpr guard_record(std::uint32_t, std::source_location) noexcept {}
  long depth_after() const noexcept { return -1; }
  std::uint32_t depth() const noexcept { return 0; }
  std::source_location where() const noexcept { return {}; }
};
template <>
struct guard_record<validator_on> {
  constexpr guard_record() noexcept = default;
  constexpr guard_record(std::uint32_t depth, std::source_location where) noexcept
      : depth_(depth), where_(where) {}
  long depth_after() const noexcept { return static_cast<long>(depth_) + 1; }
  std::uint32_t depth() const noexcept { return depth_; }
  std::source_location where() const noexcept { return where_; }
  std::uint32_t depth_ = 0;
  std::source_location where_;
};

template <class Ctx>
inline std::uint32_t entry_depth(const Ctx& ctx) noexcept {
  const long d = ctx.lockdep_depth();
  return d >= 0 ? static_cast<std::uint32_t>(d) : static_cast<std::uint32_t>(lockdep::held_count());
}

struct guard_access;
struct wait_access;

}  // namespace detail

// ---------------------------------------------------------------------------
// Guards

/// Holds one lock of `OrderedMutex` (exclusive, or shared when Shared) and
/// is the context for what is taken next. Made by lock/lock_shared/try_lock;
/// movable (moved-from releases nothing), not copyable. Released by its
/// destructor (I3). Not thread-safe: belongs to its thread.
template <class OrderedMutex, bool Shared, class Held>
class ABSL_SCOPED_LOCKABLE guard {
 public:
  using held_levels = Held;
  using mutex_type = OrderedMutex;
  static constexpr bool shared = Shared;

  guard(guard&& other) noexcept
      : mutex_(std::exchange(other.mutex_, nullptr)), record_(other.record_) {}
  guard& operator=(guard&&) = delete;
  guard(const guard&) = delete;

  /// Releases the lock (validator: must be the innermost, held by this thread).
  ~guard() ABSL_UNLOCK_FUNCTION() {
    if (mutex_ != nullptr) mutex_->release(Shared, record_.where());
  }

  /// The locked mutex. Thread-safe.
  OrderedMutex& mutex() const noexcept { return *mutex_; }

  /// The validator depth after this lock (lockdep.hpp I1), or -1.
  long lockdep_depth() const noexcept { return record_.depth_after(); }

 private:
  friend OrderedMutex;
  friend struct detail::guard_access;
  guard(OrderedMutex* mutex, detail::guard_record<typename OrderedMutex::validator> record) noexcept
      : mutex_(mutex), record_(record) {}

  OrderedMutex* mutex_;
  [[no_unique_address]] detail::guard_record<typename OrderedMutex::validator> record_;
};

/// The context ordo::lock_if returns: holds the lock when the pointer was
/// non-null, nothing otherwise; the type is the same either way, and lists
/// the level as held<L, ..., maybe> so that the next lock is ordered after
/// it. Satisfies holds<Ctx, ordo::maybe<L>>, not holds<Ctx, L>.
template <class OrderedMutex, class Held>
class maybe_guard {
 public:
  using held_levels = Held;
  using mutex_type = OrderedMutex;

  maybe_guard(maybe_guard&& other) noexcept
      : mutex_(std::exchange(other.mutex_, nullptr)), record_(other.record_),
        parent_depth_(other.parent_depth_) {}
  maybe_guard& operator=(maybe_guard&&) = delete;
  ~maybe_guard() {
    if (mutex_ != nullptr) mutex_->release(false, record_.where());
  }

  /// True when the lock was taken. Not thread-safe (thread-owned).
  bool owns_lock() const noexcept { return mutex_ != nullptr; }
  explicit operator bool() const noexcept { return owns_lock(); }
  /// The locked mutex, or nullptr.
  OrderedMutex* mutex() const noexcept { return mutex_; }

  long lockdep_depth() const noexcept {
    return mutex_ != nullptr ? record_.depth_after() : parent_depth_;
  }

 private:
  friend struct detail::guard_access;
  maybe_guard(OrderedMutex* mutex, detail::guard_record<typename OrderedMutex::validator> record,
              long parent_depth) noexcept
      : mutex_(mutex), record_(record), parent_depth_(parent_depth) {}

  OrderedMutex* mutex_;
  [[no_unique_address]] detail::guard_record<typename OrderedMutex::validator> record_;
  long parent_depth_;
};

/// The context ordo::lock_all returns: N locks of one level, taken in
/// address order (I5), released in reverse.
template <class OrderedMutex, std::size_t N, class Held>
class batch_guard {
 public:
  using held_levels = Held;
  using mutex_type = OrderedMutex;

  batch_guard(batch_guard&& other) noexcept
      : locks_(other.locks_), count_(std::exchange(other.count_, 0)), first_(other.first_),
        where_(other.where_) {}
  batch_guard& operator=(batch_guard&&) = delete;
  ~batch_guard() {
    for (std::size_t i = count_; i-- > 0;) locks_[i]->release(false, where_);
  }

  /// Number of distinct locks held (duplicates are taken once).
  std::size_t size() const noexcept { return count_; }

  long lockdep_depth() const noexcept {
    return OrderedMutex::validator::enabled ? static_cast<long>(first_ + count_) : -1;
  }

 private:
  friend struct detail::guard_access;
  batch_guard() noexcept = default;
  std::array<OrderedMutex*, N> locks_{};
  std::size_t count_ = 0;
  std::uint32_t first_ = 0;
  std::source_location where_;
};

namespace detail {
struct guard_access {
  template <class G>
  static auto* mutex_of(G& g) noexcept { return g.mutex_; }
  template <class G>
  static auto record_of(G& g) noexcept { return g.record_; }
  template <class G>
  static void set_record(G& g, decltype(g.record_) r) noexcept { g.record_ = r; }
  template <class OM, class Held>
  static maybe_guard<OM, Held> make_maybe(OM* m, guard_record<typename OM::validator> r, long pd) {
    return maybe_guard<OM, Held>(m, r, pd);
  }
  template <class OM>
  static void acquire(OM& m, bool batch, long ctx_depth, std::uint32_t depth,
                      std::source_location where) {
    m.acquire(false, batch, ctx_depth, depth, where);
  }
  template <class OM, std::size_t N, class Held>
  static batch_guard<OM, N, Held> make_batch(const std::array<OM*, N>& locks, std::size_t count,
                                             std::uint32_t first, std::source_location where) {
    batch_guard<OM, N, Held> b;
    b.locks_ = locks;
    b.count_ = count;
    b.first_ = first;
    b.where_ = where;
    return b;
  }
};
}  // namespace detail

// ---------------------------------------------------------------------------
// The mutexes

/// The common implementation of ordered_mutex and ordered_shared_mutex.
/// Use the two aliases below.
template <class Level, class Mutex, class Validator, bool Shared>
class ABSL_LOCKABLE basic_ordered_mutex {
  static_assert(lock_order::check_level<Level>());
  static_assert(detail::absl_lockable<Mutex> || detail::std_lockable<Mutex>,
                "ordo: ordered_mutex<Level, Mutex>: Mutex must be Lockable (lock/unlock/"
                "try_lock, or absl's Lock/Unlock/TryLock)");
  static_assert(!Shared || detail::absl_shared_lockable<Mutex> ||
                    detail::std_shared_lockable<Mutex>,
                "ordo: ordered_shared_mutex<Level, Mutex>: Mutex must be SharedLockable");

  template <class Ctx, bool S>
  using guard_for =
      guard<basic_ordered_mutex, S,
            detail::append_t<typename Ctx::held_levels, detail::held<Level, S, false>>>;

 public:
  using level_type = Level;
  using lockable_type = Mutex;
  using validator = Validator;

  /// An unlocked mutex. For nestable levels the instance key is 0.
  basic_ordered_mutex() noexcept(std::is_nothrow_default_constructible_v<Mutex>) {
#if ORDO_TSAN
    if constexpr (annotate) __tsan_mutex_create(this, 0);
#endif
  }
  /// An unlocked mutex of a nestable level with instance key `key`:
  /// instances are nested in ascending key order (validator).
  explicit basic_ordered_mutex(nest_key key) noexcept(
      std::is_nothrow_default_constructible_v<Mutex>)
    requires(level_nestable_v<Level>)
      : state_(key) {
#if ORDO_TSAN
    if constexpr (annotate) __tsan_mutex_create(this, 0);
#endif
  }
  basic_ordered_mutex(const basic_ordered_mutex&) = delete;
  basic_ordered_mutex& operator=(const basic_ordered_mutex&) = delete;
  ~basic_ordered_mutex() {
#if ORDO_TSAN
    if constexpr (annotate) __tsan_mutex_destroy(this, 0);
#endif
  }

  /// Takes the lock exclusively after everything ctx holds; blocks.
  /// Compiles only if Level is after every level ctx holds (I2). Thread-safe;
  /// O1. The returned guard is the context for the next lock.
  template <lock_context Ctx>
  [[nodiscard]] guard_for<Ctx, false> lock(Ctx& ctx, std::source_location where =
                                                         std::source_location::current())
      ABSL_EXCLUSIVE_LOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_assert(detail::order_ok<Level, typename Ctx::held_levels>::value);
    const std::uint32_t depth =
        acquire(false, false, ctx.lockdep_depth(), detail::entry_depth(ctx), where);
    return guard_for<Ctx, false>(this, {depth, where});
  }

  /// Takes the lock in shared (reader) mode; ordered_shared_mutex only.
  /// Same order rules as lock(). Thread-safe; O1.
  template <lock_context Ctx>
    requires Shared
  [[nodiscard]] guard_for<Ctx, true> lock_shared(Ctx& ctx, std::source_location where =
                                                               std::source_location::current())
      ABSL_SHARED_LOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_assert(detail::order_ok<Level, typename Ctx::held_levels>::value);
    const std::uint32_t depth =
        acquire(true, false, ctx.lockdep_depth(), detail::entry_depth(ctx), where);
    return guard_for<Ctx, true>(this, {depth, where});
  }

  /// Tries to take the lock exclusively without blocking. It cannot
  /// deadlock, so it is not order-checked; what is taken through the guard
  /// is. Thread-safe; O1 when it succeeds.
  template <lock_context Ctx>
  [[nodiscard]] std::optional<guard_for<Ctx, false>> try_lock(
      Ctx& ctx, std::source_location where = std::source_location::current())
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const std::uint32_t depth = detail::entry_depth(ctx);
    if (!try_acquire(false, ctx.lockdep_depth(), depth, where)) return std::nullopt;
    return guard_for<Ctx, false>(this, {depth, where});
  }

  /// try_lock in shared mode; ordered_shared_mutex only.
  template <lock_context Ctx>
    requires Shared
  [[nodiscard]] std::optional<guard_for<Ctx, true>> try_lock_shared(
      Ctx& ctx, std::source_location where = std::source_location::current())
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const std::uint32_t depth = detail::entry_depth(ctx);
    if (!try_acquire(true, ctx.lockdep_depth(), depth, where)) return std::nullopt;
    return guard_for<Ctx, true>(this, {depth, where});
  }

  /// The instance key (nestable levels with the validator on; else 0).
  std::uint32_t key() const noexcept { return state_.key(); }

 private:
  template <class, bool, class>
  friend class guard;
  template <class, class>
  friend class maybe_guard;
  template <class, std::size_t, class>
  friend class batch_guard;
  friend struct detail::guard_access;
  friend struct detail::wait_access;

  // Whether this lock is described to ThreadSanitizer by hand.
  static constexpr bool annotate = ORDO_TSAN && !lockable_is_tsan_visible_v<Mutex>;
#if ORDO_TSAN
  static constexpr unsigned tsan_mode(bool shared) noexcept {
    return shared ? detail::tsan::read_lock : 0u;
  }
#endif

  // Tells the validator about an acquisition (validator on only).
  void validate_acquire(bool shared, std::uint32_t extra_flags, std::source_location where,
                        long ctx_depth) const {
    lockdep::detail::on_acquire(
        this, &lockdep::detail::level_tag<Level>, detail::type_name_v<Level>, where,
        state_.class_id(), state_.key(),
        extra_flags | (shared ? lockdep::detail::entry_shared : 0u) |
            (level_nestable_v<Level> ? lockdep::detail::entry_nestable : 0u),
        ctx_depth);
  }

  // Validates (validator on), then blocks until the lock is held. Returns
  // the held-stack index of the new entry.
  std::uint32_t acquire(bool shared, bool batch, long ctx_depth, std::uint32_t depth,
                        std::source_location where) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (Validator::enabled) {
      validate_acquire(shared, batch ? lockdep::detail::entry_batch : 0u, where, ctx_depth);
    }
#if ORDO_TSAN
    if constexpr (annotate) __tsan_mutex_pre_lock(this, tsan_mode(shared));
#endif
    if (shared) {
      if constexpr (Shared) detail::lock_ops<Mutex>::lock_shared(mutex_);
    } else {
      detail::lock_ops<Mutex>::lock(mutex_);
    }
#if ORDO_TSAN
    if constexpr (annotate) __tsan_mutex_post_lock(this, tsan_mode(shared), 0);
#endif
    return depth;
  }

  bool try_acquire(bool shared, long ctx_depth, std::uint32_t /*depth*/,
                   std::source_location where) ABSL_NO_THREAD_SAFETY_ANALYSIS {
#if ORDO_TSAN
    if constexpr (annotate) __tsan_mutex_pre_lock(this, tsan_mode(shared) | detail::tsan::try_lock);
#endif
    bool locked = false;
    if (shared) {
      if constexpr (Shared) locked = detail::lock_ops<Mutex>::try_lock_shared(mutex_);
    } else {
      locked = detail::lock_ops<Mutex>::try_lock(mutex_);
    }
#if ORDO_TSAN
    if constexpr (annotate) __tsan_mutex_post_lock(this,
                           tsan_mode(shared) | detail::tsan::try_lock |
                               (locked ? 0u : detail::tsan::try_lock_failed),
                           0);
#endif
    if constexpr (Validator::enabled) {
      if (locked) {
        validate_acquire(shared, lockdep::detail::entry_trylock, where, ctx_depth);
      }
    }
    return locked;
  }

  void release(bool shared, std::source_location where) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (Validator::enabled) {
      lockdep::detail::on_release(this, detail::type_name_v<Level>, where);
    }
#if ORDO_TSAN
    if constexpr (annotate) __tsan_mutex_pre_unlock(this, tsan_mode(shared));
#endif
    if (shared) {
      if constexpr (Shared) detail::lock_ops<Mutex>::unlock_shared(mutex_);
    } else {
      detail::lock_ops<Mutex>::unlock(mutex_);
    }
#if ORDO_TSAN
    if constexpr (annotate) __tsan_mutex_post_unlock(this, tsan_mode(shared));
#endif
  }

  Mutex mutex_;
  [[no_unique_address]] detail::instance_state<Level, Validator> state_;
};

/// An exclusive lock of level Level over any Lockable (absl::Mutex by
/// default). See the header comment.
template <class Level, class Mutex = absl::Mutex, class Validator = default_validator>
using ordered_mutex = basic_ordered_mutex<Level, Mutex, Validator, false>;

/// A reader/writer lock of level Level: lock(ctx) (writer) and
/// lock_shared(ctx) (reader), over absl::Mutex or any SharedLockable.
template <class Level, class Mutex = absl::Mutex, class Validator = default_validator>
using ordered_shared_mutex = basic_ordered_mutex<Level, Mutex, Validator, true>;

// Zero cost when the validator is off: the wrapper is the Lockable, and a
// guard is one pointer.
namespace detail {
struct size_probe_level : level<> {};
}  // namespace detail
static_assert(sizeof(ordered_mutex<detail::size_probe_level, absl::Mutex, validator_off>) ==
              sizeof(absl::Mutex));
static_assert(sizeof(ordered_shared_mutex<detail::size_probe_level, absl::Mutex,
                                          validator_off>) == sizeof(absl::Mutex));
#if !ORDO_LOCKDEP
static_assert(sizeof(ordered_mutex<detail::size_probe_level>) == sizeof(absl::Mutex));
#endif

// ---------------------------------------------------------------------------
// lock_if, lock_all

namespace detail {
template <class T>
struct lock_if_pointer {
  static constexpr bool is_ordered_mutex_pointer = always_false_v<T>;
  static constexpr bool check() {
    static_assert(is_ordered_mutex_pointer,
                  "ordo: lock_if: the first argument must be a (possibly null) pointer to an "
                  "ordo::ordered_mutex; a bare nullptr or another lock type has no level");
    return false;
  }
};
template <class Level, class Mutex, class Validator>
struct lock_if_pointer<basic_ordered_mutex<Level, Mutex, Validator, false>> {
  static constexpr bool is_ordered_mutex_pointer = true;
  static constexpr bool check() { return true; }
};
}  // namespace detail

/// Takes *mutex if mutex is not null (the conditional kvm->lock of
/// vfio-ap); returns a maybe_guard whose type is the same in both cases and
/// whose level counts as held for ordering (I2). Thread-safe; O1 if taken.
template <class OM, lock_context Ctx>
[[nodiscard]] auto lock_if(OM* mutex, Ctx& ctx,
                           std::source_location where = std::source_location::current()) {
  if constexpr (!detail::lock_if_pointer<std::remove_const_t<OM>>::check()) {
    return;
  } else {
    using Level = typename OM::level_type;
    static_assert(detail::order_ok<Level, typename Ctx::held_levels>::value);
    using held_list = detail::append_t<typename Ctx::held_levels, detail::held<Level, false, true>>;
    const std::uint32_t depth = detail::entry_depth(ctx);
    if (mutex == nullptr) {
      return detail::guard_access::make_maybe<OM, held_list>(nullptr, {depth, where},
                                                             ctx.lockdep_depth());
    }
    detail::guard_access::acquire(*mutex, false, ctx.lockdep_depth(), depth, where);
    return detail::guard_access::make_maybe<OM, held_list>(mutex, {depth, where},
                                                           ctx.lockdep_depth());
  }
}

/// The lock_if overload for a literal nullptr: always a compile error (no
/// level to order).
template <lock_context Ctx>
void lock_if(std::nullptr_t, Ctx&, std::source_location = std::source_location::current()) {
  static_assert(detail::lock_if_pointer<Ctx>::check());
}

namespace detail {
template <class M>
struct lock_all_argument {
  static constexpr bool is_exclusive_ordered_mutex = always_false_v<M>;
  static constexpr bool check() {
    static_assert(is_exclusive_ordered_mutex,
                  "ordo: lock_all: every argument must be an ordo::ordered_mutex");
    return false;
  }
};
template <class Level, class Mutex, class Validator>
struct lock_all_argument<basic_ordered_mutex<Level, Mutex, Validator, false>> {
  static constexpr bool is_exclusive_ordered_mutex = true;
  static constexpr bool check() { return true; }
};
template <class First>
struct lock_all_of {
  template <class Other>
  struct with {
    static constexpr bool same_level_and_type = std::is_same_v<First, Other>;
    static constexpr bool check() {
      static_assert(same_level_and_type,
                    "ordo: lock_all: every mutex must be of the same level and type (see "
                    "lock_all_of<First>::with<Other>); take different levels one by one, in "
                    "order");
      return same_level_and_type;
    }
  };
};
}  // namespace detail

/// Takes several locks of one level, in ascending address order, each
/// distinct lock once (I5). Compiles only if that level may be taken after
/// everything ctx holds. Returns a batch_guard context. Thread-safe; O1.
template <lock_context Ctx, class First, class... Rest>
[[nodiscard]] auto lock_all(Ctx& ctx, First& first, Rest&... rest) {
  static_assert(detail::lock_all_argument<First>::check());
  static_assert((true && ... && detail::lock_all_of<First>::template with<Rest>::check()));
  using Level = typename First::level_type;
  static_assert(detail::order_ok<Level, typename Ctx::held_levels>::value);
  constexpr std::size_t n = 1 + sizeof...(Rest);
  // A batch holds one level, listed once.
  using held_list = detail::append_t<typename Ctx::held_levels, detail::held<Level, false, false>>;
  std::array<First*, n> locks{&first, &rest...};
  std::sort(locks.begin(), locks.end(), std::less<First*>());
  const auto end = std::unique(locks.begin(), locks.end());
  const std::size_t count = static_cast<std::size_t>(end - locks.begin());
  const std::uint32_t first_depth = detail::entry_depth(ctx);
  long ctx_depth = ctx.lockdep_depth();
  const std::source_location where = std::source_location::current();
  for (std::size_t i = 0; i < count; ++i) {
    detail::guard_access::acquire(*locks[i], true, ctx_depth,
                                  first_depth + static_cast<std::uint32_t>(i), where);
    if (ctx_depth >= 0) ++ctx_depth;
  }
  return detail::guard_access::make_batch<First, n, held_list>(locks, count, first_depth, where);
}

// ---------------------------------------------------------------------------
// Waits and calls with the innermost lock dropped

/// The explicit permission to wait or call out while the listed outer
/// levels stay held (I4). List every outer level.
template <class... Levels>
struct allow_held_t {};
template <class... Levels>
inline constexpr allow_held_t<Levels...> allow_held{};

namespace lock_order {
template <class Inner>
struct dropping {
  template <class Outer, class Allowed>
  struct while_holding;
  template <class Outer, class... Allowed>
  struct while_holding<Outer, detail::type_list<Allowed...>> {
    static constexpr bool is_explicitly_allowed = (std::is_same_v<Outer, Allowed> || ...);
    static constexpr bool check() {
      static_assert(is_explicitly_allowed,
                    "ordo: lock order violation: wait/unlocked_call drops only the innermost "
                    "lock while an outer lock stays held (the busy-flag-and-wait-queue "
                    "pattern that hides an inversion); if intended, pass "
                    "ordo::allow_held<every outer level...>");
      return is_explicitly_allowed;
    }
  };
};
template <class Allowed>
struct allowed_level {
  template <class Outer>
  struct is_held_outside;
  template <class... Outer>
  struct is_held_outside<detail::type_list<Outer...>> {
    static constexpr bool value = (std::is_same_v<Allowed, typename Outer::level> || ...);
    static constexpr bool check() {
      static_assert(value,
                    "ordo: wait: ordo::allow_held<...> lists a level that is not held outside "
                    "the innermost lock");
      return value;
    }
  };
};
}  // namespace lock_order

namespace detail {

template <class Held, class... Allowed>
constexpr bool check_drop() {
  using inner = typename last<Held>::type;
  using outer = outer_of_t<Held>;
  return []<class... O>(type_list<O...>) {
    return (true && ... &&
            lock_order::dropping<typename inner::level>::template while_holding<
                typename O::level, type_list<Allowed...>>::check()) &&
           (true && ... &&
            lock_order::allowed_level<Allowed>::template is_held_outside<outer>::check());
  }(outer{});
}

template <class Mutex>
struct condition_thunk {
  const void* tsan_address;
  unsigned tsan_flags;
  void* cond;
  bool (*eval)(void*);

  // Runs with the Mutex held, on the waiter or on the thread that unlocks:
  // tell TSan the lock is held around the evaluation (O2).
  static bool run(condition_thunk* self) {
#if ORDO_TSAN
    void* address = const_cast<void*>(self->tsan_address);
    __tsan_mutex_pre_lock(address, self->tsan_flags | tsan::try_lock);
    __tsan_mutex_post_lock(address, self->tsan_flags | tsan::try_lock, 0);
#endif
    const bool result = self->eval(self->cond);
#if ORDO_TSAN
    __tsan_mutex_pre_unlock(address, self->tsan_flags);
    __tsan_mutex_post_unlock(address, self->tsan_flags);
#endif
    return result;
  }
};

struct wait_access {
  template <class G>
  static auto& mutex(G& g) noexcept {
    return *guard_access::mutex_of(g);
  }

  // Drops g's lock (validator + TSan as an unlock), runs `body` with the
  // raw lockable, and re-takes it (as a lock). With Release, the lock
  // itself is released around body (unlocked_call); without, body releases
  // and re-takes it (absl::Mutex::Await).
  template <bool Release, class G, class Body>
  static decltype(auto) dropped(G& g, bool outer_allowed, std::source_location where, Body&& body) {
    auto& m = mutex(g);
    using OM = std::remove_reference_t<decltype(m)>;
    using lockable = typename OM::lockable_type;
    constexpr bool shared = G::shared;
#if ORDO_TSAN
    constexpr bool annotate = OM::annotate;
#endif
    const auto record = guard_access::record_of(g);
    if constexpr (OM::validator::enabled) {
      lockdep::detail::on_wait(&m, type_name_v<typename OM::level_type>, record.depth(),
                               outer_allowed, where);
      lockdep::detail::on_release(&m, type_name_v<typename OM::level_type>, where);
    }
#if ORDO_TSAN
    if constexpr (annotate) __tsan_mutex_pre_unlock(&m, shared ? tsan::read_lock : 0u);
#endif
    if constexpr (Release) {
      if constexpr (shared) {
        lock_ops<lockable>::unlock_shared(m.mutex_);
      } else {
        lock_ops<lockable>::unlock(m.mutex_);
      }
    }
#if ORDO_TSAN
    if constexpr (annotate) __tsan_mutex_post_unlock(&m, shared ? tsan::read_lock : 0u);
#endif
    struct relock {
      OM& m;
      decltype(record) rec;
      std::source_location where;
      ~relock() {
        if constexpr (OM::validator::enabled) {
          m.validate_acquire(shared, 0u, where, static_cast<long>(rec.depth()));
        }
#if ORDO_TSAN
        if constexpr (annotate) __tsan_mutex_pre_lock(&m, shared ? tsan::read_lock : 0u);
#endif
        if constexpr (Release) {
          if constexpr (shared) {
            lock_ops<lockable>::lock_shared(m.mutex_);
          } else {
            lock_ops<lockable>::lock(m.mutex_);
          }
        }
#if ORDO_TSAN
        if constexpr (annotate) __tsan_mutex_post_lock(&m, shared ? tsan::read_lock : 0u, 0);
#endif
      }
    } after{m, record, where};
    (void)after;
    return std::forward<Body>(body)(m.mutex_);
  }
};

}  // namespace detail

namespace detail {
template <class G>
struct waitable_guard : std::false_type {};
template <class OM, bool S, class Held>
struct waitable_guard<guard<OM, S, Held>> : std::true_type {};
}  // namespace detail

namespace detail {
// Waits on g's absl::Mutex until cond() holds or the timeout (if any)
// expires; returns cond()'s last value.
template <class G, class Cond>
bool wait_with(G& g, Cond&& cond, bool outer_allowed, std::source_location where,
               std::optional<absl::Duration> timeout = std::nullopt) {
  using OM = typename G::mutex_type;
  static_assert(std::is_same_v<typename OM::lockable_type, absl::Mutex>,
                "ordo: wait: waiting on a condition needs an absl::Mutex underneath "
                "(absl::Mutex::Await)");
  auto&& c = cond;
  using C = std::remove_reference_t<decltype(c)>;
#if ORDO_TSAN
  const unsigned tsan_flags = G::shared ? tsan::read_lock : 0u;
#else
  const unsigned tsan_flags = 0;
#endif
  condition_thunk<OM> thunk{
      &wait_access::mutex(g), tsan_flags, const_cast<void*>(static_cast<const void*>(&c)),
      [](void* p) -> bool { return static_cast<bool>((*static_cast<C*>(p))()); }};
  return wait_access::dropped<false>(g, outer_allowed, where, [&](absl::Mutex& raw) {
    const absl::Condition condition(&condition_thunk<OM>::run, &thunk);
    if (!timeout) {
      raw.Await(condition);
      return true;
    }
    return raw.AwaitWithTimeout(condition, *timeout);
  });
}
}  // namespace detail

/// Waits until cond() is true, dropping only g's (innermost) lock while
/// blocked (absl::Mutex::Await); cond is evaluated with the lock held (O2).
/// Compiles only if g's context holds no outer level (I4); validator: g
/// must be this thread's only held lock. Not thread-safe for g (thread-owned).
template <class G, class Cond>
  requires detail::waitable_guard<G>::value
void wait(G& g, Cond&& cond, std::source_location where = std::source_location::current()) {
  static_assert(detail::check_drop<typename G::held_levels>());
  detail::wait_with(g, std::forward<Cond>(cond), false, where);
}

/// wait() while the listed outer levels stay held, on purpose: every outer
/// level must be listed (I4). The validator still checks g is innermost.
template <class G, class Cond, class... Allowed>
  requires detail::waitable_guard<G>::value
void wait(G& g, Cond&& cond, allow_held_t<Allowed...>,
          std::source_location where = std::source_location::current()) {
  static_assert(detail::check_drop<typename G::held_levels, Allowed...>());
  detail::wait_with(g, std::forward<Cond>(cond), true, where);
}


/// wait() that gives up after `timeout`: returns true when cond() held,
/// false on timeout (the lock is held again either way). Same rules (I4).
template <class G, class Cond, class Rep, class Period>
  requires detail::waitable_guard<G>::value
bool wait_for(G& g, Cond&& cond, std::chrono::duration<Rep, Period> timeout,
              std::source_location where = std::source_location::current()) {
  static_assert(detail::check_drop<typename G::held_levels>());
  return detail::wait_with(g, std::forward<Cond>(cond), false, where, absl::FromChrono(timeout));
}

/// wait_for() while the listed outer levels stay held, on purpose (I4).
template <class G, class Cond, class Rep, class Period, class... Allowed>
  requires detail::waitable_guard<G>::value
bool wait_for(G& g, Cond&& cond, std::chrono::duration<Rep, Period> timeout,
              allow_held_t<Allowed...>,
              std::source_location where = std::source_location::current()) {
  static_assert(detail::check_drop<typename G::held_levels, Allowed...>());
  return detail::wait_with(g, std::forward<Cond>(cond), true, where, absl::FromChrono(timeout));
}

/// Calls fn() with g's (innermost) lock released, then re-takes it; returns
/// fn's result. If fn accepts a context, it gets a fresh ordo::unlocked
/// (nothing else is held). Compiles only if g's context holds no outer
/// level (I4). Not thread-safe for g.
template <class G, class Fn>
  requires detail::waitable_guard<G>::value
decltype(auto) unlocked_call(G& g, Fn&& fn,
                             std::source_location where = std::source_location::current()) {
  static_assert(detail::check_drop<typename G::held_levels>());
  return detail::wait_access::dropped<true>(g, false, where, [&](auto&) -> decltype(auto) {
    if constexpr (std::is_invocable_v<Fn&&, basic_unlocked<typename G::mutex_type::validator>&>) {
      basic_unlocked<typename G::mutex_type::validator> root(where);
      return std::forward<Fn>(fn)(root);
    } else {
      return std::forward<Fn>(fn)();
    }
  });
}

/// unlocked_call while the listed outer levels stay held, on purpose (I4).
template <class G, class Fn, class... Allowed>
  requires detail::waitable_guard<G>::value
decltype(auto) unlocked_call(G& g, Fn&& fn, allow_held_t<Allowed...>,
                             std::source_location where = std::source_location::current()) {
  static_assert(detail::check_drop<typename G::held_levels, Allowed...>());
  return detail::wait_access::dropped<true>(
      g, true, where, [&](auto&) -> decltype(auto) { return std::forward<Fn>(fn)(); });
}

// ---------------------------------------------------------------------------
// guarded<T, Mutex>

/// A locked view of a guarded<T>: the guard (so it is a context for the
/// next lock) plus access to the value. Not thread-safe (thread-owned).
template <class T, class Guard>
class locked_ptr {
 public:
  using held_levels = typename Guard::held_levels;
  using mutex_type = typename Guard::mutex_type;
  static constexpr bool shared = Guard::shared;

  T* operator->() const noexcept { return value_; }
  T& operator*() const noexcept { return *value_; }
  long lockdep_depth() const noexcept { return guard_.lockdep_depth(); }
  /// The guard, e.g. for ordo::wait.
  Guard& lock_guard() noexcept { return guard_; }

  locked_ptr(Guard&& g, T* value) noexcept : guard_(std::move(g)), value_(value) {}

 private:
  Guard guard_;
  T* value_;
};

namespace detail {
template <class T, class G>
struct waitable_guard<locked_ptr<T, G>> : std::false_type {};

template <class Mutex>
struct guarded_mutex {
  static constexpr bool is_ordered_mutex = is_ordered_mutex_v<Mutex>;
  static constexpr bool check() {
    static_assert(is_ordered_mutex,
                  "ordo: guarded<T, Mutex>: Mutex must be an ordo::ordered_mutex or "
                  "ordo::ordered_shared_mutex");
    return is_ordered_mutex;
  }
};
template <class T>
struct guarded_access {
  static constexpr bool through_a_guard = always_false_v<T>;
  static constexpr bool check() {
    static_assert(through_a_guard,
                  "ordo: guarded<T, Mutex>: the data is reachable only through a guard: "
                  "auto locked = g.lock(ctx); then locked->...");
    return through_a_guard;
  }
};
}  // namespace detail

/// wait() on a locked_ptr's guard.
template <class T, class G, class Cond, class... A>
void wait(locked_ptr<T, G>& locked, Cond&& cond, A&&... args) {
  ordo::wait(locked.lock_guard(), std::forward<Cond>(cond), std::forward<A>(args)...);
}

/// A T that can be reached only through a guard of its own ordered mutex
/// (like folly::Synchronized): GUARDED_BY is structural. Thread-safe.
template <class T, class Mutex>
class guarded {
  static_assert(detail::guarded_mutex<Mutex>::check());

 public:
  using value_type = T;
  using mutex_type = Mutex;

  /// Constructs the value from args. Not thread-safe (construction).
  template <class... Args>
    requires std::is_constructible_v<T, Args&&...>
  explicit guarded(Args&&... args) : value_(std::forward<Args>(args)...) {}
  /// Constructs a nestable level's mutex with `key` and the value from args.
  template <class... Args>
    requires std::is_constructible_v<T, Args&&...>
  explicit guarded(nest_key key, Args&&... args)
      : mutex_(key), value_(std::forward<Args>(args)...) {}

  /// Locks exclusively (Mutex::lock order rules) and returns the view.
  template <lock_context Ctx>
  [[nodiscard]] auto lock(Ctx& ctx,
                          std::source_location where = std::source_location::current()) {
    auto g = mutex_.lock(ctx, where);
    return locked_ptr<T, decltype(g)>(std::move(g), &value_);
  }

  /// Locks in shared mode (ordered_shared_mutex only); the view is const.
  template <lock_context Ctx>
  [[nodiscard]] auto lock_shared(Ctx& ctx,
                                 std::source_location where = std::source_location::current()) {
    auto g = mutex_.lock_shared(ctx, where);
    return locked_ptr<const T, decltype(g)>(std::move(g), &value_);
  }

  /// try_lock: the view, or nullopt when the lock is busy.
  template <lock_context Ctx>
  [[nodiscard]] auto try_lock(Ctx& ctx,
                              std::source_location where = std::source_location::current()) {
    auto g = mutex_.try_lock(ctx, where);
    using view = locked_ptr<T, typename decltype(g)::value_type>;
    return g ? std::optional<view>(std::in_place, std::move(*g), &value_) : std::optional<view>();
  }

  /// Direct access is a compile error: lock first.
  template <class D = void>
  T* operator->() {
    static_assert(detail::guarded_access<D>::check());
    return nullptr;
  }
  template <class D = void>
  T& operator*() {
    static_assert(detail::guarded_access<D>::check());
    return *static_cast<T*>(nullptr);
  }
  template <class D = void>
  T& get() {
    static_assert(detail::guarded_access<D>::check());
    return *static_cast<T*>(nullptr);
  }

 private:
  Mutex mutex_;
  T value_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace ordo

#endif  // ORDO_ORDERED_MUTEX_HPP
