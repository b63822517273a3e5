// ordo/module.hpp — modules that can be pinned, unloaded only when nobody
// holds them, and typed symbols obtained through symbol_get.
//
// What it is
//   A user-space model of the kernel's module lifetime rules. A module is
//   created COMING (its init runs and exports symbols), becomes LIVE, and on
//   unload GOING, then GONE. Code that calls into a module, or holds an object
//   whose release function is the module's code, pins it first:
//
//     try_module_get(owner)   pin; fails once the module is going
//     module_put(owner)       unpin
//     symbol_get<Sig>(reg, "name")
//                             look up an exported function by name and type
//                             and pin its module; the returned symbol_ref is
//                             callable and unpins in its destructor
//                             (symbol_put)
//
//   This is how vfio uses kvm_get_kvm_safe and kvm_put_kvm without linking to
//   kvm: it symbol_gets both, calls the getter, puts the getter, and keeps
//   kvm_put_kvm (and with it the pin on kvm) until it drops its KVM
//   reference, so kvm cannot be unloaded while a kvm object it would have to
//   destroy is still referenced (examples/safe_kvm_ref.cpp).
//
//   A nullptr module means built-in code, as in the kernel:
//   try_module_get(nullptr) is true and module_put(nullptr) does nothing.
//
// When not to use it
//   To keep an object alive, count references to the object (ref.hpp); a
//   module pin keeps the module's code and its exit function from running,
//   not any particular object. Do not pin around every call of a hot path:
//   a pin is two atomic RMWs on one shared cache line (hook.hpp's rcu_protect
//   is cheaper for readers).
//
// Thread-safety contract
//   Every function is thread-safe. Module objects live as long as their
//   registry (an unloaded module stays GONE, it is not freed), so a stale
//   module pointer is always safe to try_module_get: it just fails.
//
// Memory ordering (happens-before)
//   O1  Everything a module's init did (including export_symbol) happens-
//       before any successful symbol_get of its symbols: go_live publishes
//       with release, symbol_get reads the binding and state with acquire.
//   O2  Everything a holder did before module_put (release) happens-before
//       the module's exit function: the unloader reads the final count with
//       acquire (the RMW chain of puts is one release sequence), or is woken
//       through a std::mutex the last putter held.
//   O3  Unload stops new pins at once: the GOING flag is set by an RMW on the
//       same counter try_module_get increments, so every get either comes
//       before it in that counter's modification order (and is waited for)
//       or sees the flag and fails. The flag is set before the state becomes
//       going, so a thread that has seen state() == going fails every
//       try_module_get it makes afterwards.
//
// Invariants
//   I1  A module's exit function runs once, after every pin taken before the
//       unload started has been dropped, and never while one is held.
//   I2  try_module_get fails on a going or gone module; it succeeds on a
//       coming or live one (a module's own init may pin itself).
//   I3  try_unload changes nothing when it fails.
//   I4  symbol_get never returns a callable whose type differs from the
//       exported one (noexcept may be dropped, as a function pointer
//       conversion allows); a mismatch is EINVAL, not a call.
//   I5  A symbol_ref is either empty (with error() set) or holds exactly one
//       pin on its module, dropped exactly once.
//   I6  unload() never waits for a pin the calling thread holds through a
//       call into the module (detail::module_call_scope, entered by
//       hook_ptr<owner_ref> calls): it reports and returns EBUSY instead.
//
// Errors (std::errc, kernel errno)
//   symbol_get    ENOENT no such symbol, or its module is going or gone;
//                 EBUSY its module is still coming; EINVAL signature
//                 mismatch.
//   create        EEXIST a module of that name exists (not gone); EINVAL
//                 empty name.
//   export_symbol EEXIST name exported by another module; EINVAL not coming,
//                 null function, empty name, module of another registry.
//   try_unload    ENOENT no such module; EBUSY coming, going, or pinned.
//   unload        ENOENT no such module; EBUSY coming or already going, or
//                 called from inside a call into the module (I6).
//
// Misuse
//   compile error  symbol_get/export_symbol with a Sig that is not a
//                  function type: "ordo: symbol_get: Sig must be a function
//                  type".
//   runtime report module_put without a pin (the refcount report handler,
//                  underflow); unload() from inside an owner_ref hook call
//                  into the module (message, EBUSY, I6); calling an empty symbol_ref (message, abort);
//                  destroying a registry while a module is pinned (message,
//                  abort).
//   undefined      using a module pointer after its registry was destroyed.
//
// Example (examples/safe_kvm_ref.cpp)
//   ordo::module_registry modules;
//   (void)modules.load("kvm", [](ordo::module_loader& kvm) {
//     (void)kvm.export_symbol("kvm_put_kvm", &kvm_put_kvm);
//   });
//   auto put = ordo::symbol_get<void(ordo::ref<kvm>)>(modules, "kvm_put_kvm");
//   if (!put) return put.error();
//   put(std::move(kvm_ref));           // kvm cannot finish unloading before this
#ifndef ORDO_MODULE_HPP
#define ORDO_MODULE_HPP

