// ordo/hook.hpp — a hook pointer that one side publishes and clears while
// other threads call through it, with a choice of reader protection.
//
// What it is
//   KVM's kvm->arch.crypto.pqap_hook: the vfio_ap driver publishes a hook
//   (its handle_pqap function and the mdev it serves) when a guest opens the
//   device and clears it on close, while vCPU threads call through the
//   pointer on every intercepted PQAP instruction. Linux protected those
//   calls three ways over the years; ordo::hook_ptr offers all of them, and
//   RCU, which is both safe and nearly free for callers:
//
//     ordo::hook<R(Args...)>                 a function, its context (e.g.
//                                            the owning mdev) and its owner
//                                            module; the owner embeds it
//     ordo::hook_ptr<R(Args...), Protection> the published pointer
//
//   Protection          during call(), ordo guarantees            clear()/exchange() return
//   ------------------  ----------------------------------------  --------------------------
//   ordo::unprotected   nothing: the caller guarantees the hook   at once
//                       outlives every call (the kernel's
//                       READ_ONCE/WRITE_ONCE; here load_acquire/
//                       store_release, as C++ has no consume)
//   ordo::owner_ref     the owner module cannot finish unloading  at once
//                       (try_module_get around the call; the call
//                       fails when the owner is going). It pins
//                       CODE, NOT THE HOOK OBJECT: the hook and its
//                       context must live as long as the module.
//   ordo::rw_protect    the hook is not exchanged or cleared      after every call in flight
//                       during the call (a writer-preferring      has finished (they hold
//                       reader/writer lock, the pqap_hook_rwsem)  the lock shared)
//   ordo::rcu_protect   the hook seen by the call stays valid      after every call that could
//                       until the call returns (an RCU read       have seen the old hook has
//                       section around it)                        finished (a grace period)
//   ordo::hazard_protect the hook seen by the call stays valid     once no call holds the old
//                       until the call returns (a hazard pointer  hook; calls of other hooks,
//                       holds it: hazard_pointer.hpp)             even descheduled ones, are
//                                                                 not waited for
//
//   With rw_protect, rcu_protect and hazard_protect the caller of
//   clear()/exchange() may therefore free (or reuse) the hook and its context
//   once they return. rcu_protect's clear() waits for every read section of
//   the domain; hazard_protect's only for the calls that hold the old hook,
//   at a slightly higher cost per call (see hazard_pointer.hpp).
//
// When not to use it
//   When the hook never changes after start-up (call a plain pointer). When
//   calls block for long and the writer must not wait for them (use owner_ref
//   plus reference counting on the context). rcu_protect calls must not
//   block on something the writer holds while it waits for a grace period.
//
// Thread-safety contract
//   Every member of hook_ptr is thread-safe. A hook object is immutable once
//   published. clear()/exchange() may be called concurrently with each other
//   and with calls.
//
// Memory ordering (happens-before)
//   O1  publish()/exchange() are release stores and call() loads the pointer
//       with acquire: everything the publisher did before publishing (filling
//       in the hook and its context) happens-before the hook runs.
//   O2  rw_protect: a call happens-before a clear()/exchange() that returns
//       it as `previous` returns (lock release/acquire of the shared mutex).
//   O3  rcu_protect: every call that could have loaded the old hook
//       happens-before clear()/exchange() returns (rcu.hpp O1).
//   O4  owner_ref: everything a call did happens-before the owner module's
//       exit function runs (module.hpp O2).
//   O5  hazard_protect: every call that protected the old hook
//       happens-before clear()/exchange() returns (the call's slot reset is
//       a release store, the writer's scan an acquire load after its heavy
//       fence; hazard_pointer.hpp O1, O2). exchange() of a hook for itself
//       returns at once (nothing can be freed); a hook published again
//       while clear() waits is waited for with its new calls.
//
// Invariants
//   I1  The pointer is null or points at a hook whose function is set.
//   I2  publish() never replaces a set hook (EPERM, nothing changes): the
//       6.16 set_kvm bug left pqap_hook pointing at the losing mdev; here the
//       loser's publish fails and the winner's hook stays.
//   I3  clear()/exchange() never wait inside a call of the hook they would
//       wait for: rw_protect checks the calling thread's active calls,
//       rcu_protect checks whether the thread is inside a read section of
//       the hook's domain, hazard_protect whether one of the thread's
//       calls holds the hook it would wait for.
//
// Misuse
//   compile error  a reference return type ("ordo: hook_ptr: R must not be a
//                  reference"); an unknown Protection ("ordo: hook_ptr:
//                  Protection must be ...").
//   runtime report (set_hook_report_handler; the default prints, never
//                  aborts) and a defined error return:
//                  - clear()/exchange() (and rw_protect publish()) from
//                    inside a call through the same hook (rw_protect) or
//                    inside a read section of the domain (rcu_protect) or
//                    inside a call holding the old hook (hazard_protect):
//                    returns EDEADLK, changes nothing;
//                  - a call through an rw_protect hook from inside a call
//                    through the same hook: no call, returns empty.
//   error return   publish() of a hook without a function (EINVAL), publish()
//                  when a hook is set (EPERM), exchange() of a hook without a
//                  function (EINVAL); nothing changes.
//   undefined      freeing a hook returned by unprotected/owner_ref clear()
//                  while calls may still run; destroying a hook_ptr while
//                  calls or writers use it (the destructor does not wait:
//                  clear() first); destroying the rcu_domain of an
//                  rcu_protect hook_ptr before the hook_ptr.
//
// The result of call()
//   std::optional<R>, empty when no hook is set (or, for owner_ref, when the
//   owner is going). For R = void, call() returns bool: true when a hook ran.
//
// Example (tests/hook_test.cpp, HookPtr.ExampleFromHeader)
//   struct mdev {
//     int handle_pqap(vcpu& v, std::uint16_t apqn);
//     ordo::hook<int(vcpu&, std::uint16_t)> pqap_hook =
//         ordo::hook<int(vcpu&, std::uint16_t)>::bind<&mdev::handle_pqap>(*this);
//   };
//   ordo::hook_ptr<int(vcpu&, std::uint16_t), ordo::rcu_protect> pqap_hook_ptr;
//   (void)pqap_hook_ptr.publish(m.pqap_hook);           // open_device
//   std::optional<int> rc = pqap_hook_ptr.call(v, 0x0105);   // vCPU thread
//   auto old = pqap_hook_ptr.clear();                   // close_device:
//   // no call of m.pqap_hook is running any more; m may be freed.
#ifndef ORDO_HOOK_HPP
#define ORDO_HOOK_HPP

