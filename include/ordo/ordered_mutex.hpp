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
//   ordered_mutex<Level, Mutex = absl::Mutex> wraps any Lockable (std
//   style lock/unlock/try_lock, preferred when a type has both, or absl
//   style Lock/Unlock/TryLock);
//   ordered_shared_mutex<Level> is the reader/writer form (lock and
//   lock_shared). Both are zero-cost wrappers when the validator is off:
//   sizeof(ordered_mutex<L>) == sizeof(absl::Mutex), a guard is one pointer.
//
// When not to use it
//   Where the caller's context cannot be passed in (a type-erased callback,
//   a hook, a C API), the order is unknowable at compile time: there, and
//   only there, take the lock through ordo::callback_context, the escape
//   that the validator checks at run time (I6); never a plain mutex, which
//   hides the inversion from the validator. For data that a single lock
//   guards, prefer ordo::guarded<T, Mutex>.
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
//       (as a lock) before returning; cond is evaluated with m held. The
//       same holds for ordo::condition_variable, and for
//       std::condition_variable_any waiting on a guard or an
//       ordo::relockable: guard::unlock() is an unlock of m (O1), and
//       guard::lock() a lock of m.
//
// Invariants
//   I1  A context's held_levels lists, in acquisition order, the level of
//       every lock held along its chain (held<L, shared, maybe>).
//   I2  lock(ctx) compiles only if for every held level H:
//       lock_before_v<H, Level>, or H == Level and Level is nestable.
//   I3  Guards release in reverse order of acquisition (RAII); a guard that
//       was moved from, or released by unlock(), releases nothing.
//   I4  wait/unlocked_call drop only the guard's own (innermost) lock; with
//       outer levels in the guard's type they compile only with
//       ordo::allow_held<every outer level...>.
//   I5  lock_all takes locks of one level in one fixed order, each distinct
//       lock once: ascending address, or for a nestable level ascending
//       instance key, then address. That is the order one-by-one nesting of
//       the level must follow too, so a nestable level has one order however
//       its instances are taken (the key is kept with the validator off, so
//       the order is the same in every build).
//   I6  ordo::callback_context claims no level: what is taken through it is
//       not checked at compile time. With the validator on it is checked
//       against what the thread holds and enters the dependency graph like
//       any lock (lockdep.hpp).
//   I7  guard::unlock() may release a lock that is not the innermost, on
//       purpose (hand-over-hand): the locks taken after it stay held and
//       their guards stay the current contexts. guard::lock() re-takes it
//       through the context the guard was made from, which must then be
//       the innermost. guard::hand_over(next) is take-next-then-release in
//       one step, keeping the guard's type, for a nestable level.
//
// What a context's type proves, and what only the validator can
//   A context's type lists lock *levels*, and a level is a lock class: the
//   types prove "some lock of level L is held (exclusively)", never which
//   instance. Guest A's kvm->lock satisfies holds<Ctx, kvm_level> for guest
//   B's data as well. lock_if adds a level as "maybe": the type cannot know
//   whether the pointer was null. Both gaps close at run time only:
//   m.assert_held(ctx) (the kernel's lockdep_assert_held(&m)) checks that
//   this thread holds m itself, and returns ctx as an asserted_context in
//   which m's level is definite. It checks in every build when ctx is m's
//   own guard or the maybe_guard of a lock_if (the guard knows its lock),
//   and with the validator on through any later context (the held stack
//   knows every instance). With the validator off, an assertion through a
//   later context upgrades the type unchecked: code that must be right in
//   release builds asserts on the guard itself.
//
// Sanitizers and static analysis
//   ThreadSanitizer: every lock, unlock, try-lock (with its outcome), shared
//   lock and condition wait goes through one raw lock layer
//   (detail::raw_lock) that describes it with __tsan_mutex_* at the ordered
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
//                  cycle, a wait/unlocked_call, or a guard's BasicLockable
//                  lock() (std::condition_variable_any), with an outer lock
//                  held; "ordo: hand_over: ..." for a level that is not
//                  nestable; "ordo: lock_all: ...", "ordo: lock_if: ...",
//                  "ordo: assert_held: ...", "ordo: guarded<T, Mutex>: ...",
//                  "ordo: wait: ...". Clang's -Wthread-safety flags data
//                  marked ABSL_GUARDED_BY(m) touched without m's guard.
//   runtime report (any build) assert_held of a lock that its own guard, or
//                  the lock_if that made ctx, does not hold.
//                  (validator on) a stale context, a released guard used as a
//                  context, a second unlock() of a guard, an unlock of a
//                  lock not held, out-of-order release, a recursive lock
//                  (self-deadlock), nestable instances out of order, waits
//                  with extra locks held, ordo::unlocked made while holding
//                  a lock, a held mutex destroyed ("held lock freed"), and
//                  every inversion between chains, through a
//                  callback_context included (lockdep.hpp).
//   undefined      a context or guard used from another thread than its
//                  maker's with the validator off; destroying a mutex that
//                  is held with the validator off (its guard then releases
//                  freed memory); a Lockable that may not be unlocked by another
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
//
// Public names (each is documented where it is declared)
//   ordo::unlocked / basic_unlocked<V>       the root context
//   ordo::callback_context / basic_callback_context<V>
//                                            the escape for callbacks (I6)
//   ordo::lock_context, ordo::holds, ordo::maybe, ordo::exclusive,
//   ordo::assert_held                        what a context proves
//   asserted_context (OrderedMutex::assert_held) a level proven by a runtime
//                                            check of the instance
//   ordo::ordered_mutex, ordered_shared_mutex, nest_key, lock_mode,
//   ordo::lockable_is_tsan_visible_v         the mutexes
//   ordo::guard (unlock, lock, hand_over, owns_lock, mutex,
//   lockdep_position), maybe_guard, batch_guard
//                                            the contexts that hold locks
//   ordo::relockable, ordo::allow_held       std::condition_variable_any with
//                                            outer levels held, on purpose (I4)
//   ordo::condition_variable                 wait/wait_for/wait_until on a
//                                            guard over any Lockable (O2, I4)
//   ordo::callback_lockable                  a run-time-checked std Lockable
//                                            view for the callback escape (I6)
//   ordo::lock_if, ordo::lock_all, ordo::wait, wait_for, unlocked_call,
//   ordo::guarded, locked_ptr
#ifndef ORDO_ORDERED_MUTEX_HPP
#define ORDO_ORDERED_MUTEX_HPP

#include <ordo/detail/config.hpp>
#include <ordo/detail/sanitizer.hpp>
#include <ordo/lock_level.hpp>
#include <ordo/lockdep.hpp>

#if defined(__has_include)
#if !__has_include(<absl/synchronization/mutex.h>)
#error "ordo/ordered_mutex.hpp needs Abseil (Debian: libabsl-dev): link ordo::locks, or use only the ordo::core headers"
#endif
#endif
#include <absl/base/thread_annotations.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
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