#include <ordo/detail/config.hpp>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ordo/refcount.hpp"

namespace ordo {

class module;
class module_registry;

/// Pins `owner` (try_module_get). True on success and for nullptr (built-in
/// code); false once the module is going (I2). Thread-safe. Ordering:
/// relaxed increment; O3 makes it exclusive with unload.
[[nodiscard]] bool try_module_get(module* owner) noexcept;
/// Drops a pin taken by try_module_get/module_get (module_put); nullptr does
/// nothing. Thread-safe. Ordering: release (O2).
void module_put(module* owner) noexcept;
/// Takes one more pin on a module the caller already pinned (__module_get).
/// nullptr does nothing. Thread-safe. Ordering: relaxed.
void module_get(module* owner) noexcept;

/// A module's state; transitions only go forward.
enum class module_state : unsigned char { coming, live, going, gone };

[[nodiscard]] constexpr std::string_view to_string(module_state state) noexcept {
  switch (state) {
    case module_state::coming: return "coming";
    case module_state::live: return "live";
    case module_state::going: return "going";
    case module_state::gone: return "gone";
  }
  return "?";
}

/// One loaded module. Created and owned by a module_registry; users hold
/// pointers. Immovable.
class module {
 public:
  module(const module&) = delete;
  module& operator=(const module&) = delete;

  /// The module's name. Thread-safe (immutable).
  [[nodiscard]] std::string_view name() const noexcept { return name_; }
  /// The current state. Thread-safe. Ordering: acquire (O1: pairs with the
  /// release store of each transition).
  [[nodiscard]] module_state state() const noexcept {
    return state_.load(std::memory_order_acquire);  // partner: set_state's release
  }
  /// Number of pins held now (module_refcount); a snapshot. Thread-safe.
  [[nodiscard]] std::uint32_t refcount() const noexcept {
    // relaxed: a diagnostic snapshot, orders nothing.
    return static_cast<std::uint32_t>(refs_.load(std::memory_order_relaxed) & count_mask);
  }
  /// The registry that owns this module. Thread-safe (immutable).
  [[nodiscard]] module_registry& registry() const noexcept { return *registry_; }

 private:
  friend class module_registry;
  friend class module_loader;
  friend bool try_module_get(module*) noexcept;
  friend void module_put(module*) noexcept;
  friend void module_get(module*) noexcept;

  // refs_: low bits count pins, going_flag blocks new ones (O3). A get
  // succeeds iff the value it incremented was below pin_limit: that excludes
  // the flag and leaves a wide margin below it for overflow.
  static constexpr std::uint64_t going_flag = std::uint64_t{1} << 40;
  static constexpr std::uint64_t count_mask = going_flag - 1;
  static constexpr std::uint64_t pin_limit = std::uint64_t{1} << 31;

  module(module_registry& registry, std::string name) : registry_(&registry), name_(std::move(name)) {}

  void set_state(module_state state) noexcept {
    state_.store(state, std::memory_order_release);  // partner: state()'s acquire (O1)
  }