#include <ordo/detail/config.hpp>
#include <ordo/detail/report.hpp>
#include <ordo/hazard_pointer.hpp>
#include <ordo/module.hpp>
#include <ordo/once.hpp>
#include <ordo/rcu.hpp>

#include <atomic>
#include <concepts>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <shared_mutex>
#include <system_error>
#include <type_traits>
#include <utility>

namespace ordo {

/// Protection: none; the caller guarantees lifetimes.
struct unprotected {};
/// Protection: try_module_get(owner) around each call.
struct owner_ref {};
/// Protection: a reader/writer lock (shared for calls, exclusive to change).
struct rw_protect {};
/// Protection: an RCU read section around each call; changes wait for a
/// grace period.
struct rcu_protect {};
/// Protection: a hazard pointer holds the hook during each call; changes
/// wait only for the calls that hold the old hook.
struct hazard_protect {};

template <class P>
concept hook_protection = std::same_as<P, unprotected> || std::same_as<P, owner_ref> ||
                          std::same_as<P, rw_protect> || std::same_as<P, rcu_protect> ||
                          std::same_as<P, hazard_protect>;

/// What a hook runtime report is about.
enum class hook_report_kind : unsigned char {
  exchange_inside_call,  ///< clear()/exchange() would wait for its own call
  recursive_call,        ///< rw_protect call through the hook being called
};

/// One hook runtime report, passed to the hook report handler.
struct hook_report {
  /// What happened.
  hook_report_kind kind;
  const void* hook_ptr;  ///< the hook_ptr concerned
  /// A human-readable description of the misuse.
  const char* message;
};
using hook_report_handler = void (*)(const hook_report&);

namespace detail {

// The default policy (detail/report.hpp): every hook report is a notice,
// since the operation also returns EDEADLK (or refuses the call).
inline void hook_default_report(const hook_report& report) {
  std::fprintf(stderr, "ordo: hook_ptr %p: %s\n", report.hook_ptr, report.message);
  end_default_report(report_severity::notice);
}

inline constinit report_registry<hook_report, &hook_default_report> hook_reports;

inline void hook_report_misuse(hook_report_kind kind, const void* ptr, const char* message) {
  // acquire (in report()): pairs with the exchange in set_hook_report_handler.
  hook_reports.report(hook_report{kind, ptr, message});
}

// The calls through rw_protect hooks this thread is inside (I3): a list of
// frames on the callers' stacks.
struct hook_call_frame {
  const void* hook_ptr;
  const hook_call_frame* outer;
};
inline constinit thread_local const hook_call_frame* hook_calls = nullptr;

inline bool inside_call_through(const void* ptr) noexcept {
  for (const hook_call_frame* f = hook_calls; f != nullptr; f = f->outer) {
    if (f->hook_ptr == ptr) return true;
  }
  return false;
}

class hook_call_scope {
 public:
  explicit hook_call_scope(const void* ptr) noexcept : frame_{ptr, hook_calls} {
    hook_calls = &frame_;
  }
  ~hook_call_scope() { hook_calls = frame_.outer; }
  hook_call_scope(const hook_call_scope&) = delete;
  hook_call_scope& operator=(const hook_call_scope&) = delete;