// The list with Level's entries no longer "maybe" (asserted_context).
template <class Level, class List>
struct make_definite;
template <class Level, class... H>
struct make_definite<Level, type_list<H...>> {
  using type = type_list<std::conditional_t<std::is_same_v<Level, typename H::level>,
                                            held<Level, H::shared, false>, H>...>;
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

/// A lock context: ordo::unlocked, ordo::callback_context or any guard.
/// Contexts expose the list of held levels (I1) and their validator
/// position (lockdep.hpp I1: -1 when not validated).
template <class C>
concept lock_context = requires(const C& c) {
  typename C::held_levels;
  { c.lockdep_position() } -> std::convertible_to<long>;
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
// Root and callback contexts

namespace detail {
// The validator position a root context (unlocked, callback_context)
// starts from: stored only with the validator on, -1 otherwise.
template <class Validator>
class root_position {
 public:
  void set(long value) noexcept {
    if constexpr (Validator::enabled) stored_.value = value;
  }
  [[nodiscard]] long get() const noexcept {
    if constexpr (Validator::enabled) {
      return stored_.value;
    } else {
      return lockdep::detail::no_position;
    }
  }

 private:
  struct none {};
  struct stored {
    long value = 0;
  };
  [[no_unique_address]] std::conditional_t<Validator::enabled, stored, none> stored_;
};
}  // namespace detail

/// The root context: "this thread holds no lock". Make one at the top of a
/// call chain (`ordo::unlocked ctx;`) and pass it down by reference. With
/// the validator on, making one while the thread holds a validated lock is
/// a runtime report. Not copyable or movable: it is a place in a chain.
template <class Validator = default_validator>
class basic_unlocked {
 public:
  /// The levels this context holds: none.
  using held_levels = detail::type_list<>;
  /// The validator policy.
  using validator = Validator;

  /// Thread-compatible (one per thread). Reports (validator on) if the
  /// thread holds a lock; the context then starts from what is held, so
  /// that the fault is reported once, not again at every use.
  explicit basic_unlocked(std::source_location where = std::source_location::current()) noexcept {
    if constexpr (Validator::enabled) position_.set(lockdep::detail::on_root_context(where));
  }
  basic_unlocked(const basic_unlocked&) = delete;
  basic_unlocked& operator=(const basic_unlocked&) = delete;

  /// The validator position (lockdep.hpp I1): 0 for a proper root, or -1
  /// when not validated.
  long lockdep_position() const noexcept {
    return position_.get();
  }

 private:
  [[no_unique_address]] detail::root_position<Validator> position_;
};

/// The root context with the default validator policy.
using unlocked = basic_unlocked<>;

/// The escape for code that cannot receive its caller's context: a
/// type-erased callback (std::function, a hook), a C API's callback, a
/// virtual function. It claims nothing at compile time (any level may be
/// taken through it), so the compile-time order checks stop at it; with the
/// validator on, every lock taken through it is checked at run time against
/// what the thread really holds (same-level, recursion, nesting order) and
/// entered in the dependency graph, so an inversion with the caller's locks
/// is reported as a circular dependency naming both levels and both sites
/// (I6). With the validator off it checks nothing. Unlike ordo::unlocked it
/// may be made while locks are held: that is its purpose. Prefer passing a
/// context; write this only where one cannot reach. Not copyable or
/// movable; thread-compatible (one per thread).
template <class Validator = default_validator>
class basic_callback_context {
 public:
  /// The levels known held at compile time: none (the validator checks at run time).
  using held_levels = detail::type_list<>;
  /// The validator policy.
  using validator = Validator;

  basic_callback_context() noexcept {
    if constexpr (Validator::enabled) position_.set(lockdep::detail::current_position());
  }
  basic_callback_context(const basic_callback_context&) = delete;
  basic_callback_context& operator=(const basic_callback_context&) = delete;

  /// The validator position (lockdep.hpp I1): the thread's innermost lock
  /// when it was made, or -1 when not validated.
  long lockdep_position() const noexcept {
    return position_.get();
  }

 private:
  [[no_unique_address]] detail::root_position<Validator> position_;
};

/// The callback escape with the default validator policy.
using callback_context = basic_callback_context<>;

/// A lock order tag for nestable levels: instances of one nestable level are
/// taken in ascending key order (checked by the validator).
struct nest_key {
  /// The instance's key: instances are taken in ascending key order.
  std::uint32_t value = 0;
};

/// How a lock is held: alone (exclusive) or with other readers (shared).
enum class lock_mode : unsigned char { exclusive, shared };

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
template <class T>
inline constexpr bool is_shared_ordered_mutex_v = false;
template <class Level, class Mutex, class Validator>
inline constexpr bool
    is_shared_ordered_mutex_v<basic_ordered_mutex<Level, Mutex, Validator, true>> = true;

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

// The Lockable's own operations. The std spelling wins when a type has
// both: current Abseil marks Lock/Unlock/TryLock/Reader* [[deprecated]] in
// favour of lock/unlock/try_lock/lock_shared.
template <class M>
struct lock_ops {
  static void lock(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (std_lockable<M>) m.lock(); else m.Lock();
  }
  static void unlock(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (std_lockable<M>) m.unlock(); else m.Unlock();
  }
  static bool try_lock(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (std_lockable<M>) return m.try_lock(); else return m.TryLock();
  }
  static void lock_shared(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (std_shared_lockable<M>) m.lock_shared(); else m.ReaderLock();
  }
  static void unlock_shared(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (std_shared_lockable<M>) m.unlock_shared(); else m.ReaderUnlock();
  }
  static bool try_lock_shared(M& m) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (std_shared_lockable<M>) {
      return m.try_lock_shared();
    } else {
      return m.ReaderTryLock();
    }
  }
};

// The one raw lock layer: the Lockable's operation in a mode, described to
// ThreadSanitizer at the ordered mutex's address `at` when Annotate (a
// Lockable TSan cannot see). Everything that takes, drops or re-takes the
// lock goes through here; the validator is the layer above.
template <class Mutex, bool Annotate>
struct raw_lock {
  template <lock_mode Mode>
  static void lock(Mutex& m, const void* at) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    note_pre_lock<Mode>(at, 0u);
    if constexpr (Mode == lock_mode::shared) {
      lock_ops<Mutex>::lock_shared(m);
    } else {
      lock_ops<Mutex>::lock(m);
    }
    note_post_lock<Mode>(at, 0u);
  }

  template <lock_mode Mode>
  static bool try_lock(Mutex& m, const void* at) ABSL_NO_THREAD_SAFETY_ANALYSIS {
#if ORDO_TSAN
    constexpr unsigned try_flag = tsan::try_lock;
    constexpr unsigned failed_flag = tsan::try_lock_failed;
#else
    constexpr unsigned try_flag = 0, failed_flag = 0;
#endif
    note_pre_lock<Mode>(at, try_flag);
    bool locked;
    if constexpr (Mode == lock_mode::shared) {
      locked = lock_ops<Mutex>::try_lock_shared(m);
    } else {
      locked = lock_ops<Mutex>::try_lock(m);
    }
    note_post_lock<Mode>(at, try_flag | (locked ? 0u : failed_flag));
    return locked;
  }

  template <lock_mode Mode>
  static void unlock(Mutex& m, const void* at) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    note_unlock<Mode>(at, [&] {
      if constexpr (Mode == lock_mode::shared) {
        lock_ops<Mutex>::unlock_shared(m);
      } else {
        lock_ops<Mutex>::unlock(m);
      }
    });
  }

  // The annotations alone, for a Lockable that releases and re-takes
  // itself (absl::Mutex::Await): TSan sees an unlock, then a lock.
  template <lock_mode Mode>
  static void note_released(const void* at) noexcept {
    note_unlock<Mode>(at, [] {});
  }
  template <lock_mode Mode>
  static void note_retaken(const void* at) noexcept {
    note_pre_lock<Mode>(at, 0u);
    note_post_lock<Mode>(at, 0u);
  }

  static void note_create(const void* at) noexcept {
#if ORDO_TSAN
    if constexpr (Annotate) __tsan_mutex_create(const_cast<void*>(at), 0);
#endif
    (void)at;
  }
  static void note_destroy(const void* at) noexcept {
#if ORDO_TSAN
    if constexpr (Annotate) __tsan_mutex_destroy(const_cast<void*>(at), 0);
#endif
    (void)at;
  }

 private:
#if ORDO_TSAN
  template <lock_mode Mode>
  static constexpr unsigned mode_flag = Mode == lock_mode::shared ? tsan::read_lock : 0u;
#endif
  template <lock_mode Mode>
  static void note_pre_lock(const void* at, unsigned flags) noexcept {
#if ORDO_TSAN
    if constexpr (Annotate) __tsan_mutex_pre_lock(const_cast<void*>(at), mode_flag<Mode> | flags);
#endif
    (void)at, (void)flags;
  }
  template <lock_mode Mode>
  static void note_post_lock(const void* at, unsigned flags) noexcept {
#if ORDO_TSAN
    if constexpr (Annotate) {
      __tsan_mutex_post_lock(const_cast<void*>(at), mode_flag<Mode> | flags, 0);
    }
#endif
    (void)at, (void)flags;
  }
  template <lock_mode Mode, class Unlock>
  static void note_unlock(const void* at, Unlock&& unlock) {
#if ORDO_TSAN
    if constexpr (Annotate) __tsan_mutex_pre_unlock(const_cast<void*>(at), mode_flag<Mode>);
#endif
    unlock();
#if ORDO_TSAN
    if constexpr (Annotate) __tsan_mutex_post_unlock(const_cast<void*>(at), mode_flag<Mode>);
#endif
    (void)at;
  }
};

// How an acquisition is made, for the validator.
enum class acquisition : std::uint32_t {
  single = 0,                               // lock(), lock_shared(), lock_if
  batch = lockdep::detail::entry_batch,     // the first lock of a lock_all batch
  batch_next = lockdep::detail::entry_batch | lockdep::detail::entry_batch_next,  // a later one
  attempt = lockdep::detail::entry_trylock  // a successful try_lock
};

// Whether a wait or call-out may keep outer locks held (I4).
enum class outer_locks : unsigned char { forbidden, allowed };

// The per-instance state: the instance key of a nestable level (kept with
// the validator off too, so that lock_all takes the same order in every
// build, I5), and with the validator on its lock class id.
template <class Level, class Validator, bool = level_nestable_v<Level>>
struct instance_state {
  constexpr instance_state() noexcept = default;
  constexpr explicit instance_state(nest_key) noexcept {}
  std::uint32_t key() const noexcept { return 0; }
  std::uint32_t class_id() const { return lockdep::detail::class_of<Level>(); }
};
template <class Level>
struct instance_state<Level, validator_off, true> {
  constexpr instance_state() noexcept = default;
  constexpr explicit instance_state(nest_key k) noexcept : key_(k.value) {}
  std::uint32_t key() const noexcept { return key_; }
  std::uint32_t key_ = 0;
};
template <class Level>
struct instance_state<Level, validator_on, true> {
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

// What a guard remembers for the validator: its lock's position in the
// held stack (lockdep.hpp I1), the position of the context it was taken
// through (where a re-take must start), and where it was taken. Empty
// when the validator is off.
template <class Validator>
struct guard_record {
  constexpr guard_record() noexcept = default;
  constexpr guard_record(long, long, std::source_location) noexcept {}
  long position() const noexcept { return lockdep::detail::no_position; }
  long parent() const noexcept { return lockdep::detail::no_position; }
  std::source_location where() const noexcept { return {}; }
};
template <>
struct guard_record<validator_on> {
  constexpr guard_record() noexcept = default;
  constexpr guard_record(long position, long parent, std::source_location where) noexcept
      : position_(position), parent_(parent), where_(where) {}
  long position() const noexcept { return position_; }
  long parent() const noexcept { return parent_; }
  std::source_location where() const noexcept { return where_; }
  long position_ = 0;
  long parent_ = 0;
  std::source_location where_;
};

struct guard_access;
struct wait_access;

}  // namespace detail

// ---------------------------------------------------------------------------
// Guards

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

template <class Level>
struct hand_over_level {
  static constexpr bool is_nestable = level_nestable_v<Level>;
  static constexpr bool check() {
    static_assert(is_nestable,
                  "ordo: hand_over: the level must be an ordo::nestable_level (the next "
                  "instance is taken while the current one is held, in ascending key order, "
                  "which the validator checks)");
    return is_nestable;
  }
};

}  // namespace detail

/// Holds one lock of `OrderedMutex` (exclusive, or shared when Shared) and
/// is the context for what is taken next. Made by lock/lock_shared/try_lock;
/// movable (moved-from releases nothing), not copyable. Released by its
/// destructor (I3), or earlier by unlock() (I7). Not thread-safe: belongs
/// to its thread.
template <class OrderedMutex, bool Shared, class Held>
class ABSL_SCOPED_LOCKABLE guard {
  static constexpr lock_mode mode = Shared ? lock_mode::shared : lock_mode::exclusive;
  static_assert(alignof(OrderedMutex) >= 2, "the released flag lives in the pointer's low bit");

 public:
  /// The levels held while this guard lives: the context's plus this lock's.
  using held_levels = Held;
  /// The ordered mutex type this guard locks.
  using mutex_type = OrderedMutex;
  /// True for a shared (reader) guard.
  static constexpr bool shared = Shared;

  /// Takes over other's lock; other releases nothing.
  guard(guard&& other) noexcept
      : word_(std::exchange(other.word_, 0)), record_(other.record_) {}
  guard& operator=(guard&&) = delete;
  guard(const guard&) = delete;

  /// Releases the lock if it still holds it (validator: must be the
  /// innermost, held by this thread).
  ~guard() ABSL_UNLOCK_FUNCTION() {
    if (word_ != 0 && (word_ & released_bit) == 0) {
      mutex_ptr()->template release<mode>(record_.where());
    }
  }

  /// The locked (or, after unlock(), formerly locked) mutex. Thread-safe.
  OrderedMutex& mutex() const noexcept { return *mutex_ptr(); }

  /// True while the guard holds its lock (not moved from, not unlocked).
  bool owns_lock() const noexcept { return word_ != 0 && (word_ & released_bit) == 0; }
  /// Same as owns_lock().
  explicit operator bool() const noexcept { return owns_lock(); }

  /// Releases the lock now, before the guard's scope ends (I7): the
  /// explicit early release that hand-over-hand locking needs ("take the
  /// next, release the current"), so it may release a lock that is not the
  /// innermost. The guard then holds nothing: the locks taken through it
  /// stay valid contexts, but using the guard itself as a context again is
  /// a runtime report (validator on), and so is a second unlock().
  /// BasicLockable's unlock. Not thread-safe (thread-owned).
  void unlock(std::source_location where = std::source_location::current())
      ABSL_UNLOCK_FUNCTION() {
    if (!owns_lock()) {
      if constexpr (OrderedMutex::validator::enabled) {
        if (word_ != 0) {
          lockdep::detail::on_double_unlock(mutex_ptr(),
                                            detail::type_name_v<typename OrderedMutex::level_type>,
                                            where);
        }
      }
      return;
    }
    mutex_ptr()->template release_early<mode>(where);
    word_ |= released_bit;
  }