  // Called by whoever took the count to zero while going: wakes the unloader.
  void signal_released() {
    std::lock_guard<std::mutex> lock(wait_mutex_);
    released_ = true;
    // Notify under the lock: the unloader cannot return from its wait (and
    // go on to run exit and let the registry die) before we unlock.
    released_cv_.notify_all();
  }

  void drop(std::uint64_t old) noexcept {
    if ((old & count_mask) == 0) [[unlikely]] {
      // No pin to drop: undo and report (the counter is left as it was).
      // relaxed: restoring our own transient change.
      const std::uint64_t undone = refs_.fetch_add(1, std::memory_order_relaxed) + 1;
      if (undone == going_flag) signal_released();
      detail::refcount_report_now(refcount_error::underflow, this,
                                  std::source_location::current());
      return;
    }
    if (old == (going_flag | 1)) signal_released();
  }

  module_registry* registry_;
  std::string name_;
  std::atomic<module_state> state_{module_state::coming};
  // The pin count gets a cache line of its own: pins bounce it between
  // CPUs, and the read-mostly fields above must not bounce with it.
  alignas(64) std::atomic<std::uint64_t> refs_{0};
  alignas(64) std::function<void()> exit_;  // written while coming, run once by the unloader
  std::mutex wait_mutex_;
  std::condition_variable released_cv_;
  bool released_ = false;  // guarded by wait_mutex_
};

inline bool try_module_get(module* owner) noexcept {
  if (owner == nullptr) return true;
  // relaxed: the pin orders nothing by itself; O1 orders the module's
  // contents, and O3 needs only the single modification order of refs_.
  const std::uint64_t old = owner->refs_.fetch_add(1, std::memory_order_relaxed);
  if (old < module::pin_limit) [[likely]] return true;
  // Going (or absurdly many pins): undo. The undo may be the decrement that
  // takes a going module to zero, so it goes through the same path as a put.
  // release: like module_put (O2), so the unloader's acquire covers it too.
  const std::uint64_t before_undo = owner->refs_.fetch_sub(1, std::memory_order_release);
  if (before_undo == (module::going_flag | 1)) owner->signal_released();
  return false;
}

inline void module_put(module* owner) noexcept {
  if (owner == nullptr) return;
  // release: partner is the unloader's acquire on refs_ (O2).
  const std::uint64_t old = owner->refs_.fetch_sub(1, std::memory_order_release);
  if ((old & module::count_mask) <= 1 && old != 1) [[unlikely]] owner->drop(old);
}

inline void module_get(module* owner) noexcept {
  if (owner == nullptr) return;
  // relaxed: the caller's own pin keeps the module from finishing unload.
  const std::uint64_t old = owner->refs_.fetch_add(1, std::memory_order_relaxed);
  if ((old & module::count_mask) == 0) [[unlikely]] {
    detail::refcount_report_now(refcount_error::add_on_zero, owner,
                                std::source_location::current());
  }
}

namespace detail {

// The modules this thread pins for the duration of a call into them (a call
// through an owner_ref hook): a stack of scopes on the caller's stack. unload()
// consults it so it refuses to wait for the caller's own pin (I6).
struct module_call_scope {
  module* pinned;
  module_call_scope* outer;
  static module_call_scope*& innermost() noexcept {
    static constinit thread_local module_call_scope* top = nullptr;
    return top;
  }
  explicit module_call_scope(module* m) noexcept : pinned(m), outer(innermost()) {
    innermost() = this;
  }
  ~module_call_scope() { innermost() = outer; }
  module_call_scope(const module_call_scope&) = delete;
  module_call_scope& operator=(const module_call_scope&) = delete;