 private:
  hook_call_frame frame_;
};

// The lock of rw_protect: a reader/writer lock that prefers writers, like
// the kernel's rwsem (pqap_hook_rwsem). glibc's default (and so
// std::shared_mutex) prefers readers: callers that keep overlapping would
// starve clear() for ever. pthread_rwlock_* is intercepted by TSan, so no
// annotation is needed. Recursive read locking would deadlock behind a
// waiting writer; hook_ptr refuses recursive calls (I3).
class rw_hook_lock {
 public:
  rw_hook_lock() noexcept {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#if defined(__GLIBC__)
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~rw_hook_lock() { pthread_rwlock_destroy(&lock_); }
  rw_hook_lock(const rw_hook_lock&) = delete;
  rw_hook_lock& operator=(const rw_hook_lock&) = delete;

  void lock() noexcept { pthread_rwlock_wrlock(&lock_); }
  void unlock() noexcept { pthread_rwlock_unlock(&lock_); }
  void lock_shared() noexcept { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() noexcept { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

}  // namespace detail

/// Installs a handler for hook reports; returns the previous one (nullptr
/// restores the default). Thread-safe.
inline hook_report_handler set_hook_report_handler(hook_report_handler handler) noexcept {
  // acq_rel (in install()): release publishes the handler to
  // hook_report_misuse's acquire.
  return detail::hook_reports.install(handler);
}

template <class Sig>
class hook;

/// A hook: a function, the context it runs for, and the module that owns
/// the code. Immutable; copyable. The owner embeds it (e.g. as a member of
/// the mdev) and publishes its address. Not thread-safe to modify; calling
/// is as thread-safe as the function.
template <class R, class... Args>
class hook<R(Args...)> {
 public:
  /// The function type this hook calls.
  using signature = R(Args...);

  /// An empty hook (no function); publish() rejects it.
  constexpr hook() noexcept = default;

  /// A plain function, no context.
  constexpr hook(R (*function)(Args...), module* owner = nullptr) noexcept  // NOLINT(implicit)
      : thunk_(function ? &call_plain : nullptr),
        function_(reinterpret_cast<void (*)()>(function)),
        owner_(owner) {}

  /// A function taking its context first: function(context, args...).
  template <class T>
  hook(R (*function)(T&, Args...), T& context, module* owner = nullptr) noexcept
      : thunk_(function ? &call_with_context<T> : nullptr),
        context_(const_cast<void*>(static_cast<const void*>(&context))),
        function_(reinterpret_cast<void (*)()>(function)),
        owner_(owner) {}

  /// A member function of `object`: (object.*Member)(args...). One indirect
  /// call; the usual form for a hook an object embeds.
  template <auto Member, class T>
  [[nodiscard]] static hook bind(T& object, module* owner = nullptr) noexcept {
    static_assert(std::is_invocable_r_v<R, decltype(Member), T&, Args...>,
                  "ordo: hook::bind: Member must be callable on T with the hook's arguments");
    hook h;
    h.thunk_ = [](const hook& self, Args&&... args) -> R {
      return std::invoke(Member, *static_cast<T*>(self.context_), std::forward<Args>(args)...);
    };
    h.context_ = const_cast<void*>(static_cast<const void*>(&object));
    h.owner_ = owner;
    return h;
  }

  /// Any callable object that outlives the hook (stored by address).
  template <class F>
  [[nodiscard]] static hook from_callable(F& callable, module* owner = nullptr) noexcept {
    static_assert(std::is_invocable_r_v<R, F&, Args...>,
                  "ordo: hook::from_callable: F must be callable with the hook's arguments");
    hook h;
    h.thunk_ = [](const hook& self, Args&&... args) -> R {
      return std::invoke(*static_cast<F*>(self.context_), std::forward<Args>(args)...);
    };
    h.context_ = const_cast<void*>(static_cast<const void*>(&callable));
    h.owner_ = owner;
    return h;
  }

  /// Calls the function. Precondition: has_function().
  R operator()(Args... args) const { return thunk_(*this, std::forward<Args>(args)...); }

  /// True when the hook has a function to call.
  [[nodiscard]] bool has_function() const noexcept { return thunk_ != nullptr; }
  /// The module that owns the function's code (nullptr if none).
  [[nodiscard]] module* owner() const noexcept { return owner_; }
  /// The object or callable the function runs for (nullptr if none).
  [[nodiscard]] void* context() const noexcept { return context_; }

 private:
  using thunk_type = R (*)(const hook&, Args&&...);

  static R call_plain(const hook& self, Args&&... args) {
    return reinterpret_cast<R (*)(Args...)>(self.function_)(std::forward<Args>(args)...);
  }
  template <class T>
  static R call_with_context(const hook& self, Args&&... args) {
    return reinterpret_cast<R (*)(T&, Args...)>(self.function_)(*static_cast<T*>(self.context_),
                                                               std::forward<Args>(args)...);
  }

  thunk_type thunk_ = nullptr;
  void* context_ = nullptr;
  void (*function_)() = nullptr;
  module* owner_ = nullptr;
};

template <class Sig, class Protection>
class hook_ptr {
  static_assert(std::is_function_v<Sig>, "ordo: hook_ptr: Sig must be a function type R(Args...)");
};

/// A published hook pointer; see the header comment for what each
/// Protection guarantees.
template <class R, class... Args, class Protection>
class hook_ptr<R(Args...), Protection> {
  static_assert(hook_protection<Protection>,
                "ordo: hook_ptr: Protection must be ordo::unprotected, ordo::owner_ref, "
                "ordo::rw_protect, ordo::rcu_protect or ordo::hazard_protect");
  static_assert(!std::is_reference_v<R>,
                "ordo: hook_ptr: R must not be a reference (call() returns std::optional<R>); "
                "return a pointer or std::reference_wrapper");

  static constexpr bool is_rcu = std::is_same_v<Protection, rcu_protect>;
  static constexpr bool is_rw = std::is_same_v<Protection, rw_protect>;
  static constexpr bool is_owner_ref = std::is_same_v<Protection, owner_ref>;
  static constexpr bool is_hazard = std::is_same_v<Protection, hazard_protect>;

 public:
  /// The hook type this pointer publishes.
  using hook_type = hook<R(Args...)>;
  /// The protection policy that calls through this pointer run under.
  using protection = Protection;
  /// std::optional<R>, or bool when R is void (true: a hook ran).
  using call_result = std::conditional_t<std::is_void_v<R>, bool, std::optional<R>>;

  /// What clear() and exchange() return: the hook that was set (nullptr if
  /// none) and an error (EDEADLK, EINVAL; then nothing changed).
  struct exchange_result {
    /// The hook that was set before (nullptr if none).
    hook_type* previous = nullptr;
    /// Empty on success; EDEADLK or EINVAL when nothing changed.
    std::error_code error;
    /// True when the exchange happened (no error).
    [[nodiscard]] explicit operator bool() const noexcept { return !error; }
  };

  /// An empty hook pointer. rcu_protect uses rcu_default_domain().
  hook_ptr() noexcept(!is_rcu) {
    if constexpr (is_rcu) domain_ = &rcu_default_domain();
  }
  /// An empty rcu_protect hook pointer whose calls are read sections of
  /// `domain` (which must outlive it).
  explicit hook_ptr(rcu_domain& domain) noexcept
    requires is_rcu
      : domain_(&domain) {}

  hook_ptr(const hook_ptr&) = delete;
  hook_ptr& operator=(const hook_ptr&) = delete;

  /// Publishes `h` if no hook is set. EINVAL when h has no function, EPERM
  /// when a hook is set (I2); then nothing changed. Thread-safe. Ordering:
  /// release (O1). Never waits (rw_protect: takes the lock exclusively).
  [[nodiscard]] std::error_code publish(hook_type& h) {
    if (!h.has_function()) return std::make_error_code(std::errc::invalid_argument);
    if constexpr (is_rw) {
      if (detail::inside_call_through(this)) return report_inside_call();
      std::unique_lock lock(rw_);
      if (read_once(hook_) != nullptr) return std::make_error_code(std::errc::operation_not_permitted);
      store_release(hook_, &h);
      return {};
    } else {
      hook_type* expected = nullptr;
      // release: publishes the hook's contents to call()'s acquire (O1).
      // relaxed on failure: nothing is published, nothing read through it.
      if (!std::atomic_ref<hook_type*>(hook_).compare_exchange_strong(
              expected, &h, std::memory_order_release, std::memory_order_relaxed)) {
        return std::make_error_code(std::errc::operation_not_permitted);
      }
      return {};
    }
  }

  /// Replaces the hook with `h` (which may be the same), waiting as the
  /// protection requires (table above) before returning the previous one.
  /// EINVAL when h has no function; EDEADLK from inside a call (I3); then
  /// nothing changed. Thread-safe; rw_protect, rcu_protect and hazard_protect block.
  exchange_result exchange(hook_type& h) {
    if (!h.has_function()) return {nullptr, std::make_error_code(std::errc::invalid_argument)};
    return replace(&h);
  }

  /// Removes the hook, waiting as the protection requires (table above);
  /// returns the previous one. EDEADLK from inside a call (I3); then nothing
  /// changed. Thread-safe; rw_protect, rcu_protect and hazard_protect block.
  exchange_result clear() { return replace(nullptr); }

  /// Calls the hook if one is set, under the protection. Empty result when
  /// no hook is set, when the owner is going (owner_ref), or on a recursive
  /// rw_protect call (reported). Exceptions from the hook propagate (the
  /// protection is released). Thread-safe. Ordering: acquire (O1).
  ORDO_ALWAYS_INLINE std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> call(
      Args... args) const {
    if constexpr (is_rcu) {
      rcu_domain& domain = *domain_;
      // The default domain's outermost section: the thread's resident
      // record, addressed directly (rcu.hpp I14).
      if (const std::uint64_t entered = domain.enter_resident(); entered != 0) [[likely]] {
        return call_then([&domain, entered] { domain.leave_resident(entered); },
                         std::forward<Args>(args)...);
      }
      // Other domains, nesting, a thread's first section, fallback mode.
      return call_in_section(std::forward<Args>(args)...);
    } else if constexpr (is_hazard) {
      // acquire: pairs with publish()/exchange()'s release (O1).
      hook_type* h = load_acquire(hook_);
      if (h == nullptr) return call_result{};
      // The outermost call of the thread: its own slot, free (no call of
      // this thread is under way) and in membarrier mode. Everything else
      // (a nested call, the thread's first call, fallback mode) takes the
      // out-of-line path with a guard that picks a slot.
      detail::hazptr_slot* const top = detail::hazptr_hook_free_top();
      if (top == nullptr) [[unlikely]] return call_nested(std::forward<Args>(args)...);
      for (;;) {
        detail::hazptr_hook_top_protect(*top, h);  // store + light fence (hazard_pointer.hpp O2)
        // acquire: as above; still published, so the writer sees the slot (O5).
        hook_type* again = load_acquire(hook_);
        if (again == h) [[likely]] break;
        if (again == nullptr) {
          top->reset();
          return call_result{};
        }
        h = again;
      }
      const detail::hazptr_slot_reset reset{top};  // also when the hook throws
      return invoke(*h, std::forward<Args>(args)...);
    } else if constexpr (is_rw) {
      if (detail::inside_call_through(this)) [[unlikely]] {
        detail::hook_report_misuse(hook_report_kind::recursive_call, this,
                                   "call() from inside a call through the same rw_protect "
                                   "hook (a recursive read lock can deadlock); not called");
        return call_result{};
      }
      std::shared_lock lock(rw_);
      detail::hook_call_scope scope(this);
      // relaxed is enough under the lock (O2); acquire kept for O1 symmetry.
      hook_type* h = load_acquire(hook_);
      if (h == nullptr) return call_result{};
      return invoke(*h, std::forward<Args>(args)...);
    } else if constexpr (is_owner_ref) {
      // acquire: pairs with publish()/exchange()'s release (O1).
      hook_type* h = load_acquire(hook_);
      if (h == nullptr) return call_result{};
      // The historical weakness: h itself is not pinned; it must live as
      // long as its owner module (header).
      module* owner = h->owner();
      if (!try_module_get(owner)) return call_result{};
      module_pin pin{owner};
      detail::module_call_scope scope(owner);  // unload() from inside: EBUSY (module.hpp I6)
      return invoke(*h, std::forward<Args>(args)...);
    } else {
      // acquire: pairs with publish()/exchange()'s release (O1).
      hook_type* h = load_acquire(hook_);
      if (h == nullptr) return call_result{};
      return invoke(*h, std::forward<Args>(args)...);
    }
  }

  /// True when a hook is set (a snapshot). Thread-safe. Ordering: relaxed
  /// (it publishes nothing; call() does its own acquire).
  [[nodiscard]] bool is_set() const noexcept { return read_once(hook_) != nullptr; }

  /// The RCU domain of an rcu_protect hook pointer.
  [[nodiscard]] rcu_domain& domain() const noexcept
    requires is_rcu
  {
    return *domain_;
  }

 private:
  // rcu_protect's call outside its inlined fast path: any domain, any
  // depth (the general enter()/leave() of rcu.hpp). Out of line, so that
  // call() stays small enough to inline into its callers.
  [[gnu::noinline]] call_result call_in_section(Args... args) const
    requires is_rcu
  {
    rcu_domain& domain = *domain_;
    const detail::rcu_section_token token = domain.enter();
    return call_then([&domain, token] { domain.leave(token); }, std::forward<Args>(args)...);
  }

  // rcu_protect, inside the section `leave` closes: calls the hook if one is
  // set, then closes the section, also when the hook throws. Not an RAII
  // guard: the result then stays in registers across leave().
  template <class Leave>
  ORDO_ALWAYS_INLINE call_result call_then(Leave leave, Args... args) const {
    // acquire: pairs with publish()/exchange()'s release (O1).
    hook_type* h = load_acquire(hook_);
    if (h == nullptr) {
      leave();
      return call_result{};
    }
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
    try {
      call_result result = invoke(*h, std::forward<Args>(args)...);
      leave();
      return result;
    } catch (...) {
      leave();
      throw;
    }
#else  // -fno-exceptions: nothing can leave the call but its return
    call_result result = invoke(*h, std::forward<Args>(args)...);
    leave();
    return result;
#endif
  }

  // hazard_protect's call when the thread's outermost slot is not free (see
  // call()): a guard takes the slot and gives it back.
  [[gnu::noinline]] call_result call_nested(Args... args) const
    requires is_hazard
  {
    detail::hazptr_hook_guard guard;  // this thread's slot for this depth
    // acquire: pairs with publish()/exchange()'s release (O1).
    hook_type* h = load_acquire(hook_);
    for (;;) {
      if (h == nullptr) return call_result{};
      guard.protect(h);  // store + light fence (hazard_pointer.hpp O2)
      // acquire: as above; still published, so the writer sees the slot (O5).
      hook_type* again = load_acquire(hook_);
      if (again == h) [[likely]] break;
      h = again;
    }
    return invoke(*h, std::forward<Args>(args)...);  // the guard resets the slot
  }

  struct module_pin {
    module* owner;
    ~module_pin() { module_put(owner); }
  };

  template <class... CallArgs>
  static call_result invoke(const hook_type& h, CallArgs&&... args) {
    if constexpr (std::is_void_v<R>) {
      h(std::forward<CallArgs>(args)...);
      return true;
    } else {
      return call_result(std::in_place, h(std::forward<CallArgs>(args)...));
    }
  }

  std::error_code report_inside_call() const {
    detail::hook_report_misuse(hook_report_kind::exchange_inside_call, this,
                               is_rcu ? "clear()/exchange() inside an RCU read section of the "
                                        "hook's domain (e.g. from inside a call through the "
                                        "hook) would wait for itself; nothing changed"
                               : is_hazard ? "clear()/exchange() from inside a call holding the "
                                             "hook it replaces would wait for itself; nothing "
                                             "changed"
                                           : "clear()/exchange()/publish() from inside a call "
                                             "through the same hook would wait for itself; "
                                             "nothing changed");
    return std::make_error_code(std::errc::resource_deadlock_would_occur);
  }

  exchange_result replace(hook_type* next) {
    if constexpr (is_rw) {
      if (detail::inside_call_through(this)) return {nullptr, report_inside_call()};
      std::unique_lock lock(rw_);  // waits for every call in flight (O2)
      hook_type* previous = read_once(hook_);
      store_release(hook_, next);
      return {previous, {}};
    } else if constexpr (is_rcu) {
      if (domain_->in_read_section()) return {nullptr, report_inside_call()};
      // acq_rel: release publishes `next` (O1); acquire orders this after
      // whoever published `previous`.
      hook_type* previous =
          std::atomic_ref<hook_type*>(hook_).exchange(next, std::memory_order_acq_rel);
      if (previous != nullptr) domain_->synchronize();  // O3
      return {previous, {}};
    } else if constexpr (is_hazard) {
      // A CAS loop, so that the hook checked for I3 is the one replaced.
      // relaxed: only a guess for the CAS, which re-reads it.
      hook_type* previous = std::atomic_ref<hook_type*>(hook_).load(std::memory_order_relaxed);
      for (;;) {
        if (previous != nullptr && previous != next &&
            detail::hazptr_hook_calls_hold(previous)) {
          return {nullptr, report_inside_call()};  // I3
        }
        // acq_rel: release publishes `next` (O1); acquire orders this after
        // whoever published `previous`. relaxed on failure: retried.
        if (std::atomic_ref<hook_type*>(hook_).compare_exchange_weak(
                previous, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
          break;
        }
      }
      if (previous != nullptr && previous != next) {
        detail::hazptr_default_domain().wait_until_unprotected(previous);  // O5
      }
      return {previous, {}};
    } else {
      // acq_rel: as above. No wait: see the table in the header.
      hook_type* previous =
          std::atomic_ref<hook_type*>(hook_).exchange(next, std::memory_order_acq_rel);
      return {previous, {}};
    }
  }

  struct no_lock {};
  struct no_domain {};

  // Every shared access goes through once.hpp or std::atomic_ref (I1).
  alignas(std::atomic_ref<hook_type*>::required_alignment) hook_type* hook_ = nullptr;
  [[no_unique_address]] mutable std::conditional_t<is_rw, detail::rw_hook_lock, no_lock> rw_;
  [[no_unique_address]] std::conditional_t<is_rcu, rcu_domain*, no_domain> domain_{};
};

}  // namespace ordo

#endif  // ORDO_HOOK_HPP