  /// Re-takes the lock released by unlock(), through the context the guard
  /// was made from, which must then be this thread's innermost (validator).
  /// BasicLockable's lock, so std::condition_variable_any::wait(guard, pred)
  /// works; like ordo::wait it compiles only if the guard's type holds no
  /// outer level (I4): with outer levels use ordo::relockable. Not thread-safe (thread-owned).
  template <class Self = guard>
  void lock(std::source_location where = std::source_location::current())
      ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    static_assert(detail::check_drop<typename Self::held_levels>());
    relock(where);
  }

  /// Hand-over-hand in one step, for a nestable level: takes `next`
  /// through this guard (validator: in ascending key order after it), then
  /// releases the lock held so far; the guard now holds `next` and keeps its
  /// type, so a loop can walk a chain of instances. Not thread-safe.
  void hand_over(OrderedMutex& next,
                 std::source_location where = std::source_location::current())
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_assert(detail::hand_over_level<typename OrderedMutex::level_type>::check());
    const bool held_before = owns_lock();
    const auto taken = next.template acquire<mode>(detail::acquisition::single, lockdep_position(),
                                                   where);
    if (held_before) mutex_ptr()->template release_early<mode>(where);
    word_ = reinterpret_cast<std::uintptr_t>(&next);
    record_ = detail::guard_record<typename OrderedMutex::validator>(taken.position(),
                                                                     record_.parent(), where);
  }

  /// The validator position of this lock (lockdep.hpp I1): -1 when not
  /// validated, -2 once released by unlock().
  long lockdep_position() const noexcept {
    if constexpr (OrderedMutex::validator::enabled) {
      if ((word_ & released_bit) != 0) return lockdep::detail::released_position;
    }
    return record_.position();
  }

 private:
  friend OrderedMutex;
  friend struct detail::guard_access;
  template <class, class...>
  friend class relockable;
  static constexpr std::uintptr_t released_bit = 1;

  guard(OrderedMutex* mutex, detail::guard_record<typename OrderedMutex::validator> record) noexcept
      : word_(reinterpret_cast<std::uintptr_t>(mutex)), record_(record) {}

  OrderedMutex* mutex_ptr() const noexcept {
    return reinterpret_cast<OrderedMutex*>(word_ & ~released_bit);
  }

  void relock(std::source_location where) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (word_ == 0 || owns_lock()) {
      // Re-taking a lock this guard holds (or a moved-from guard's): the
      // validator names it; without it, nothing is done rather than
      // self-deadlocking.
      if constexpr (OrderedMutex::validator::enabled) {
        if (word_ != 0) {
          (void)mutex_ptr()->template acquire_checked_only<mode>(record_.parent(), where);
        }
      }
      return;
    }
    OrderedMutex* m = mutex_ptr();
    record_ = m->template acquire<mode>(detail::acquisition::single, record_.parent(), where);
    word_ = reinterpret_cast<std::uintptr_t>(m);
  }

  std::uintptr_t word_;  // the mutex's address; | released_bit after unlock()
  [[no_unique_address]] detail::guard_record<typename OrderedMutex::validator> record_;
};

/// A BasicLockable view of a guard whose type holds outer levels, for
/// std::condition_variable_any: its unlock()/lock() release and re-take the
/// guard's (innermost) lock while the listed outer levels stay held, on
/// purpose (I4: every outer level listed, checked at compile time):
///   ordo::relockable lk(g, ordo::allow_held<outer_level>);
///   cv.wait(lk, pred);
/// Not thread-safe (thread-owned), like the guard.
template <class G, class... Allowed>
class relockable {
 public:
  /// Wraps g; compiles only if Allowed... lists every level held outside g (I4).
  relockable(G& g, allow_held_t<Allowed...>) noexcept : guard_(&g) {
    static_assert(detail::check_drop<typename G::held_levels, Allowed...>());
  }
  /// Releases the guard's lock (guard::unlock).
  void unlock(std::source_location where = std::source_location::current())
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    guard_->unlock(where);
  }
  /// Re-takes it (guard::lock, the outer levels allowed).
  void lock(std::source_location where = std::source_location::current())
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    guard_->relock(where);
  }
  /// The guard it releases and re-takes.
  G& guard() const noexcept { return *guard_; }

 private:
  G* guard_;
};
template <class G, class... Allowed>
relockable(G&, allow_held_t<Allowed...>) -> relockable<G, Allowed...>;

/// The context ordo::lock_if returns: holds the lock when the pointer was
/// non-null, nothing otherwise; the type is the same either way, and lists
/// the level as held<L, ..., maybe> so that the next lock is ordered after
/// it. Satisfies holds<Ctx, ordo::maybe<L>>, not holds<Ctx, L>.
template <class OrderedMutex, class Held>
class maybe_guard {
 public:
  /// The levels held while this guard lives, the maybe-taken level included.
  using held_levels = Held;
  /// The ordered mutex type this guard may lock.
  using mutex_type = OrderedMutex;

  /// Takes over other's lock, if any; other releases nothing.
  maybe_guard(maybe_guard&& other) noexcept
      : mutex_(std::exchange(other.mutex_, nullptr)), record_(other.record_),
        parent_position_(other.parent_position_) {}
  maybe_guard& operator=(maybe_guard&&) = delete;
  ~maybe_guard() {
    if (mutex_ != nullptr) mutex_->template release<lock_mode::exclusive>(record_.where());
  }

  /// True when the lock was taken. Not thread-safe (thread-owned).
  bool owns_lock() const noexcept { return mutex_ != nullptr; }
  /// Same as owns_lock().
  explicit operator bool() const noexcept { return owns_lock(); }
  /// The locked mutex, or nullptr.
  OrderedMutex* mutex() const noexcept { return mutex_; }

  /// The validator position (lockdep.hpp I1): the lock's, else the context's.
  long lockdep_position() const noexcept {
    return mutex_ != nullptr ? record_.position() : parent_position_;
  }

 private:
  friend struct detail::guard_access;
  maybe_guard(OrderedMutex* mutex, detail::guard_record<typename OrderedMutex::validator> record,
              long parent_position) noexcept
      : mutex_(mutex), record_(record), parent_position_(parent_position) {}

  OrderedMutex* mutex_;
  [[no_unique_address]] detail::guard_record<typename OrderedMutex::validator> record_;
  long parent_position_;
};

/// The context OrderedMutex::assert_held returns: the context it was given,
/// with the asserted level no longer "maybe" (so it satisfies
/// holds<Ctx, Level> and, for an exclusive lock, holds<Ctx, exclusive<Level>>),
/// because the assertion checked at run time which instance is held (see
/// "What a context's type proves" in the header comment). It stands for
/// that context (same validator position) and lives no longer than it; not
/// copyable. Not thread-safe (thread-owned).
template <class Ctx, class Level>
class asserted_context {
 public:
  /// Ctx's levels, Level definitely held.
  using held_levels = typename detail::make_definite<Level, typename Ctx::held_levels>::type;

  asserted_context(const asserted_context&) = delete;
  asserted_context& operator=(const asserted_context&) = delete;

  /// The validator position of the context it stands for.
  long lockdep_position() const noexcept { return ctx_->lockdep_position(); }

 private:
  friend struct detail::guard_access;
  explicit asserted_context(const Ctx& ctx) noexcept : ctx_(&ctx) {}
  const Ctx* ctx_;
};

/// The context ordo::lock_all returns: N locks of one level, taken in
/// order (I5), released in reverse.
template <class OrderedMutex, std::size_t N, class Held>
class batch_guard {
 public:
  /// The levels held while this guard lives: the context's plus the batch's.
  using held_levels = Held;
  /// The ordered mutex type of the batch.
  using mutex_type = OrderedMutex;

  /// Takes over other's locks; other releases nothing.
  batch_guard(batch_guard&& other) noexcept
      : locks_(other.locks_), count_(std::exchange(other.count_, 0)),
        position_(other.position_), where_(other.where_) {}
  batch_guard& operator=(batch_guard&&) = delete;
  ~batch_guard() {
    for (std::size_t i = count_; i-- > 0;) {
      locks_[i]->template release<lock_mode::exclusive>(where_);
    }
  }