  [[nodiscard]] static bool inside_call_into(const module* m) noexcept {
    for (const module_call_scope* s = innermost(); s != nullptr; s = s->outer) {
      if (s->pinned == m) return true;
    }
    return false;
  }
};

template <class F>
struct remove_fn_noexcept {
  using type = F;
};
template <class R, class... A>
struct remove_fn_noexcept<R(A...) noexcept> {
  using type = R(A...);
};
template <class R, class... A>
struct remove_fn_noexcept<R(A..., ...) noexcept> {
  using type = R(A..., ...);
};

using erased_fn = void (*)();

// A type's identity without RTTI (the library builds with -fno-rtti): the
// address of an inline variable, one object per type in the whole program
// (vague linkage, like typeid's type_info objects).
using type_identity_tag = const void*;
template <class T>
inline constexpr char type_tag_object = 0;
template <class T>
[[nodiscard]] constexpr type_identity_tag type_tag() noexcept {
  return &type_tag_object<T>;
}

// One exported symbol's binding to a module. Immutable once published;
// lives as long as the registry.
struct symbol_binding {
  module* owner;
  type_identity_tag exact_type;      // type_tag<F*>()
  type_identity_tag callable_type;   // type_tag<F* without noexcept>()
  erased_fn fn;                          // F* through reinterpret_cast
};

// A name in the symbol table. Entries are never removed (only unbound), so
// lock-free readers need no reclamation.
struct symbol_entry {
  std::string name;
  std::atomic<const symbol_binding*> binding{nullptr};
  std::atomic<symbol_entry*> next{nullptr};  // bucket chain, prepend-only
};

[[noreturn]] inline void fatal(const char* what, std::string_view detail) noexcept {
  std::fprintf(stderr, "%s%.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace detail

template <class Sig>
class symbol_ref;

/// What a module's init uses to export symbols and register its exit.
class module_loader {
 public:
  /// The module being loaded (state coming).
  [[nodiscard]] module& self() const noexcept { return *module_; }
  /// Exports `fn` under `name` with its exact function type.
  template <class F>
  [[nodiscard]] std::error_code export_symbol(std::string_view name, F* fn);
  /// The function unload runs once the last pin is gone (module_exit).
  void on_exit(std::function<void()> exit) { module_->exit_ = std::move(exit); }

 private:
  friend class module_registry;
  module_loader(module_registry& registry, module& m) : registry_(&registry), module_(&m) {}
  module_registry* registry_;
  module* module_;
};

/// The set of loaded modules and their exported symbols.
class module_registry {
 public:
  module_registry() = default;
  module_registry(const module_registry&) = delete;
  module_registry& operator=(const module_registry&) = delete;

  /// Unloads what is still loaded, newest first, running exit functions.
  /// Reports (message, abort) if a module is still pinned or coming: a pin
  /// outliving its registry would be a use-after-free.
  ~module_registry() {
    std::vector<module*> remaining;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) {
        module* m = it->get();
        const module_state state = m->state();
        if (state == module_state::gone) continue;
        if (state != module_state::live || m->refcount() != 0) {
          detail::fatal("ordo: module_registry destroyed while this module is pinned or "
                        "loading: ",
                        m->name());
        }
        remaining.push_back(m);
      }
    }
    for (module* m : remaining) {
      const std::error_code ec = try_unload(m->name());
      if (ec) detail::fatal("ordo: module_registry destroyed while this module is pinned: ",
                            m->name());
    }
  }

  /// Creates module `name` in state coming (the first half of load()).
  /// Returns nullptr with `error` set on failure: EINVAL empty name, EEXIST
  /// a module of that name is not gone. Thread-safe.
  [[nodiscard]] module* create(std::string_view name, std::error_code& error) {
    error.clear();
    if (name.empty()) {
      error = std::make_error_code(std::errc::invalid_argument);
      return nullptr;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (by_name_.contains(std::string(name))) {
      error = std::make_error_code(std::errc::file_exists);
      return nullptr;
    }
    modules_.push_back(std::unique_ptr<module>(new module(*this, std::string(name))));
    module* m = modules_.back().get();
    by_name_.emplace(std::string(name), m);
    return m;
  }

  /// Exports `fn` as `name` from `owner`, which must be coming. Errors:
  /// EINVAL (not coming, null fn, empty name, foreign module), EEXIST (name
  /// bound to another module that is not gone). Changes nothing on error.
  /// Thread-safe.
  template <class F>
  [[nodiscard]] std::error_code export_symbol(module* owner, std::string_view name, F* fn) {
    static_assert(std::is_function_v<F>, "ordo: symbol_get: Sig must be a function type");
    if (owner == nullptr || fn == nullptr || name.empty() || &owner->registry() != this) {
      return std::make_error_code(std::errc::invalid_argument);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (owner->state() != module_state::coming) {
      return std::make_error_code(std::errc::invalid_argument);
    }
    detail::symbol_entry* entry = find_entry(name);
    if (entry != nullptr) {
      // relaxed: writers are serialised by mutex_; this reads our own kind's writes.
      const detail::symbol_binding* bound = entry->binding.load(std::memory_order_relaxed);
      if (bound != nullptr) return std::make_error_code(std::errc::file_exists);
    } else {
      auto fresh = std::make_unique<detail::symbol_entry>();
      fresh->name = std::string(name);
      auto& head = buckets_[bucket_of(name)];
      // relaxed: mutex_ serialises writers; readers see the entry through
      // the release store of head below.
      fresh->next.store(head.load(std::memory_order_relaxed), std::memory_order_relaxed);
      entry = fresh.get();
      entries_.push_back(std::move(fresh));
      // release: partner is find_entry's acquire; the entry's name and next
      // are visible to a reader that reaches it.
      head.store(entry, std::memory_order_release);
    }
    bindings_.push_back(std::make_unique<detail::symbol_binding>(detail::symbol_binding{
        owner, detail::type_tag<F*>(), detail::type_tag<typename detail::remove_fn_noexcept<F>::type*>(),
        reinterpret_cast<detail::erased_fn>(fn)}));
    // release: partner is symbol_get's acquire load of the binding (O1).
    entry->binding.store(bindings_.back().get(), std::memory_order_release);
    owned_symbols_.emplace(owner, entry);
    return {};
  }

  /// coming → live: symbols become gettable. EINVAL if not coming. Thread-safe.
  [[nodiscard]] std::error_code go_live(module* m) {
    if (m == nullptr || &m->registry() != this) return std::make_error_code(std::errc::invalid_argument);
    std::lock_guard<std::mutex> lock(mutex_);
    if (m->state() != module_state::coming) return std::make_error_code(std::errc::invalid_argument);
    m->set_state(module_state::live);  // release (O1)
    return {};
  }

  /// Abandons a coming module (its init failed): it goes, waits for pins
  /// taken during init, and is gone; its exit does not run. EINVAL if not
  /// coming. Thread-safe; blocks while pins are held.
  [[nodiscard]] std::error_code abort_load(module* m) {
    if (m == nullptr || &m->registry() != this) return std::make_error_code(std::errc::invalid_argument);
    bool pinned = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (m->state() != module_state::coming) return std::make_error_code(std::errc::invalid_argument);
      m->exit_ = nullptr;
      pinned = block_pins(*m);
      m->set_state(module_state::going);
    }
    if (pinned) wait_unpinned(*m);
    finish_unload(*m);
    return {};
  }

  /// Loads a module: create, run `init(module_loader&)` (which exports
  /// symbols and may register an exit), then go live. If init returns an
  /// error_code that is set, the load is aborted and that error returned.
  /// Errors of create are returned as is. Thread-safe.
  template <class Init>
  [[nodiscard]] std::error_code load(std::string_view name, Init&& init) {
    std::error_code error;
    module* m = create(name, error);
    if (m == nullptr) return error;
    module_loader loader(*this, *m);
    auto run_init = [&] {
      if constexpr (std::is_same_v<std::invoke_result_t<Init&, module_loader&>, void>) {
        std::forward<Init>(init)(loader);
      } else {
        error = std::forward<Init>(init)(loader);
      }
    };
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
    try {
      run_init();
    } catch (...) {
      (void)abort_load(m);
      throw;
    }
#else  // -fno-exceptions: init can only return
    run_init();
#endif
    if (error) {
      (void)abort_load(m);
      return error;
    }
    return go_live(m);
  }

  /// The module `name` unless it is gone, else nullptr. The pointer stays
  /// valid as long as the registry (try_module_get on it fails once it goes).
  /// Thread-safe.
  [[nodiscard]] module* find(std::string_view name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? nullptr : it->second;
  }

  /// Unloads `name` if nobody pins it (delete_module with O_NONBLOCK).
  /// ENOENT no such module; EBUSY not live, or pinned: then nothing changed
  /// (I3). On success the exit function has run and the module is gone.
  /// Thread-safe.
  [[nodiscard]] std::error_code try_unload(std::string_view name) {
    module* m = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = by_name_.find(std::string(name));
      if (it == by_name_.end()) return std::make_error_code(std::errc::no_such_file_or_directory);
      m = it->second;
      if (m->state() != module_state::live) return std::make_error_code(std::errc::device_or_resource_busy);
      std::uint64_t expected = 0;
      // acq_rel: acquire reads the end of the puts' release sequence (O2);
      // release orders the going state for readers of refs_. On failure
      // (pinned) relaxed: nothing changes (I3).
      if (!m->refs_.compare_exchange_strong(expected, module::going_flag,
                                            std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
        return std::make_error_code(std::errc::device_or_resource_busy);
      }
      m->set_state(module_state::going);
    }
    finish_unload(*m);
    return {};
  }

  /// Unloads `name`, waiting for pins to drop (delete_module without
  /// O_NONBLOCK): new pins fail at once (O3), and the call returns once the
  /// last pin is dropped and the exit function ran (I1). ENOENT no such
  /// module; EBUSY coming or already going, or called from inside a call
  /// into the module through an owner_ref hook (it would wait for its own
  /// pin: reported on stderr, nothing changed, I6). Thread-safe; blocks.
  /// Must not be called while the caller holds another pin of the module
  /// (a symbol_ref, try_module_get): that waits forever.
  [[nodiscard]] std::error_code unload(std::string_view name) {
    module* m = nullptr;
    bool pinned = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = by_name_.find(std::string(name));
      if (it == by_name_.end()) return std::make_error_code(std::errc::no_such_file_or_directory);
      m = it->second;
      if (m->state() != module_state::live) return std::make_error_code(std::errc::device_or_resource_busy);
      if (detail::module_call_scope::inside_call_into(m)) {
        std::fprintf(stderr,
                     "ordo: module %s: unload() from inside a call into the module would "
                     "wait for its own pin; not unloaded (EBUSY)\n",
                     m->name_.c_str());
        return std::make_error_code(std::errc::device_or_resource_busy);
      }
      // Pins are blocked before the state says going, so whoever sees
      // "going" also fails to pin (the flag is earlier in refs_'s order).
      pinned = block_pins(*m);  // O3: from here on every try_module_get fails
      m->set_state(module_state::going);
    }
    if (pinned) wait_unpinned(*m);
    finish_unload(*m);
    return {};
  }

 private:
  template <class Sig>
  friend symbol_ref<Sig> symbol_get(const module_registry& registry, std::string_view name);

  static constexpr std::size_t bucket_count = 256;

  // Symbol names are short identifiers: hash them a word at a time (the
  // last word overlapping the previous one) instead of byte-wise, which is
  // most of the cost of a lookup. Collisions only cost a string compare.
  static std::size_t bucket_of(std::string_view name) noexcept {
    constexpr std::uint64_t mul = 0x9E3779B97F4A7C15ull;
    const char* p = name.data();
    const std::size_t n = name.size();
    std::uint64_t h = n * mul;
    auto mix = [&h](std::uint64_t word) {
      h = (h ^ word) * mul;
      h ^= h >> 32;
    };
    if (n >= 8) {
      std::size_t i = 0;
      for (; i + 8 <= n; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, p + i, 8);
        mix(word);
      }
      if (i < n) {
        std::uint64_t word;
        std::memcpy(&word, p + n - 8, 8);
        mix(word);
      }
    } else {
      std::uint64_t word = 0;
      for (std::size_t i = 0; i < n; ++i) word |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
      mix(word);
    }
    return static_cast<std::size_t>(h >> 56) % bucket_count;  // top bits are the best mixed
  }

