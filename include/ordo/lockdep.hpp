// ordo/lockdep.hpp — the runtime lock validator (lockdep for ordo's locks).
//
// What it is
//   The compile-time checks of ordered_mutex.hpp see one call chain at a
//   time: the levels in a context's type. They cannot see a context that was
//   passed on and then used again (a stale context), two instances of one
//   nestable level taken in the wrong order, a guard destroyed on another
//   thread, or a wait entered with locks held that the context's type does
//   not show. The validator watches every acquisition at run time, like the
//   kernel's lockdep:
//     - a per-thread stack of held locks (level, instance, acquisition site);
//     - a global dependency graph between lock classes (a level, or a level
//       plus an instance key for nestable levels). Taking B while holding A
//       adds the edge A -> B. An edge that closes a cycle is reported the
//       first time both orders have been *seen*, even if the two never
//       overlapped and no deadlock happened: thread 1 takes A then B and
//       exits; later thread 2 takes B then A: reported.
//   A report names both levels and both acquisition sites (file:line from
//   std::source_location), in the spirit of a lockdep splat, and goes to a
//   settable handler; the default prints it to stderr and aborts.
//
// When it is on
//   The validator is a policy of each lock type: ordo::validator_on or
//   ordo::validator_off. ordo::default_validator follows the ORDO_LOCKDEP
//   macro (on in the debug, tsan, asan and clang presets). Off, nothing is
//   added: no member, no call, sizeof(ordered_mutex<L>) == sizeof(absl::Mutex).
//   Naming the policy explicitly (ordered_mutex<L, absl::Mutex,
//   ordo::validator_on>) gives a validated lock in any build, which is how
//   one benchmark binary measures both without an ODR violation.
//
// When not to use it
//   In production builds: it takes a global mutex the first time each
//   dependency is seen (later it is a per-edge bit test; beyond the first
//   fast_classes lock classes, every time), and keeps a thread-local stack.
//   It only sees locks taken through ordo.
//
// The chain cache (the kernel's lookup_chain_cache / check_chain_key)
//   Each held entry carries the chain key of the stack up to it: a 64-bit
//   hash of the classes held, in order (iterate_chain_key). An acquisition
//   whose new chain (the held classes plus the one being taken, and whether
//   it is a try_lock) was validated before, on any thread, skips the scan
//   of the held stack: that scan found then, for the same classes in the
//   same order, no held lock of the level being taken and every dependency
//   known, and neither can change (edges are never forgotten outside
//   reset_for_testing, which empties the cache). The context check (I1) and
//   the push still run. A chain with a class twice is never validated (its
//   second lock is a same-level, nesting or recursion fault), so a lock
//   taken again, or a new order of known classes, always takes the scan and
//   is reported. Like the kernel's, the cache trusts the 64-bit key: two
//   different chains with one key would let the second skip its scan.
//
// Thread-safety contract
//   Every function here is thread-safe. The held stack is thread-local; the
//   graph is guarded by an internal std::mutex (graph_state::mutex), and a
//   bitmap of already-validated edges (O1) and a cache of validated chains
//   (O3) let the common path avoid it.
//
// Memory ordering (happens-before)
//   O1  An edge's bit in known_edges is set (relaxed) only after the edge was
//       inserted under graph_state::mutex. A thread that reads the bit may
//       skip the slow path: the edge is (or will be, once the inserter's
//       critical section ends) in the graph, and every cycle search runs
//       under the same mutex, so it sees it. The bit carries no other data,
//       so relaxed is enough.
//   O2  set_report_handler stores the handler with release; reporting loads
//       it with acquire, so a handler's own static state written before it
//       was installed is visible to it.
//   O3  A chain key is stored in chain_cache (relaxed) only after every edge
//       the chain needs was found known (O1). A thread that finds the key
//       relies on those edges as O1 does on a bit, and on nothing else.
//
// Invariants
//   I1  The held stack lists this thread's validated locks in acquisition
//       order, each with a position: its acquisition number on this thread
//       (0 means "holds nothing"). A context carries the position of the
//       lock it stands on (a root: the top's when it was made), so a context
//       is current iff its position is the top entry's. Positions do not
//       move when an entry below is released early (hand-over-hand), so
//       the guards above it stay current.
//   I2  An edge A -> B is in the graph only if no path B ->* A existed when
//       it was added: the graph stays acyclic, so each inversion is
//       reported once (at the first acquisition that would close a cycle)
//       and the offending edge is not recorded.
//   I3  Lock classes are numbered from 1 in order of first use; a class is
//       (level, instance key); the key is 0 except for nestable levels.
//   I4  A nestable level has one order, ascending instance key, whether its
//       instances are taken one by one or by one lock_all (which sorts by
//       key): one-by-one needs strictly ascending keys, a batch allows
//       equal ones among its own entries, and its ascending keys add edges
//       like one-by-one nesting. A batch is one lock_all call: a second
//       batch taken while a first is held is checked against it like any
//       acquisition (same_level, nest_order). A try_lock never waits: it
//       adds no edge and is never a second-lock or nesting-order fault.
//   I5  Every held entry's chain is iterate_chain_key over the classes of
//       the entries below it and its own, from initial_chain_key: kept on
//       push, and recomputed above an entry released out of order.
//
// Misuse
//   compile error  none (this header has no compile-time rules).
//   runtime report circular dependency, recursive lock (a self-deadlock,
//                  reported as that even when reached through a stale
//                  context), same non-nestable level twice, nestable
//                  instances out of order, stale context, a guard released
//                  by unlock() used as a context, unlock of a lock not held
//                  (a guard's second unlock() included), unlock out of
//                  order, wait with extra locks held, ordo::unlocked made
//                  while holding a lock, a held mutex destroyed ("held lock
//                  freed"), held stack overflow, an assertion that this
//                  thread holds a lock instance it does not hold
//                  (ordered_mutex::assert_held, the kernel's
//                  lockdep_assert_held).
//   undefined      a report handler that returns lets the program continue
//                  past the fault (a recursive lock then deadlocks).
//
// Example (a splat, abridged)
//   ordo lockdep: possible circular locking dependency detected
//   thread #2 is acquiring guests_level (lock 0x...) at assign.cpp:40
//   while holding mdevs_level (lock 0x...) acquired at assign.cpp:38
//   but the opposite order was seen before:
//     mdevs_level acquired at probe.cpp:20 while holding guests_level
//     acquired at probe.cpp:18
#ifndef ORDO_LOCKDEP_HPP
#define ORDO_LOCKDEP_HPP