  /// Number of distinct locks held (duplicates are taken once).
  std::size_t size() const noexcept { return count_; }

  /// The validator position (lockdep.hpp I1) of the last lock taken, or -1.
  long lockdep_position() const noexcept { return position_; }

 protected:
  batch_guard() noexcept = default;

 private:
  friend struct detail::guard_access;
  std::array<OrderedMutex*, N> locks_{};
  std::size_t count_ = 0;
  long position_ = lockdep::detail::no_position;
  std::source_location where_;
};

namespace detail {
struct guard_access {
  template <class G>
  static auto record_of(const G& g) noexcept { return g.record_; }
  template <class G>
  static void relock(G& g, std::source_location where) { g.relock(where); }
  template <class G>
  static void set_record(G& g, decltype(g.record_) r) noexcept { g.record_ = r; }
  template <class OM, class Held>
  static maybe_guard<OM, Held> make_maybe(OM* m, guard_record<typename OM::validator> r, long pp) {
    return maybe_guard<OM, Held>(m, r, pp);
  }
  template <class Level, class Ctx>
  static asserted_context<Ctx, Level> make_asserted(const Ctx& ctx) noexcept {
    return asserted_context<Ctx, Level>(ctx);
  }
  template <class OM>
  static auto acquire(OM& m, acquisition kind, long ctx_position, std::source_location where) {
    return m.template acquire<lock_mode::exclusive>(kind, ctx_position, where);
  }
  template <class B, class OM, std::size_t N>
  static void fill_batch(B& b, const std::array<OM*, N>& locks, std::size_t count, long position,
                         std::source_location where) {
    b.locks_ = locks;
    b.count_ = count;
    b.position_ = position;
    b.where_ = where;
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
  using record_type = detail::guard_record<Validator>;

 public:
  /// The lock level of this mutex.
  using level_type = Level;
  /// The underlying lockable type.
  using lockable_type = Mutex;
  /// The validator policy.
  using validator = Validator;

  /// An unlocked mutex. For nestable levels the instance key is 0.
  basic_ordered_mutex() noexcept(std::is_nothrow_default_constructible_v<Mutex>) {
    raw::note_create(this);
  }
  /// An unlocked mutex of a nestable level with instance key `key`:
  /// instances are nested in ascending key order (validator), and lock_all
  /// takes them in that order.
  explicit basic_ordered_mutex(nest_key key) noexcept(
      std::is_nothrow_default_constructible_v<Mutex>)
    requires(level_nestable_v<Level>)
      : state_(key) {
    raw::note_create(this);
  }
  basic_ordered_mutex(const basic_ordered_mutex&) = delete;
  basic_ordered_mutex& operator=(const basic_ordered_mutex&) = delete;
  /// Destroys an unlocked mutex. Destroying one this thread holds is a
  /// runtime report, "held lock freed" (validator on).
  ~basic_ordered_mutex() {
    if constexpr (Validator::enabled) lockdep::detail::on_destroy(this);
    raw::note_destroy(this);
  }

  /// Takes the lock exclusively after everything ctx holds; blocks.
  /// Compiles only if Level is after every level ctx holds (I2). Thread-safe;
  /// O1. The returned guard is the context for the next lock.
  template <lock_context Ctx>
  [[nodiscard]] guard_for<Ctx, false> lock(Ctx& ctx, std::source_location where =
                                                         std::source_location::current())
      ABSL_EXCLUSIVE_LOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_assert(detail::order_ok<Level, typename Ctx::held_levels>::value);
    return guard_for<Ctx, false>(
        this, acquire<lock_mode::exclusive>(detail::acquisition::single, ctx.lockdep_position(),
                                            where));
  }

  /// Takes the lock in shared (reader) mode; ordered_shared_mutex only.
  /// Same order rules as lock(). Thread-safe; O1.
  template <lock_context Ctx>
    requires Shared
  [[nodiscard]] guard_for<Ctx, true> lock_shared(Ctx& ctx, std::source_location where =
                                                               std::source_location::current())
      ABSL_SHARED_LOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_assert(detail::order_ok<Level, typename Ctx::held_levels>::value);
    return guard_for<Ctx, true>(
        this,
        acquire<lock_mode::shared>(detail::acquisition::single, ctx.lockdep_position(), where));
  }