  // Lock-free lookup: entries are prepend-only and never freed.
  detail::symbol_entry* find_entry(std::string_view name) const noexcept {
    // acquire: partner is export_symbol's release store of the bucket head
    // (and of each entry's next, published before its head store).
    for (detail::symbol_entry* e = buckets_[bucket_of(name)].load(std::memory_order_acquire);
         e != nullptr; e = e->next.load(std::memory_order_acquire)) {
      if (e->name == name) return e;
    }
    return nullptr;
  }

  // Sets the going flag: every later try_module_get fails (O3). Returns
  // whether pins were held then; if so, the decrement that takes the count
  // to zero will signal_released(), and the unloader must wait for that
  // signal (not just for the count) so the signaller is done with the
  // module before unload returns.
  static bool block_pins(module& m) noexcept {
    // acq_rel: release so a get that sees the flag also sees state going;
    // acquire reads the end of the puts' release sequence (O2).
    const std::uint64_t old = m.refs_.fetch_or(module::going_flag, std::memory_order_acq_rel);
    return (old & module::count_mask) != 0;
  }

  // Waits for the signal of the decrement that dropped the last pin (I1).
  static void wait_unpinned(module& m) {
    std::unique_lock<std::mutex> lock(m.wait_mutex_);
    m.released_cv_.wait(lock, [&m] { return m.released_; });
    // acquire: synchronizes with every put's release (O2); the last putter
    // also handed over wait_mutex_.
    (void)m.refs_.load(std::memory_order_acquire);
  }