#include <ordo/detail/abi_check.hpp>
#include <ordo/detail/config.hpp>
#include <ordo/detail/report.hpp>
#include <ordo/lock_level.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <mutex>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#ifndef ORDO_LOCKDEP
#define ORDO_LOCKDEP 0
#endif

namespace ordo {

/// Validator policy: every acquisition is checked at run time.
struct validator_on {
  /// True: this policy validates.
  static constexpr bool enabled = true;
};
/// Validator policy: nothing is checked at run time and nothing is stored.
struct validator_off {
  /// False: this policy validates nothing.
  static constexpr bool enabled = false;
};
/// The policy lock types use when none is named: follows ORDO_LOCKDEP.
#if ORDO_LOCKDEP
using default_validator = validator_on;
#else
using default_validator = validator_off;
#endif

namespace lockdep {

/// What a report is about.
enum class report_kind {
  circular_dependency,    ///< both orders of two classes seen (I2)
  recursive_lock,         ///< the same lock taken again by its holder
  same_level,             ///< a second lock of a non-nestable level
  nest_order,             ///< nestable instances not in ascending key order
  stale_context,          ///< a context used while a guard made from it lives
  unlock_not_held,        ///< release of a lock this thread does not hold
  unlock_out_of_order,    ///< release of a lock that is not the innermost
  wait_with_locks_held,   ///< wait/unlocked_call with other locks held
  root_with_locks_held,   ///< ordo::unlocked made while holding a lock
  held_stack_overflow,    ///< more than max_held locks held by one thread
  held_lock_freed,        ///< a mutex destroyed while this thread holds it
  released_guard_used,    ///< a guard released by unlock() used as a context
  not_held,               ///< lockdep_assert_held of a lock this thread does not hold
};

/// One lock at one site: which level, which instance, where.
struct lock_site {
  std::string_view level;      ///< the level's readable name
  const void* lock = nullptr;  ///< the instance
  std::source_location where;  ///< where it was (or is being) acquired
};

/// A validator report. `text` is the full, human-readable splat; `subject`
/// is the lock being taken/released/waited on, `other` the conflicting one
/// (the held lock, or the live child guard), when there is one.
struct report {
  /// What the validator found.
  report_kind kind;
  /// The full, human-readable report.
  std::string text;
  /// The lock being taken, released or waited on.
  lock_site subject;
  /// The conflicting lock, when there is one.
  lock_site other;
};

/// Called for every report. The default prints the text to stderr and
/// aborts. A handler may return (tests record reports: the program then
/// carries on past the fault), or throw to abandon the operation, which is
/// safe where the report comes before any state changes: an acquisition
/// (nothing is locked or recorded yet), a wait or unlocked_call (nothing is
/// dropped yet), a root context. Releases run in destructors: a handler
/// that throws there terminates the program.
using report_handler = void (*)(const report&);

/// The default handler: prints the report to stderr, then std::abort().
inline void default_report_handler(const report& r) noexcept {
  std::fputs(r.text.c_str(), stderr);
  std::fflush(stderr);
  std::abort();
}

namespace detail {

// O2: release/acquire pair between set_report_handler and dispatch
// (detail/report.hpp O1).
inline constinit ordo::detail::report_registry<report, &default_report_handler> reports;

enum entry_flags : std::uint32_t {
  entry_shared = 1u << 0,
  entry_trylock = 1u << 1,
  entry_batch = 1u << 2,  // one of a lock_all batch (same level, address order)
  entry_nestable = 1u << 3,
  entry_batch_next = 1u << 4,  // with entry_batch: not the batch's first lock (I4)
};

struct held_entry {
  const void* lock = nullptr;
  const void* level = nullptr;  // the level's tag (unique per level type)
  std::string_view name;
  std::source_location where;
  std::uint32_t cls = 0;
  std::uint32_t key = 0;
  std::uint32_t flags = 0;
  std::uint64_t position = 0;  // I1: this entry's position token
  std::uint64_t batch = 0;     // I4: the position of its batch's first lock, 0 if none
  std::uint64_t chain = 0;     // I5: the chain key of the stack up to this entry
};

// I1: the position tokens contexts carry. 0 is "this thread holds nothing";
// a held entry's token is its acquisition number on this thread.
inline constexpr long no_position = -1;        // a context the validator does not see
inline constexpr long released_position = -2;  // a guard released by unlock()

inline constexpr std::uint32_t max_held = 48;

struct held_stack {
  held_entry entries[max_held];
  std::uint32_t size = 0;
  std::uint64_t last_position = 0;  // I1: the newest entry's token so far
  std::uint32_t dropped = 0;     // pushes refused on overflow, released silently
  std::uint32_t thread_no = 0;   // 0 until the first report names this thread
};

// I1: this thread's held locks. constinit + trivial destructor: no TLS
// init guard on the hot path.
inline constinit thread_local held_stack held{};

// I1: the position of this thread's innermost lock, 0 when it holds none.
inline long top_position(const held_stack& st) noexcept {
  return st.size ? static_cast<long>(st.entries[st.size - 1].position) : 0;
}

// I5: chain keys (the kernel's iterate_chain_key). A class is never 0, so
// "class 0" marks a try_lock in a lookup key.
inline constexpr std::uint64_t initial_chain_key = 0x243f6a8885a308d3ull;
inline std::uint64_t iterate_chain_key(std::uint64_t key, std::uint32_t cls) noexcept {
  // A 64-bit mix (splitmix64's finalizer) of the key and the class.
  std::uint64_t x = key ^ ((std::uint64_t{cls} + 1) * 0x9e3779b97f4a7c15ull);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
inline std::uint64_t top_chain(const held_stack& st) noexcept {
  return st.size ? st.entries[st.size - 1].chain : initial_chain_key;
}

// O3: the validated chains, open addressing over chain_slots keys (0: an
// empty slot), at most chain_probes tries. A full neighbourhood only means
// the chain is scanned every time.
inline constexpr std::uint32_t chain_slots = 4096;  // 32 KiB
inline constexpr std::uint32_t chain_probes = 4;
inline constinit std::atomic<std::uint64_t> chain_cache[chain_slots]{};

// The key an acquisition looks up: its new chain, and whether it is a
// try_lock (which needs no known edge: a weaker validation). Never 0.
inline std::uint64_t chain_lookup_key(std::uint64_t chain, std::uint32_t flags) noexcept {
  const std::uint64_t key = (flags & entry_trylock) ? iterate_chain_key(chain, 0) : chain;
  return key == 0 ? 1 : key;
}

inline bool chain_validated(std::uint64_t key) noexcept {
  for (std::uint32_t i = 0; i < chain_probes; ++i) {
    // relaxed: O3.
    const std::uint64_t slot = chain_cache[(key + i) % chain_slots].load(std::memory_order_relaxed);
    if (slot == key) return true;
    if (slot == 0) return false;
  }
  return false;
}

inline void mark_chain_validated(std::uint64_t key) noexcept {
  for (std::uint32_t i = 0; i < chain_probes; ++i) {
    std::atomic<std::uint64_t>& slot = chain_cache[(key + i) % chain_slots];
    std::uint64_t seen = 0;
    // relaxed: O3; the key carries no data, a lost race only costs a scan.
    if (slot.compare_exchange_strong(seen, key, std::memory_order_relaxed) || seen == key) return;
  }
}

// I4: which lock_all batch an acquisition with `flags` belongs to: none
// (0), a new one (named by the position its first lock will get), or, for
// a batch's later locks, the batch of the lock just taken (a batch is
// taken in one call, nothing else in between).
inline std::uint64_t batch_of(const held_stack& st, std::uint32_t flags) noexcept {
  if ((flags & entry_batch) == 0) return 0;
  if ((flags & entry_batch_next) != 0 && st.size > 0 && st.entries[st.size - 1].batch != 0) {
    return st.entries[st.size - 1].batch;
  }
  return st.last_position + 1;
}

struct class_info {
  std::string_view name;
  const void* level;
  std::uint32_t key;
};

struct edge {
  std::uint32_t to;
  std::source_location from_where;  // where the held lock had been taken
  std::source_location to_where;    // where the new lock was taken
};

struct graph_state {
  std::mutex mutex;
  std::vector<class_info> classes;       // class id n is classes[n - 1] (I3)
  std::vector<std::vector<edge>> out;    // out[n - 1]: edges from class n
};

// Never destroyed: locks may be taken by threads still running at exit.
inline graph_state& graph() {
  static graph_state* const state = new graph_state;
  return *state;
}

// O1: a bit per validated edge between the first fast_classes classes.
inline constexpr std::uint32_t fast_classes = 512;  // a 32 KiB bitmap
inline constinit std::atomic<std::uint64_t> known_edges[fast_classes * fast_classes / 64]{};

inline bool edge_known(std::uint32_t from, std::uint32_t to) noexcept {
  if (from >= fast_classes || to >= fast_classes) return false;
  const std::uint32_t bit = from * fast_classes + to;
  // relaxed: O1, the bit only says "already validated".
  return (known_edges[bit / 64].load(std::memory_order_relaxed) >> (bit % 64)) & 1u;
}

inline void mark_edge_known(std::uint32_t from, std::uint32_t to) noexcept {
  if (from >= fast_classes || to >= fast_classes) return;
  const std::uint32_t bit = from * fast_classes + to;
  // relaxed: O1, set after the insertion under graph_state::mutex.
  known_edges[bit / 64].fetch_or(std::uint64_t{1} << (bit % 64), std::memory_order_relaxed);
}

template <class Level>
inline constexpr char level_tag = 0;

inline std::uint32_t register_class(std::string_view name, const void* level, std::uint32_t key) {
  graph_state& g = graph();
  std::lock_guard<std::mutex> lock(g.mutex);
  for (std::size_t i = 0; i < g.classes.size(); ++i) {
    if (g.classes[i].level == level && g.classes[i].key == key) {
      return static_cast<std::uint32_t>(i + 1);
    }
  }
  g.classes.push_back(class_info{name, level, key});
  g.out.emplace_back();
  return static_cast<std::uint32_t>(g.classes.size());
}

template <class Level>
inline constinit std::atomic<std::uint32_t> level_class{0};

// The class of a level with key 0 (every non-nestable lock).
template <class Level>
inline std::uint32_t class_of() {
  // relaxed: the id is a plain number; the class data it names is only read
  // under graph_state::mutex, and register_class is idempotent.
  std::uint32_t id = level_class<Level>.load(std::memory_order_relaxed);
  if (id == 0) {
    id = register_class(ordo::detail::type_name_v<Level>, &level_tag<Level>, 0);
    level_class<Level>.store(id, std::memory_order_relaxed);  // relaxed: as above
  }
  return id;
}

// Concatenation by append: GCC 12 at -O3 reports false -Wrestrict
// overlaps in chains of std::string operator+.
inline void append_all(std::string& out, std::initializer_list<std::string_view> parts) {
  for (std::string_view part : parts) out.append(part);
}
template <class... Parts>
inline void append_all(std::string& out, const Parts&... parts) {
  append_all(out, {std::string_view(parts)...});
}
template <class... Parts>
inline std::string cat(const Parts&... parts) {
  std::string out;
  append_all(out, parts...);
  return out;
}

inline std::string to_text(const std::source_location& where) {
  std::string out = where.file_name();
  out += ':';
  out += std::to_string(where.line());
  if (where.function_name()[0] != '\0') {
    out += " (";
    out += where.function_name();
    out += ')';
  }
  return out;
}

inline std::string pointer_text(const void* p) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%p", p);
  return buffer;
}

inline std::string describe(const held_entry& e) {
  std::string out(e.name);
  if (e.flags & entry_nestable) {
    out += "/key ";
    out += std::to_string(e.key);
  }
  out += " (lock ";
  out += pointer_text(e.lock);
  out += (e.flags & entry_shared) ? ", shared)" : ")";
  return out;
}

inline std::uint32_t thread_number() {
  static std::atomic<std::uint32_t> next{1};
  if (held.thread_no == 0) {
    // relaxed: only uniqueness matters.
    held.thread_no = next.fetch_add(1, std::memory_order_relaxed);
  }
  return held.thread_no;
}

inline std::string held_list_text() {
  std::string out = cat("locks held by thread #", std::to_string(thread_number()), ":\n");
  if (held.size == 0) out += "  (none)\n";
  for (std::uint32_t i = 0; i < held.size; ++i) {
    append_all(out, "  #", std::to_string(i), " ", describe(held.entries[i]), " acquired at ",
               to_text(held.entries[i].where), "\n");
  }
  return out;
}

inline void dispatch(report_kind kind, std::string title, std::string body, lock_site subject,
                     lock_site other) {
  report r{kind, {}, subject, other};
  r.text = "\n======================================================\n";
  append_all(r.text, "ordo lockdep: ", title, "\n");
  r.text += "------------------------------------------------------\n";
  r.text += body;
  append_all(r.text, "\n", held_list_text());
  r.text += "======================================================\n";
  reports.report(r);  // acquire: O2
}

inline lock_site site_of(const held_entry& e) { return lock_site{e.name, e.lock, e.where}; }

// Finds a path from -> ... -> to in the graph (caller holds the mutex);
// returns the edges along it, empty if there is none.
inline std::vector<std::pair<std::uint32_t, edge>> find_path(graph_state& g, std::uint32_t from,
                                                             std::uint32_t to) {
  std::vector<std::pair<std::uint32_t, edge>> came_by(g.classes.size() + 1, {0, edge{0, {}, {}}});
  std::vector<char> seen(g.classes.size() + 1, 0);
  std::vector<std::uint32_t> todo{from};
  seen[from] = 1;
  while (!todo.empty()) {
    const std::uint32_t at = todo.back();
    todo.pop_back();
    for (const edge& e : g.out[at - 1]) {
      if (seen[e.to]) continue;
      seen[e.to] = 1;
      came_by[e.to] = {at, e};
      if (e.to == to) {
        std::vector<std::pair<std::uint32_t, edge>> path;
        for (std::uint32_t node = to; node != from; node = came_by[node].first) {
          path.push_back(came_by[node]);
        }
        return {path.rbegin(), path.rend()};
      }
      todo.push_back(e.to);
    }
  }
  return {};
}

// Adds held -> taking to the graph, or reports the cycle it would close.
inline void add_dependency(const held_entry& held_lock, const held_entry& taking) {
  if (edge_known(held_lock.cls, taking.cls)) return;
  graph_state& g = graph();
  std::string cycle;
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    for (const edge& e : g.out[held_lock.cls - 1]) {
      if (e.to == taking.cls) {
        mark_edge_known(held_lock.cls, taking.cls);
        return;
      }
    }
    const auto path = find_path(g, taking.cls, held_lock.cls);
    if (path.empty()) {
      g.out[held_lock.cls - 1].push_back(edge{taking.cls, held_lock.where, taking.where});
      mark_edge_known(held_lock.cls, taking.cls);
      return;
    }
    for (const auto& [from, e] : path) {
      append_all(cycle, "  ", std::string(g.classes[e.to - 1].name), " acquired at ",
                 to_text(e.to_where), "\n    while holding ", std::string(g.classes[from - 1].name),
                 " acquired at ", to_text(e.from_where), "\n");
    }
  }
  std::string body =
      cat("thread #", std::to_string(thread_number()), " is acquiring\n  ", describe(taking),
          " at ", to_text(taking.where), "\nwhile holding\n  ", describe(held_lock),
          " acquired at ", to_text(held_lock.where), "\nbut the opposite order was seen before (",
          std::string(taking.name), " before ", std::string(held_lock.name), "):\n", cycle,
          "this order would close a cycle: a possible deadlock.\n");
  dispatch(report_kind::circular_dependency, "possible circular locking dependency detected",
           std::move(body), site_of(taking), site_of(held_lock));
}

// Where a context stands relative to this thread's held stack (I1).
struct context_place {
  bool current;          // the context is the innermost: its token is the top's
  const held_entry* child;  // else: the lock taken through it that is still held
};

inline context_place place_of(const held_stack& st, long ctx_position) noexcept {
  if (ctx_position == no_position || ctx_position == top_position(st)) return {true, nullptr};
  if (ctx_position == 0) return {false, st.size ? &st.entries[0] : nullptr};
  for (std::uint32_t i = 0; i + 1 < st.size; ++i) {
    if (static_cast<long>(st.entries[i].position) == ctx_position) {
      return {false, &st.entries[i + 1]};
    }
  }
  return {false, nullptr};
}

inline void report_recursive(const held_entry& taking, const held_entry& h, bool stale) {
  std::string body =
      cat("thread #", std::to_string(thread_number()), " is acquiring\n  ", describe(taking),
          " at ", to_text(taking.where), "\nwhich it already holds:\n  ", describe(h),
          " acquired at ", to_text(h.where), "\nthis is a self-deadlock",
          stale ? " (reached through a stale context: the lock was taken through it and "
                  "is still held).\n"
                : ".\n");
  dispatch(report_kind::recursive_lock, "recursive locking detected: self-deadlock",
           std::move(body), site_of(taking), site_of(h));
}

inline void report_stale(const held_stack& st, const held_entry& taking, long ctx_position) {
  if (ctx_position == released_position) {
    std::string body = cat("thread #", std::to_string(thread_number()), " is acquiring\n  ",
                           describe(taking), " at ", to_text(taking.where),
                           "\nthrough a guard that was released with unlock(): it holds "
                           "nothing, so what its type claims is held is not.\n");
    dispatch(report_kind::released_guard_used, "released guard used as a lock context",
             std::move(body), site_of(taking), lock_site{});
    return;
  }
  const context_place place = place_of(st, ctx_position);
  std::string body = cat("thread #", std::to_string(thread_number()), " is acquiring\n  ",
                         describe(taking), " at ", to_text(taking.where),
                         "\nthrough a context that is not this thread's innermost: ");
  if (place.child != nullptr) {
    append_all(body, "the lock\n  ", describe(*place.child), " acquired at ",
               to_text(place.child->where),
               "\nwas taken through that context and is still held. Use the newest guard "
               "as the context.\n");
  } else {
    body +=
        "the context claims more locks than this thread holds (a context from "
        "another thread, or one whose lock was released).\n";
  }
  dispatch(report_kind::stale_context, "stale lock context used", std::move(body),
           site_of(taking), place.child ? site_of(*place.child) : lock_site{});
}

// An acquisition's fields, stored one by one into `e` (a held-stack slot
// or the slow path's entry); position and chain are the caller's.
inline void fill_entry(held_entry& e, const void* lock, const void* level, std::string_view name,
                       std::source_location where, std::uint32_t cls, std::uint32_t key,
                       std::uint32_t flags, std::uint64_t batch) noexcept {
  e.lock = lock;
  e.level = level;
  e.name = name;
  e.where = where;
  e.cls = cls;
  e.key = key;
  e.flags = flags;
  e.batch = batch;
}

// The full check of an acquisition: reports, new edges, overflow. Kept out
// of line so that the common path (on_acquire) stays small. Returns the new
// entry's position, or no_position when the stack overflowed.
//
// The slow path builds the new entry itself, here rather than in
// on_acquire: an entry on on_acquire's own stack would give every
// acquisition a stack frame with an addressable local (under ASan, a fake
// frame allocated and poisoned per call: in the model fuzzers, a third of
// on_acquire's time).
[[gnu::noinline]] inline long acquire_slow(const void* lock, const void* level,
                                           std::string_view name, std::source_location where,
                                           std::uint32_t cls, std::uint32_t key,
                                           std::uint32_t flags, long ctx_position) {
  held_stack& st = held;
  held_entry taking;
  fill_entry(taking, lock, level, name, where, cls, key, flags, batch_of(st, flags));
  const bool current = place_of(st, ctx_position).current && ctx_position != released_position;
  // A lock this thread holds already: a self-deadlock, whatever context led
  // here (a stale one included), so it is reported as that, once.
  bool recursive = false;
  for (std::uint32_t i = 0; i < st.size && !recursive; ++i) {
    if (st.entries[i].lock == taking.lock) {
      recursive = true;
      report_recursive(taking, st.entries[i], !current);
    }
  }
  if (!recursive && !current) report_stale(st, taking, ctx_position);
  for (std::uint32_t i = 0; i < st.size; ++i) {
    const held_entry& h = st.entries[i];
    if (h.lock == taking.lock) continue;  // reported above
    // A trylock cannot wait: it adds no edge and is never a second-lock or
    // nesting-order fault.
    if (taking.flags & entry_trylock) continue;
    if (h.level == taking.level) {
      // I4: "a batch" is one lock_all call; two batches of a level
      // nested one in the other are two acquisitions like any.
      const bool one_batch = h.batch != 0 && h.batch == taking.batch;
      if ((taking.flags & entry_nestable) == 0) {
        if (one_batch) continue;  // lock_all's address order (I5 of ordered_mutex.hpp)
        std::string body =
            cat("thread #", std::to_string(thread_number()), " is acquiring\n  ", describe(taking),
                " at ", to_text(taking.where), "\nwhile holding another lock of that level\n  ",
                describe(h), " acquired at ", to_text(h.where),
                "\nthe level is not nestable: take both with ordo::lock_all.\n");
        dispatch(report_kind::same_level, "second lock of a non-nestable level", std::move(body),
                 site_of(taking), site_of(h));
        continue;
      }
      // I4: one order for a nestable level, however its instances are
      // taken: ascending key (a lock_all batch may hold equal keys).
      if (taking.key < h.key || (taking.key == h.key && !one_batch)) {
        std::string body =
            cat("thread #", std::to_string(thread_number()), " is acquiring\n  ", describe(taking),
                " at ", to_text(taking.where), "\nwhile holding\n  ", describe(h), " acquired at ",
                to_text(h.where),
                "\ninstances of a nestable level must be taken in ascending key "
                "order.\n");
        dispatch(report_kind::nest_order, "nestable level instances taken out of order",
                 std::move(body), site_of(taking), site_of(h));
        continue;
      }
      // Equal keys of one batch are one class: no edge. Ascending keys of
      // one batch are an order like one-by-one nesting (I4, and I5 of
      // ordered_mutex.hpp): the edge joins the graph.
      if (taking.key == h.key) continue;
    }
    add_dependency(h, taking);
  }
  if (st.size == max_held) {
    ++st.dropped;
    std::string body = cat("thread #", std::to_string(thread_number()), " is acquiring\n  ",
                           describe(taking), " at ", to_text(taking.where), "\nwith ",
                           std::to_string(max_held), " locks already held; it is not tracked.\n");
    dispatch(report_kind::held_stack_overflow, "too many locks held", std::move(body),
             site_of(taking), lock_site{});
    return no_position;
  }
  taking.position = ++st.last_position;
  taking.chain = iterate_chain_key(top_chain(st), taking.cls);  // I5
  st.entries[st.size++] = taking;
  return static_cast<long>(taking.position);
}

// Validates and records an acquisition made through a context at
// ctx_position (I1; no_position when the context carries none). Returns the
// new entry's position. The common case, the current context and only
// known edges, is a scan of the held stack and a push; anything else goes
// to acquire_slow.
inline long on_acquire(const void* lock, const void* level, std::string_view name,
                       std::source_location where, std::uint32_t cls, std::uint32_t key,
                       std::uint32_t flags, long ctx_position) {
  held_stack& st = held;
  const std::uint32_t n = st.size;
  const std::uint64_t chain = iterate_chain_key(top_chain(st), cls);  // I5
  bool common = (ctx_position == top_position(st) || ctx_position == no_position) && n < max_held;
  // The chain cache: these classes in this order were validated before.
  const std::uint64_t lookup = chain_lookup_key(chain, flags);
  if (common && !chain_validated(lookup)) {
    for (std::uint32_t i = 0; common && i < n; ++i) {
      const held_entry& h = st.entries[i];
      common = h.lock != lock && h.level != level &&
               ((flags & entry_trylock) != 0 || edge_known(h.cls, cls));
    }
    if (common) mark_chain_validated(lookup);  // O3: after every edge was found known
  }
  if (!common) [[unlikely]] {
    return acquire_slow(lock, level, name, where, cls, key, flags, ctx_position);
  }
  // Scalar stores: building the entry elsewhere and copying it costs a
  // store-forwarding stall on every acquisition.
  held_entry& slot = st.entries[n];
  fill_entry(slot, lock, level, name, where, cls, key, flags, batch_of(st, flags));
  slot.chain = chain;
  slot.position = ++st.last_position;
  st.size = n + 1;
  return static_cast<long>(slot.position);
}

inline void report_not_held(const void* lock, std::string_view name, std::source_location where,
                            const char* why) {
  std::string body = cat("thread #", std::to_string(thread_number()), " is releasing\n  ",
                         std::string(name), " (lock ", pointer_text(lock), ") at ", to_text(where),
                         "\nwhich this thread does not hold (", why, ").\n");
  dispatch(report_kind::unlock_not_held, "bad unlock balance: release of a lock not held",
           std::move(body), lock_site{name, lock, where}, lock_site{});
}

// lockdep_assert_held failed: the lock at `lock` is not held by this thread
// (`instead`: the lock of the same level the context holds, when known).
[[gnu::noinline]] inline void report_assert_held(const void* lock, std::string_view name,
                                                 const void* instead,
                                                 std::source_location where) {
  std::string body = cat("thread #", std::to_string(thread_number()), " asserts at ",
                         to_text(where), " that it holds\n  ", std::string(name), " (lock ",
                         pointer_text(lock), ")\nwhich it does not hold");
  if (instead != nullptr) {
    append_all(body, "; its context holds another lock of that level, ", pointer_text(instead));
  }
  body += ".\n";
  dispatch(report_kind::not_held, "lockdep_assert_held failed: lock not held", std::move(body),
           lock_site{name, lock, where}, lock_site{name, instead, {}});
}

// lockdep_assert_held(lock): this thread's held stack has the instance (in
// either mode). A stack that overflowed may lack it: then nothing is said.
inline void on_assert_held(const void* lock, std::string_view name, std::source_location where) {
  const held_stack& st = held;
  for (std::uint32_t i = 0; i < st.size; ++i) {
    if (st.entries[i].lock == lock) return;
  }
  if (st.dropped == 0) report_assert_held(lock, name, nullptr, where);
}

// Removes entry i of this thread's held stack, keeping the others' order
// and positions (I1).
inline void remove_entry(held_stack& st, std::uint32_t i) noexcept {
  for (std::uint32_t j = i; j + 1 < st.size; ++j) st.entries[j] = st.entries[j + 1];
  --st.size;
  // I5: the entries above i no longer hold the removed class below them.
  for (std::uint32_t j = i; j < st.size; ++j) {
    const std::uint64_t below = j == 0 ? initial_chain_key : st.entries[j - 1].chain;
    st.entries[j].chain = iterate_chain_key(below, st.entries[j].cls);
  }
}

// The unusual releases: out of order, or not held.
[[gnu::noinline]] inline void release_slow(const void* lock, std::string_view name,
                                           std::source_location where) {
  held_stack& st = held;
  for (std::uint32_t i = st.size; i-- > 0;) {
    if (st.entries[i].lock != lock) continue;
    const held_entry released = st.entries[i];
    const held_entry& top = st.entries[st.size - 1];
    std::string body = cat("thread #", std::to_string(thread_number()), " is releasing\n  ",
                           describe(released), " acquired at ", to_text(released.where),
                           "\nbefore the lock taken after it\n  ", describe(top), " acquired at ",
                           to_text(top.where),
                           "\nguards must be released in reverse order (release one early on "
                           "purpose with its unlock()).\n");
    const lock_site other = site_of(top);
    remove_entry(st, i);
    dispatch(report_kind::unlock_out_of_order, "lock released out of order", std::move(body),
             site_of(released), other);
    return;
  }
  if (st.dropped > 0) {  // an untracked lock of an overflowed stack
    --st.dropped;
    return;
  }
  report_not_held(lock, name, where, "a guard moved to another thread?");
}

// Records a release; reports one that is out of order or not held.
inline void on_release(const void* lock, std::string_view name, std::source_location where) {
  held_stack& st = held;
  if (st.size > 0 && st.entries[st.size - 1].lock == lock) [[likely]] {
    --st.size;
    return;
  }
  release_slow(lock, name, where);
}

// An explicit early release (a guard's unlock()): the lock may be any held
// one, not only the innermost (hand-over-hand). The locks taken after it
// keep their positions, so their guards stay current (I1).
inline void on_early_release(const void* lock, std::string_view name, std::source_location where) {
  held_stack& st = held;
  for (std::uint32_t i = st.size; i-- > 0;) {
    if (st.entries[i].lock == lock) {
      remove_entry(st, i);
      return;
    }
  }
  if (st.dropped > 0) {
    --st.dropped;
    return;
  }
  report_not_held(lock, name, where, "a guard moved to another thread?");
}

// A second unlock() of a guard: reported, nothing is released.
inline void on_double_unlock(const void* lock, std::string_view name, std::source_location where) {
  report_not_held(lock, name, where, "double unlock: this guard was already released");
}

// A mutex is destroyed: this thread must not hold it (the kernel's
// debug_check_no_locks_freed).
[[gnu::noinline]] inline void report_held_lock_freed(const held_entry& h) {
  std::string body = cat("thread #", std::to_string(thread_number()), " destroys\n  ",
                         describe(h), " acquired at ", to_text(h.where),
                         "\nwhile holding it: its guard will release freed memory.\n");
  dispatch(report_kind::held_lock_freed, "held lock freed", std::move(body), site_of(h),
           lock_site{});
}

inline void on_destroy(const void* lock) {
  const held_stack& st = held;
  for (std::uint32_t i = 0; i < st.size; ++i) {
    if (st.entries[i].lock == lock) {
      report_held_lock_freed(st.entries[i]);  // out of line, as report_root_context
      return;
    }
  }
}

// A root context made while this thread holds locks: the report, out of
// line (its strings would give on_root_context, which every operation runs,
// a stack frame with addressable locals: under ASan a fake frame a call).
[[gnu::noinline]] inline long report_root_context(std::source_location where) {
  held_stack& st = held;
  const held_entry& top = st.entries[st.size - 1];
  std::string body =
      cat("thread #", std::to_string(thread_number()), " makes an ordo::unlocked root context at ",
          to_text(where), "\nwhile holding\n  ", describe(top), " acquired at ", to_text(top.where),
          "\npass the current guard down instead of a fresh root context, or, in a callback "
          "that cannot receive it, use ordo::callback_context.\n");
  dispatch(report_kind::root_with_locks_held, "root context made while holding a lock",
           std::move(body), lock_site{"ordo::unlocked", nullptr, where}, site_of(top));
  return top_position(st);
}

// ordo::unlocked was made: the thread must hold nothing. Returns the
// position the root starts from (the innermost lock's, after a report).
inline long on_root_context(std::source_location where) {
  if (held.size == 0) return 0;
  return report_root_context(where);
}

// ordo::callback_context was made: it starts from whatever is held.
inline long current_position() noexcept { return top_position(held); }

// A wait or unlocked_call on `lock`, made through a guard at `position`:
// that guard must be the innermost lock, and (unless outer locks are
// allowed) the only one.
inline void on_wait(const void* lock, std::string_view name, long position, bool outer_allowed,
                    std::source_location where) {
  held_stack& st = held;
  const bool innermost = st.size > 0 && st.entries[st.size - 1].lock == lock &&
                         static_cast<long>(st.entries[st.size - 1].position) == position;
  if (innermost && (outer_allowed || st.size == 1)) return;
  const held_entry& other = innermost ? st.entries[0] : st.entries[st.size ? st.size - 1 : 0];
  std::string also_held = "(nothing)";
  if (st.size) also_held = cat(describe(other), " acquired at ", to_text(other.where));
  std::string body = cat("thread #", std::to_string(thread_number()), " drops\n  ",
                         std::string(name), " (lock ", pointer_text(lock), ") at ", to_text(where),
                         "\nto wait or call out, while also holding\n  ", also_held,
                         "\nwhich stays held across the wait: whoever must take it to make "
                         "progress is blocked (the busy-flag-and-wait-queue inversion).\n");
  dispatch(report_kind::wait_with_locks_held, "wait with other locks held", std::move(body),
           lock_site{name, lock, where}, st.size ? site_of(other) : lock_site{});
}

// Test hooks: for the validator's own tests and fuzzer only, not part of
// the public API (nothing in the library calls them, so they cost nothing
// in the normal path). Neither may run while another thread uses the
// validator.

// Forgets every dependency the graph has recorded (its edges and their
// known_edges bits, O1, and the chains validated with them, O3) and empties the calling thread's held stack, so
// that the next test input starts from no history. The lock classes stay
// (I3): ids cached by level_class and by nestable mutexes remain valid.
inline void reset_for_testing() noexcept {
  graph_state& g = graph();
  std::lock_guard<std::mutex> lock(g.mutex);
  for (auto& out : g.out) out.clear();
  // Only the rows and columns of registered classes can have bits set.
  const std::uint32_t n = static_cast<std::uint32_t>(g.classes.size());
  const std::uint32_t last = n < fast_classes ? n : fast_classes - 1;
  for (std::uint32_t from = 0; from <= last; ++from) {
    const std::uint32_t first_bit = from * fast_classes;
    for (std::uint32_t w = first_bit / 64; w <= (first_bit + last) / 64; ++w) {
      // relaxed: O1; no other thread uses the validator meanwhile.
      known_edges[w].store(0, std::memory_order_relaxed);
    }
  }
  // O3: a validated chain relied on edges that are gone now.
  for (auto& slot : chain_cache) slot.store(0, std::memory_order_relaxed);  // relaxed: as above
  held = held_stack{};
}

// Swaps the calling thread's held stack (I1) with `other`: a test that
// simulates several threads on one OS thread keeps each one's stack and
// switches it in before acting as that thread.
inline void swap_held_for_testing(held_stack& other) noexcept {
  const held_stack mine = held;
  held = other;
  other = mine;
}

}  // namespace detail

/// Installs `h` as the report handler (nullptr restores the default) and
/// returns the previous one. Thread-safe; release (O2).
inline report_handler set_report_handler(report_handler h) noexcept {
  return detail::reports.install(h);  // acq_rel: O2
}

/// Number of validated locks the calling thread holds now. Thread-safe.
inline std::size_t held_count() noexcept { return detail::held.size; }

}  // namespace lockdep
}  // namespace ordo

#endif  // ORDO_LOCKDEP_HPP