  /// Tries to take the lock exclusively without blocking. It cannot
  /// deadlock, so it is not order-checked (nor reported as a second lock of
  /// its level); what is taken through the guard is. Thread-safe; O1 when
  /// it succeeds.
  template <lock_context Ctx>
  [[nodiscard]] std::optional<guard_for<Ctx, false>> try_lock(
      Ctx& ctx, std::source_location where = std::source_location::current())
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const auto taken = try_acquire<lock_mode::exclusive>(ctx.lockdep_position(), where);
    if (!taken) return std::nullopt;
    return guard_for<Ctx, false>(this, *taken);
  }

  /// try_lock in shared mode; ordered_shared_mutex only.
  template <lock_context Ctx>
    requires Shared
  [[nodiscard]] std::optional<guard_for<Ctx, true>> try_lock_shared(
      Ctx& ctx, std::source_location where = std::source_location::current())
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const auto taken = try_acquire<lock_mode::shared>(ctx.lockdep_position(), where);
    if (!taken) return std::nullopt;
    return guard_for<Ctx, true>(this, *taken);
  }

  /// lockdep_assert_held(this): asserts that ctx holds this very lock, not
  /// only a lock of its level, and returns a context that proves the level
  /// definitely held (asserted_context). Compiles only if ctx's type shows
  /// Level held or maybe held (a lock_if): "ordo: assert_held: ...". At run
  /// time, when ctx is this mutex type's own guard (lock, lock_shared,
  /// try_lock, lock_if), its lock must be this one, in every build; through
  /// any other context (a lock taken after it), the validator checks this
  /// thread's held locks (validator on; off, nothing is checked). A lock
  /// not held is the report "lockdep_assert_held failed" (not_held).
  /// Thread-safe (reads only this thread's state).
  /// For Clang's thread-safety analysis it asserts the capability (this
  /// mutex, exclusive; an ordered_shared_mutex: shared), so data marked
  /// ABSL_GUARDED_BY(m) is accessible after m.assert_held(ctx) in the same
  /// scope: the analysis cannot follow a lock through a context passed
  /// down, the assertion is its bridge.
  template <lock_context Ctx>
    requires(!Shared)
  [[nodiscard]] asserted_context<Ctx, Level> assert_held(
      const Ctx& ctx, std::source_location where = std::source_location::current()) const
      ABSL_ASSERT_EXCLUSIVE_LOCK() {
    return asserted(ctx, where);
  }
  /// assert_held of an ordered_shared_mutex: held in either mode.
  template <lock_context Ctx>
    requires Shared
  [[nodiscard]] asserted_context<Ctx, Level> assert_held(
      const Ctx& ctx, std::source_location where = std::source_location::current()) const
      ABSL_ASSERT_SHARED_LOCK() {
    return asserted(ctx, where);
  }

  /// The instance key (nestable levels; else 0).
  std::uint32_t key() const noexcept { return state_.key(); }

 private:
  // A guard of this mutex type (guard or maybe_guard): it knows its lock.
  template <class Ctx>
  static constexpr bool is_own_guard = requires(const Ctx& c) {
    typename Ctx::mutex_type;
    requires std::is_same_v<typename Ctx::mutex_type, basic_ordered_mutex>;
    c.owns_lock();
    c.mutex();
  };

  template <class Ctx>
  asserted_context<Ctx, Level> asserted(const Ctx& ctx, std::source_location where) const {
    static_assert(detail::required_level<maybe<Level>, Ctx>::check());
    check_held(ctx, where);
    return detail::guard_access::make_asserted<Level>(ctx);
  }

  // The instance half of assert_held (see there).
  template <class Ctx>
  void check_held(const Ctx& ctx, std::source_location where) const {
    if constexpr (is_own_guard<Ctx>) {
      const basic_ordered_mutex* held = nullptr;
      if (ctx.owns_lock()) {
        if constexpr (std::is_pointer_v<decltype(ctx.mutex())>) held = ctx.mutex();
        else held = &ctx.mutex();
      }
      if (held != this) {
        lockdep::detail::report_assert_held(this, detail::type_name_v<Level>, held, where);
      }
    } else if constexpr (Validator::enabled) {
      lockdep::detail::on_assert_held(this, detail::type_name_v<Level>, where);
    } else {
      (void)ctx, (void)where;
    }
  }

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
  using raw = detail::raw_lock<Mutex, annotate>;

  // Tells the validator about an acquisition (validator on only); returns
  // the new entry's position.
  template <lock_mode Mode>
  long validate_acquire(detail::acquisition kind, long ctx_position,
                        std::source_location where) const {
    return lockdep::detail::on_acquire(
        this, &lockdep::detail::level_tag<Level>, detail::type_name_v<Level>, where,
        state_.class_id(), state_.key(),
        static_cast<std::uint32_t>(kind) |
            (Mode == lock_mode::shared ? lockdep::detail::entry_shared : 0u) |
            (level_nestable_v<Level> ? lockdep::detail::entry_nestable : 0u),
        ctx_position);
  }

  // Validates (validator on), then blocks until the lock is held.
  template <lock_mode Mode>
  record_type acquire(detail::acquisition kind, long ctx_position, std::source_location where)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    long position = lockdep::detail::no_position;
    if constexpr (Validator::enabled) position = validate_acquire<Mode>(kind, ctx_position, where);
    raw::template lock<Mode>(mutex_, this);
    return record_type(position, ctx_position, where);
  }

  // Only the validator's checks of an acquisition that will not be made
  // (a guard asked to re-take a lock it holds): reports, records nothing.
  template <lock_mode Mode>
  long acquire_checked_only(long ctx_position, std::source_location where) {
    const long position = validate_acquire<Mode>(detail::acquisition::single, ctx_position, where);
    lockdep::detail::on_early_release(this, detail::type_name_v<Level>, where);
    return position;
  }

  // Takes the lock if it is free; validated (validator on) once taken.
  template <lock_mode Mode>
  std::optional<record_type> try_acquire(long ctx_position, std::source_location where)
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (!raw::template try_lock<Mode>(mutex_, this)) return std::nullopt;
    long position = lockdep::detail::no_position;
    if constexpr (Validator::enabled) {
      position = validate_acquire<Mode>(detail::acquisition::attempt, ctx_position, where);
    }
    return record_type(position, ctx_position, where);
  }

  // Releases the lock (a guard's end: validator, innermost first).
  template <lock_mode Mode>
  void release(std::source_location where) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (Validator::enabled) {
      lockdep::detail::on_release(this, detail::type_name_v<Level>, where);
    }
    raw::template unlock<Mode>(mutex_, this);
  }

  // Releases the lock early, on purpose (guard::unlock: any held lock).
  template <lock_mode Mode>
  void release_early(std::source_location where) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if constexpr (Validator::enabled) {
      lockdep::detail::on_early_release(this, detail::type_name_v<Level>, where);
    }
    raw::template unlock<Mode>(mutex_, this);
  }

  // alignas: at least 2, so a guard keeps its released flag in the low bit
  // of its one pointer.
  alignas(2) alignas(Mutex) Mutex mutex_;
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
    if (mutex == nullptr) {
      return detail::guard_access::make_maybe<OM, held_list>(nullptr, {}, ctx.lockdep_position());
    }
    const auto taken = detail::guard_access::acquire(*mutex, detail::acquisition::single,
                                                     ctx.lockdep_position(), where);
    return detail::guard_access::make_maybe<OM, held_list>(mutex, taken, ctx.lockdep_position());
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

// The batch_guard a lock_all derives from, or (when the arguments are not
// ordered mutexes, which lock_all's static_assert names) a placeholder.
template <class Ctx, class First, std::size_t N,
          bool = lock_all_argument<First>::is_exclusive_ordered_mutex>
struct lock_all_base {
  struct type {
    using held_levels = typename Ctx::held_levels;
    long lockdep_position() const noexcept { return lockdep::detail::no_position; }
  };
};
template <class Ctx, class First, std::size_t N>
struct lock_all_base<Ctx, First, N, true> {
  // A batch holds one level, listed once.
  using type = batch_guard<
      First, N,
      append_t<typename Ctx::held_levels, held<typename First::level_type, false, false>>>;
};

// I5: the order lock_all takes a batch in. For a nestable level the
// instance key first (the order one-by-one nesting must follow, so there
// is one order per level), then the address.
template <class OM>
bool batch_before(const OM* a, const OM* b) noexcept {
  if constexpr (level_nestable_v<typename OM::level_type>) {
    if (a->key() != b->key()) return a->key() < b->key();
  }
  return std::less<const OM*>()(a, b);
}
}  // namespace detail

/// Takes several locks of one level, each distinct lock once, in one fixed
/// order (I5): ascending address, or for a nestable level ascending
/// instance key, then address. Compiles only if that level may be taken
/// after everything ctx holds. `auto all = ordo::lock_all(ctx, a, b);` is a
/// batch_guard context; the validator records the caller's line. Thread-safe;
/// O1.
template <lock_context Ctx, class First, class... Rest>
class [[nodiscard]] lock_all
    : public detail::lock_all_base<Ctx, First, 1 + sizeof...(Rest)>::type {
  static_assert(detail::lock_all_argument<First>::check());
  static_assert((true && ... && detail::lock_all_of<First>::template with<Rest>::check()));
  static constexpr std::size_t n = 1 + sizeof...(Rest);
  using base = typename detail::lock_all_base<Ctx, First, n>::type;

 public:
  /// Takes first and rest after what ctx holds, in the batch order (I5).
  explicit lock_all(Ctx& ctx, First& first, Rest&... rest,
                    std::source_location where = std::source_location::current()) {
    if constexpr (detail::lock_all_argument<First>::is_exclusive_ordered_mutex) {
      using Level = typename First::level_type;
      static_assert(detail::order_ok<Level, typename Ctx::held_levels>::value);
      std::array<First*, n> locks{&first, &rest...};
      std::sort(locks.begin(), locks.end(), &detail::batch_before<First>);
      const auto end = std::unique(locks.begin(), locks.end());
      const std::size_t count = static_cast<std::size_t>(end - locks.begin());
      long position = ctx.lockdep_position();
      for (std::size_t i = 0; i < count; ++i) {
        const auto taken =
            detail::guard_access::acquire(*locks[i],
                                          i == 0 ? detail::acquisition::batch
                                                 : detail::acquisition::batch_next,
                                          position, where);
        if (position != lockdep::detail::no_position) position = taken.position();
      }
      detail::guard_access::fill_batch(static_cast<base&>(*this), locks, count, position, where);
    }
  }
  /// Takes over the locks; the moved-from lock_all releases nothing.
  lock_all(lock_all&&) noexcept = default;
};
template <class Ctx, class First, class... Rest>
lock_all(Ctx&, First&, Rest&...) -> lock_all<Ctx, First, Rest...>;