  // going → gone: unbind the symbols, run exit, forget the name.
  void finish_unload(module& m) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto [first, last] = owned_symbols_.equal_range(&m);
      for (auto it = first; it != last; ++it) {
        // release: readers that load nullptr need no data; release keeps the
        // unbinding ordered after the going state (O3) for tidy observers.
        it->second->binding.store(nullptr, std::memory_order_release);
      }
      owned_symbols_.erase(first, last);
    }
    if (m.exit_) {
      std::function<void()> exit = std::move(m.exit_);
      m.exit_ = nullptr;
      exit();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    m.set_state(module_state::gone);
    auto it = by_name_.find(m.name_);
    if (it != by_name_.end() && it->second == &m) by_name_.erase(it);
  }

  mutable std::mutex mutex_;  // serialises every writer below
  std::vector<std::unique_ptr<module>> modules_;           // every module ever created
  std::unordered_map<std::string, module*> by_name_;       // modules not gone
  std::array<std::atomic<detail::symbol_entry*>, bucket_count> buckets_{};
  std::vector<std::unique_ptr<detail::symbol_entry>> entries_;
  std::vector<std::unique_ptr<detail::symbol_binding>> bindings_;
  std::unordered_multimap<module*, detail::symbol_entry*> owned_symbols_;
};

template <class F>
std::error_code module_loader::export_symbol(std::string_view name, F* fn) {
  return registry_->export_symbol(module_, name, fn);
}

/// A pinned, callable exported function (what symbol_get returns). Empty
/// with error() set when the lookup failed. Move-only; symbol_put happens in
/// the destructor (I5).
template <class Sig>
class symbol_ref {
  static_assert(std::is_function_v<Sig>, "ordo: symbol_get: Sig must be a function type");

 public:
  /// An empty reference (error ENOENT).
  symbol_ref() noexcept = default;
  /// Takes other's pin and function; other becomes empty.
  symbol_ref(symbol_ref&& other) noexcept
      : fn_(std::exchange(other.fn_, nullptr)),
        owner_(std::exchange(other.owner_, nullptr)),
        error_(other.error_) {}
  /// Releases this pin (as the destructor does), then takes other's; other becomes empty.
  symbol_ref& operator=(symbol_ref&& other) noexcept {
    if (this != &other) {
      reset();
      fn_ = std::exchange(other.fn_, nullptr);
      owner_ = std::exchange(other.owner_, nullptr);
      error_ = other.error_;
    }
    return *this;
  }
  symbol_ref(const symbol_ref&) = delete;
  symbol_ref& operator=(const symbol_ref&) = delete;
  ~symbol_ref() { reset(); }