// ---------------------------------------------------------------------------
// Waits and calls with the innermost lock dropped

namespace detail {

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

// Who releases and re-takes the raw lock around a wait: ordo (unlocked_call,
// condition_variable) or the Lockable itself (absl::Mutex::Await).
enum class drop_by : unsigned char { ordo, lockable };

struct wait_access {
  template <class G>
  static auto& mutex(G& g) noexcept {
    return g.mutex();
  }

  // Drops g's lock (validator + TSan as an unlock), runs `body` with the
  // raw lockable, and re-takes it (as a lock), recording the re-take in g.
  template <drop_by By, class G, class Body>
  static decltype(auto) dropped(G& g, outer_locks outer, std::source_location where, Body&& body) {
    auto& m = mutex(g);
    using OM = std::remove_reference_t<decltype(m)>;
    using raw = typename OM::raw;
    constexpr lock_mode mode = G::shared ? lock_mode::shared : lock_mode::exclusive;
    const auto record = guard_access::record_of(g);
    if constexpr (OM::validator::enabled) {
      lockdep::detail::on_wait(&m, type_name_v<typename OM::level_type>, record.position(),
                               outer == outer_locks::allowed, where);
      lockdep::detail::on_release(&m, type_name_v<typename OM::level_type>, where);
    }
    if constexpr (By == drop_by::ordo) {
      raw::template unlock<mode>(m.mutex_, &m);
    } else {
      raw::template note_released<mode>(&m);
    }
    struct relock {
      G& g;
      OM& m;
      decltype(record) rec;
      std::source_location where;
      ~relock() {
        long position = lockdep::detail::no_position;
        if constexpr (OM::validator::enabled) {
          position = m.template validate_acquire<mode>(acquisition::single, rec.parent(), where);
        }
        if constexpr (By == drop_by::ordo) {
          raw::template lock<mode>(m.mutex_, &m);
        } else {
          raw::template note_retaken<mode>(&m);
        }
        guard_access::set_record(g, decltype(rec)(position, rec.parent(), rec.where()));
      }
    } after{g, m, record, where};
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
bool wait_with(G& g, Cond&& cond, outer_locks outer, std::source_location where,
               std::optional<absl::Duration> timeout = std::nullopt) {
  using OM = typename G::mutex_type;
  static_assert(std::is_same_v<typename OM::lockable_type, absl::Mutex>,
                "ordo: wait: waiting on a condition needs an absl::Mutex underneath "
                "(absl::Mutex::Await); over any other Lockable use ordo::condition_variable");
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
  return wait_access::dropped<drop_by::lockable>(g, outer, where, [&](absl::Mutex& raw) {
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
  detail::wait_with(g, std::forward<Cond>(cond), detail::outer_locks::forbidden, where);
}

/// wait() while the listed outer levels stay held, on purpose: every outer
/// level must be listed (I4). The validator still checks g is innermost.
template <class G, class Cond, class... Allowed>
  requires detail::waitable_guard<G>::value
void wait(G& g, Cond&& cond, allow_held_t<Allowed...>,
          std::source_location where = std::source_location::current()) {
  static_assert(detail::check_drop<typename G::held_levels, Allowed...>());
  detail::wait_with(g, std::forward<Cond>(cond), detail::outer_locks::allowed, where);
}


/// wait() that gives up after `timeout`: returns true when cond() held,
/// false on timeout (the lock is held again either way). Same rules (I4).
template <class G, class Cond, class Rep, class Period>
  requires detail::waitable_guard<G>::value
bool wait_for(G& g, Cond&& cond, std::chrono::duration<Rep, Period> timeout,
              std::source_location where = std::source_location::current()) {
  static_assert(detail::check_drop<typename G::held_levels>());
  return detail::wait_with(g, std::forward<Cond>(cond), detail::outer_locks::forbidden, where,
                           absl::FromChrono(timeout));
}

/// wait_for() while the listed outer levels stay held, on purpose (I4).
template <class G, class Cond, class Rep, class Period, class... Allowed>
  requires detail::waitable_guard<G>::value
bool wait_for(G& g, Cond&& cond, std::chrono::duration<Rep, Period> timeout,
              allow_held_t<Allowed...>,
              std::source_location where = std::source_location::current()) {
  static_assert(detail::check_drop<typename G::held_levels, Allowed...>());
  return detail::wait_with(g, std::forward<Cond>(cond), detail::outer_locks::allowed, where,
                           absl::FromChrono(timeout));
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
  return detail::wait_access::dropped<detail::drop_by::ordo>(
      g, detail::outer_locks::forbidden, where, [&](auto&) -> decltype(auto) {
        if constexpr (std::is_invocable_v<Fn&&,
                                          basic_unlocked<typename G::mutex_type::validator>&>) {
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
  return detail::wait_access::dropped<detail::drop_by::ordo>(
      g, detail::outer_locks::allowed, where,
      [&](auto&) -> decltype(auto) { return std::forward<Fn>(fn)(); });
}

// ---------------------------------------------------------------------------
// condition_variable, callback_lockable

namespace detail {
// What ordo::condition_variable waits on: a guard (no outer level may be
// held, I4) or an ordo::relockable (its outer levels allowed by name).
template <class L>
struct cv_lock;
template <class OM, bool S, class Held>
struct cv_lock<guard<OM, S, Held>> {
  using guard_type = guard<OM, S, Held>;
  static constexpr bool outer_allowed = false;
  static constexpr bool check() { return check_drop<Held>(); }
  static guard_type& guard_of(guard_type& g) noexcept { return g; }
};
template <class G, class... Allowed>
struct cv_lock<relockable<G, Allowed...>> {
  using guard_type = G;
  static constexpr bool outer_allowed = true;
  static constexpr bool check() { return true; }  // checked by relockable
  static G& guard_of(relockable<G, Allowed...>& r) noexcept { return r.guard(); }
};

template <class L>
concept cv_waitable = requires { typename cv_lock<std::remove_cvref_t<L>>::guard_type; };
}  // namespace detail

/// A condition variable for ordered mutexes over any Lockable (absl::Mutex,
/// std::mutex, a spin lock): wait, wait_for and wait_until on a guard drop
/// the guard's (innermost) lock while blocked and re-take it before they
/// return (O2), through the guard's unlock()/lock(), so the validator and
/// ThreadSanitizer see the unlock and the re-lock. Like ordo::wait, waiting
/// on a guard whose type holds outer levels compiles only through
/// ordo::relockable(guard, ordo::allow_held<every outer level...>) (I4);
/// validator: the guard must be the innermost lock, and the only one unless
/// outer levels are allowed. notify_one/notify_all need no lock.
/// Thread-safe (the waits: each on its own thread's guard).
class condition_variable {
 public:
  condition_variable() = default;
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  /// Wakes one waiter. Thread-safe.
  void notify_one() noexcept { cv_.notify_one(); }
  /// Wakes every waiter. Thread-safe.
  void notify_all() noexcept { cv_.notify_all(); }

  /// Blocks until notified (or spuriously woken), the lock dropped.
  template <detail::cv_waitable L>
  void wait(L& lock, std::source_location where = std::source_location::current()) {
    auto& g = enter(lock, where);
    relock_as_lockable<std::remove_reference_t<decltype(g)>> view{g, where};
    cv_.wait(view);
  }
  /// Blocks until pred() is true (evaluated with the lock held).
  template <detail::cv_waitable L, class Pred>
  void wait(L& lock, Pred pred, std::source_location where = std::source_location::current()) {
    auto& g = enter(lock, where);
    relock_as_lockable<std::remove_reference_t<decltype(g)>> view{g, where};
    cv_.wait(view, std::move(pred));
  }
  /// As wait(), for at most `timeout`: std::cv_status::timeout when it
  /// expired. The lock is held again either way.
  template <detail::cv_waitable L, class Rep, class Period>
  std::cv_status wait_for(L& lock, const std::chrono::duration<Rep, Period>& timeout,
                          std::source_location where = std::source_location::current()) {
    auto& g = enter(lock, where);
    relock_as_lockable<std::remove_reference_t<decltype(g)>> view{g, where};
    return cv_.wait_for(view, timeout);
  }
  /// As wait(lock, pred), for at most `timeout`: pred()'s last value.
  template <detail::cv_waitable L, class Rep, class Period, class Pred>
  bool wait_for(L& lock, const std::chrono::duration<Rep, Period>& timeout, Pred pred,
                std::source_location where = std::source_location::current()) {
    auto& g = enter(lock, where);
    relock_as_lockable<std::remove_reference_t<decltype(g)>> view{g, where};
    return cv_.wait_for(view, timeout, std::move(pred));
  }
  /// As wait(), until `deadline`.
  template <detail::cv_waitable L, class Clock, class Duration>
  std::cv_status wait_until(L& lock, const std::chrono::time_point<Clock, Duration>& deadline,
                            std::source_location where = std::source_location::current()) {
    auto& g = enter(lock, where);
    relock_as_lockable<std::remove_reference_t<decltype(g)>> view{g, where};
    return cv_.wait_until(view, deadline);
  }
  /// As wait(lock, pred), until `deadline`: pred()'s last value.
  template <detail::cv_waitable L, class Clock, class Duration, class Pred>
  bool wait_until(L& lock, const std::chrono::time_point<Clock, Duration>& deadline, Pred pred,
                  std::source_location where = std::source_location::current()) {
    auto& g = enter(lock, where);
    relock_as_lockable<std::remove_reference_t<decltype(g)>> view{g, where};
    return cv_.wait_until(view, deadline, std::move(pred));
  }

 private:
  // The guard's own unlock()/lock(), with the where of the wait.
  template <class G>
  struct relock_as_lockable {
    G& g;
    std::source_location where;
    void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { g.unlock(where); }
    void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { detail::guard_access::relock(g, where); }
  };

  // I4 at compile time; the validator's wait check at run time (nothing is
  // dropped yet when it reports).
  template <class L>
  static auto& enter(L& lock, std::source_location where) {
    using traits = detail::cv_lock<std::remove_cvref_t<L>>;
    static_assert(traits::check());
    auto& g = traits::guard_of(lock);
    using OM = typename std::remove_reference_t<decltype(g)>::mutex_type;
    if constexpr (OM::validator::enabled) {
      lockdep::detail::on_wait(&g.mutex(), detail::type_name_v<typename OM::level_type>,
                               g.lockdep_position(), traits::outer_allowed, where);
    }
    return g;
  }

  std::condition_variable_any cv_;
};

/// A std Lockable view of an ordered mutex, for code that uses the callback
/// escape (I6) and wants the std vocabulary there: `ordo::callback_lockable
/// view(m); std::unique_lock lk(view);` (or std::scoped_lock, and for an
/// ordered_shared_mutex std::shared_lock). Each lock()/try_lock() takes m
/// through a fresh ordo::callback_context: no compile-time order check, and
/// with the validator on the run-time checks of the escape (what the thread
/// holds, the dependency graph). One view holds at most one lock at a time;
/// it belongs to the thread that locks it (not thread-safe), and must be
/// unlocked before it is destroyed (its destructor releases a lock it still
/// holds).
template <class OrderedMutex>
class callback_lockable {
  using context = basic_callback_context<typename OrderedMutex::validator>;
  using exclusive_guard = guard<OrderedMutex, false,
                                detail::type_list<detail::held<typename OrderedMutex::level_type,
                                                               false, false>>>;
  using shared_guard = guard<OrderedMutex, true,
                             detail::type_list<detail::held<typename OrderedMutex::level_type,
                                                            true, false>>>;

 public:
  /// A view of m; locks nothing yet.
  explicit callback_lockable(OrderedMutex& m) noexcept : mutex_(&m) {}
  callback_lockable(const callback_lockable&) = delete;
  callback_lockable& operator=(const callback_lockable&) = delete;

  /// Takes the lock exclusively (blocks); checked at run time (I6).
  void lock(std::source_location where = std::source_location::current()) {
    context ctx;
    exclusive_.emplace(mutex_->lock(ctx, where));
  }
  /// Takes it if free; a try is never an ordering fault.
  bool try_lock(std::source_location where = std::source_location::current()) {
    context ctx;
    auto g = mutex_->try_lock(ctx, where);
    if (!g) return false;
    exclusive_.emplace(std::move(*g));
    return true;
  }
  /// Releases the exclusive lock.
  void unlock() { exclusive_.reset(); }

  /// Takes it in shared mode (ordered_shared_mutex only).
  void lock_shared(std::source_location where = std::source_location::current())
    requires requires(OrderedMutex& m, context& c) { m.lock_shared(c); }
  {
    context ctx;
    shared_.emplace(mutex_->lock_shared(ctx, where));
  }
  /// Takes it in shared mode if it can (ordered_shared_mutex only).
  bool try_lock_shared(std::source_location where = std::source_location::current())
    requires requires(OrderedMutex& m, context& c) { m.try_lock_shared(c); }
  {
    context ctx;
    auto g = mutex_->try_lock_shared(ctx, where);
    if (!g) return false;
    shared_.emplace(std::move(*g));
    return true;
  }
  /// Releases the shared lock.
  void unlock_shared() { shared_.reset(); }

 private:
  OrderedMutex* mutex_;
  struct no_shared_guard {
    void reset() noexcept {}
  };
  std::optional<exclusive_guard> exclusive_;
  [[no_unique_address]] std::conditional_t<detail::is_shared_ordered_mutex_v<OrderedMutex>,
                                           std::optional<shared_guard>, no_shared_guard>
      shared_;
};

// ---------------------------------------------------------------------------
// guarded<T, Mutex>

/// A locked view of a guarded<T>: the guard (so it is a context for the
/// next lock) plus access to the value. Not thread-safe (thread-owned).
template <class T, class Guard>
class locked_ptr {
 public:
  /// The levels held while this view lives (the guard's).
  using held_levels = typename Guard::held_levels;
  /// The ordered mutex type of the guard.
  using mutex_type = typename Guard::mutex_type;
  /// True when the guard is a shared (reader) lock.
  static constexpr bool shared = Guard::shared;

  /// The guarded value.
  T* operator->() const noexcept { return value_; }
  /// The guarded value.
  T& operator*() const noexcept { return *value_; }
  /// The guard's validator position (lockdep.hpp I1).
  long lockdep_position() const noexcept { return guard_.lockdep_position(); }
  /// The guard, e.g. for ordo::wait.
  Guard& lock_guard() noexcept { return guard_; }

  /// Takes over g, the guard of the mutex that protects *value.
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
  /// The guarded value's type.
  using value_type = T;
  /// The ordered mutex type that guards the value.
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
  /// Direct access is a compile error: lock first.
  template <class D = void>
  T& operator*() {
    static_assert(detail::guarded_access<D>::check());
    return *static_cast<T*>(nullptr);
  }
  /// Direct access is a compile error: lock first.
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