  /// True when it holds the function (and a pin).
  [[nodiscard]] explicit operator bool() const noexcept { return fn_ != nullptr; }
  /// Why it is empty (ENOENT, EBUSY, EINVAL); clear when it is not.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }
  /// The function pointer (nullptr when empty). Valid while this pins it.
  [[nodiscard]] Sig* get() const noexcept { return fn_; }
  /// The pinned module (nullptr when empty).
  [[nodiscard]] module* owner() const noexcept { return owner_; }

  /// Calls the function. Calling an empty symbol_ref is reported (message,
  /// abort): there is no function to call.
  template <class... Args>
    requires std::is_invocable_v<Sig*, Args...>
  decltype(auto) operator()(Args&&... args) const
      noexcept(std::is_nothrow_invocable_v<Sig*, Args...>) {
    if (fn_ == nullptr) [[unlikely]] detail::fatal("ordo: call through an empty symbol_ref", "");
    return fn_(std::forward<Args>(args)...);
  }

  /// symbol_put now: drops the pin and empties this (error becomes ENOENT).
  void reset() noexcept {
    if (fn_ != nullptr) {
      fn_ = nullptr;
      module_put(std::exchange(owner_, nullptr));
      error_ = std::make_error_code(std::errc::no_such_file_or_directory);
    }
  }

 private:
  template <class S>
  friend symbol_ref<S> symbol_get(const module_registry& registry, std::string_view name);

  explicit symbol_ref(std::error_code error) noexcept : error_(error) {}
  symbol_ref(Sig* fn, module* owner) noexcept : fn_(fn), owner_(owner), error_() {}

  Sig* fn_ = nullptr;
  module* owner_ = nullptr;
  std::error_code error_ = std::make_error_code(std::errc::no_such_file_or_directory);
};

/// Looks up the function exported as `name` with type Sig and pins its
/// module (symbol_get). ENOENT missing or going/gone, EBUSY coming, EINVAL
/// signature mismatch (I4). Thread-safe; lock-free (no registry lock).
/// Ordering: acquire on the binding and the module state (O1).
template <class Sig>
[[nodiscard]] symbol_ref<Sig> symbol_get(const module_registry& registry, std::string_view name) {
  static_assert(std::is_function_v<Sig>, "ordo: symbol_get: Sig must be a function type");
  detail::symbol_entry* entry = registry.find_entry(name);
  if (entry == nullptr) return symbol_ref<Sig>(std::make_error_code(std::errc::no_such_file_or_directory));
  // acquire: partner is export_symbol's release store (O1).
  const detail::symbol_binding* binding = entry->binding.load(std::memory_order_acquire);
  if (binding == nullptr) return symbol_ref<Sig>(std::make_error_code(std::errc::no_such_file_or_directory));
  if (detail::type_tag<Sig*>() != binding->exact_type &&
      detail::type_tag<Sig*>() != binding->callable_type) {
    return symbol_ref<Sig>(std::make_error_code(std::errc::invalid_argument));
  }
  switch (binding->owner->state()) {  // acquire (O1)
    case module_state::coming:
      return symbol_ref<Sig>(std::make_error_code(std::errc::device_or_resource_busy));
    case module_state::live:
      break;
    default:
      return symbol_ref<Sig>(std::make_error_code(std::errc::no_such_file_or_directory));
  }
  if (!try_module_get(binding->owner)) {
    return symbol_ref<Sig>(std::make_error_code(std::errc::no_such_file_or_directory));
  }
  // The exported F* differs from Sig* at most by noexcept (checked above), so
  // calling through Sig* is a function pointer conversion's worth of change.
  return symbol_ref<Sig>(reinterpret_cast<Sig*>(binding->fn), binding->owner);
}

}  // namespace ordo

#endif  // ORDO_MODULE_HPP
