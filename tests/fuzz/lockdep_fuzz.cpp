// libFuzzer target: differential fuzzing of the runtime lock validator
// (ordo/lockdep.hpp) against a reference model of its documented rules,
// written here from lockdep.hpp's and ordered_mutex.hpp's header comments:
//
//   - a thread's held stack lists its locks in acquisition order, each with
//     a position (its acquisition number on that thread); a context is
//     current iff its position is the top entry's (0: holds nothing; -1:
//     an untracked lock's guard, always current);
//   - an acquisition of a lock the thread holds is a recursive_lock; else
//     one through a guard released by unlock() is released_guard_used, one
//     through a context that is not current a stale_context (try_lock too);
//   - a blocking acquisition is then checked against each held lock,
//     oldest first: the same level, not nestable: same_level, unless both
//     are of one lock_all batch; a nestable level: nest_order unless the
//     key is above the held one's (or equal, within one batch); otherwise
//     the edge held-class -> new-class joins the graph unless it would
//     close a cycle, which is a circular_dependency (the edge is dropped).
//     A class is a level, or a nestable level and a key;
//   - a try_lock never waits: it is checked for recursion and staleness
//     only and adds no edge; the lock it took adds edges later like any;
//   - a batch (lock_all) takes its distinct locks in ascending key, then
//     address order, each through the previous one's position: one order
//     for a nestable level however its instances are taken;
//   - the 49th lock of a thread is held_stack_overflow and untracked (its
//     release is silent later);
//   - a guard's end releases the innermost lock, else the lock found
//     nearest the top (unlock_out_of_order), else unlock_not_held; unlock()
//     releases any held lock silently; a second unlock() is
//     unlock_not_held; ordo::unlocked made while holding is
//     root_with_locks_held and starts from the top;
//   - unlocked_call through a guard that is not the innermost, or with
//     other locks held that no allow_held names, is wait_with_locks_held;
//     the lock is released as at a guard's end and re-taken through the
//     context the guard was made from.
//
// An input is a program of 4-byte records over three simulated threads and
// nine locks of four levels (A, B, a nestable N with keys 0, 1, 1, 2, and
// D, declared in that order): lock, try_lock and lock_all (2 or 3 locks)
// through a fresh ordo::callback_context, a fresh ordo::unlocked, or a
// context the program kept (a guard, a batch, a stored callback context or
// root: possibly stale, released or another thread's); a guard's release,
// unlock(), lock() (re-take), hand_over() and ordo::unlocked_call (with and
// without allow_held); keeping a context. Every step
// runs on the real ordered mutexes (validator_on over a lock that never
// blocks: a lock() the real lock would block on is not issued) and on the
// model. The order checks of the types are kept: a step that would not
// compile through its context is not issued, so the cross-level and
// same-level faults reach the validator the way they can in a program,
// through callback contexts, stale or released contexts and nestable
// instances. After every step the reports made (kinds, in order), every
// kept context's lockdep_position() and every thread's held count must be
// the model's; else the target shrinks the program, prints it with both
// verdicts of each step, and aborts.
//
// Threads are simulated on one OS thread by switching the validator's
// thread-local held stack (lockdep::detail::swap_held_for_testing): the
// program is deterministic and fast. Between inputs the graph is reset
// (lockdep::detail::reset_for_testing).
//
// ORDO_LOCKDEP_FUZZ_TRACE=1 in the environment prints every input's
// program and both verdicts of each step.
//
// Built without libFuzzer too (tests/fuzz/replay_main.cpp), to replay
// tests/fuzz/regressions/lockdep_fuzz/ and the seeds.
#include <ordo/lockdep.hpp>
#include <ordo/ordered_mutex.hpp>

// Clang's thread safety analysis: this target keeps guards in heap slots
// and releases them out of order, twice and from other threads on purpose;
// the analysis is proven on the same headers by tests/ordered_mutex_test.cpp.
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wthread-safety-analysis"
#endif

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using ordo::lockdep::report_kind;
using V = ordo::validator_on;
namespace ld = ordo::lockdep::detail;

constexpr int n_threads = 3;
int current_thread = 0;  // the simulated thread now running

// A lock that never blocks. It records its holder, so that the program
// does not issue a lock() the real lock would block on.
class sim_lock {
 public:
  sim_lock();
  void lock() {
    holder_ = current_thread;
    ++count_;
  }
  bool try_lock() {
    if (count_ > 0) return false;
    lock();
    return true;
  }
  void unlock() {
    if (count_ > 0 && --count_ == 0) holder_ = -1;
  }
  bool blocks(int thread) const { return count_ > 0 && holder_ != thread; }
  // Whether a re-take right after one release would block.
  bool blocks_after_release(int thread) const { return count_ > 1 && holder_ != thread; }
  bool held() const { return count_ > 0; }
  void reset() {
    count_ = 0;
    holder_ = -1;
  }

 private:
  int count_ = 0;
  int holder_ = -1;
};

// Every sim_lock in construction order: lock id n is the n-th.
std::vector<sim_lock*>& sim_locks() {
  static std::vector<sim_lock*>* all = new std::vector<sim_lock*>;
  return *all;
}
sim_lock::sim_lock() { sim_locks().push_back(this); }

}  // namespace

// Atomics-free and single-threaded: nothing for TSan to annotate.
template <>
inline constexpr bool ordo::lockable_is_tsan_visible_v<sim_lock> = true;

namespace {

struct lock_a : ordo::level<> {};
struct lock_b : ordo::level<lock_a> {};
struct lock_n : ordo::nestable_level<lock_b> {};
struct lock_d : ordo::level<lock_n> {};
template <class L>
using mutex_of = ordo::ordered_mutex<L, sim_lock, V>;

constexpr int n_locks = 9;
constexpr int n_levels = 4;
constexpr int level_of[n_locks] = {0, 0, 1, 1, 2, 2, 2, 2, 3};
constexpr std::uint32_t key_of[n_locks] = {0, 0, 0, 0, 0, 1, 1, 2, 0};
constexpr int first_of_level[n_levels] = {0, 2, 4, 8};
constexpr int count_of_level[n_levels] = {2, 2, 4, 1};
constexpr bool is_nestable_level[n_levels] = {false, false, true, false};
const char* const lock_names[n_locks] = {"A0", "A1", "B0", "B1", "N0(key 0)",
                                         "N1(key 1)", "N2(key 1)", "N3(key 2)", "D0"};
const char* const level_names[n_levels] = {"A", "B", "N", "D"};

struct lock_set {
  mutex_of<lock_a> a[2];
  mutex_of<lock_b> b[2];
  mutex_of<lock_n> n[4] = {
      mutex_of<lock_n>(ordo::nest_key{0}), mutex_of<lock_n>(ordo::nest_key{1}),
      mutex_of<lock_n>(ordo::nest_key{1}), mutex_of<lock_n>(ordo::nest_key{2})};
  mutex_of<lock_d> d[1];
};
// Never destroyed: the validator's classes outlive every input.
lock_set& locks() {
  static lock_set* const set = new lock_set;
  return *set;
}

// Calls f(mutexes of the level) with the level's array.
template <class F>
decltype(auto) with_level(int level, F&& f) {
  lock_set& s = locks();
  switch (level) {
    case 0: return f(s.a);
    case 1: return f(s.b);
    case 2: return f(s.n);
    default: return f(s.d);
  }
}

// ---------------------------------------------------------------------------
// The reference model

constexpr long no_position = -1;
constexpr long released_position = -2;
constexpr std::size_t max_held = 48;
constexpr int n_classes = 6;  // A, B, N key 0, N key 1, N key 2, D

int class_of(int lock) {
  switch (level_of[lock]) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 2 + static_cast<int>(key_of[lock]);
    default: return 5;
  }
}

struct model {
  struct entry {
    int lock;
    long position;
    long batch;  // the lock_all call it was taken by, 0 if none
  };
  struct thread {
    std::vector<entry> held;
    long last = 0;
    unsigned dropped = 0;
  };
  std::array<thread, n_threads> threads;
  bool edge[n_classes][n_classes] = {};
  std::vector<report_kind> said;  // the reports the current step makes

  long top(int t) const {
    return threads[t].held.empty() ? 0 : threads[t].held.back().position;
  }
  bool path(int from, int to) const {
    bool seen[n_classes] = {};
    int todo[n_classes];
    int n = 0;
    todo[n++] = from;
    seen[from] = true;
    while (n > 0) {
      const int at = todo[--n];
      if (at == to) return true;
      for (int next = 0; next < n_classes; ++next) {
        if (edge[at][next] && !seen[next]) {
          seen[next] = true;
          todo[n++] = next;
        }
      }
    }
    return false;
  }

  long acquire(int t, int lock, bool trylock, long batch, long ctx) {
    thread& me = threads[t];
    const bool recursive = std::any_of(me.held.begin(), me.held.end(),
                                       [&](const entry& e) { return e.lock == lock; });
    if (recursive) {
      said.push_back(report_kind::recursive_lock);
    } else if (ctx == released_position) {
      said.push_back(report_kind::released_guard_used);
    } else if (ctx != no_position && ctx != top(t)) {
      said.push_back(report_kind::stale_context);
    }
    for (const entry& h : me.held) {
      if (trylock) break;
      if (h.lock == lock) continue;
      const bool one_batch = batch != 0 && h.batch == batch;
      if (level_of[h.lock] == level_of[lock]) {
        if (!is_nestable_level[level_of[lock]]) {
          if (!one_batch) said.push_back(report_kind::same_level);
          continue;
        }
        if (key_of[lock] < key_of[h.lock] || (key_of[lock] == key_of[h.lock] && !one_batch)) {
          said.push_back(report_kind::nest_order);
          continue;
        }
        if (key_of[lock] == key_of[h.lock]) continue;  // one class, one batch
      }
      const int from = class_of(h.lock);
      const int to = class_of(lock);
      if (edge[from][to]) continue;
      if (path(to, from)) {
        said.push_back(report_kind::circular_dependency);
        continue;
      }
      edge[from][to] = true;
    }
    if (me.held.size() == max_held) {
      said.push_back(report_kind::held_stack_overflow);
      ++me.dropped;
      return no_position;
    }
    me.held.push_back(entry{lock, ++me.last, batch});
    return me.last;
  }

  // A guard's end: the innermost, else the one nearest the top.
  void release(int t, int lock) {
    thread& me = threads[t];
    if (!me.held.empty() && me.held.back().lock == lock) {
      me.held.pop_back();
      return;
    }
    early_release(t, lock, report_kind::unlock_out_of_order);
  }
  // unlock(): any held lock, the one nearest the top.
  void early_release(int t, int lock, std::optional<report_kind> out_of_order = std::nullopt) {
    thread& me = threads[t];
    for (std::size_t i = me.held.size(); i-- > 0;) {
      if (me.held[i].lock != lock) continue;
      me.held.erase(me.held.begin() + static_cast<std::ptrdiff_t>(i));
      if (out_of_order) said.push_back(*out_of_order);
      return;
    }
    if (me.dropped > 0) {
      --me.dropped;
      return;
    }
    said.push_back(report_kind::unlock_not_held);
  }
  long root(int t) {
    if (!threads[t].held.empty()) said.push_back(report_kind::root_with_locks_held);
    return top(t);
  }
};

// ---------------------------------------------------------------------------
// The program

enum class op : std::uint8_t {
  lock, try_lock, lock_all, release, unlock, relock, hand_over, keep_context
};

struct step {
  int thread;
  op what;
  std::uint8_t a, b, c;
};

// Where a take goes through: a fresh context, or a kept one.
constexpr int fresh_callback = -1;
constexpr int fresh_root = -2;

// What a take asks for, decoded: the level and instances (per level) for
// lock/try_lock (one) or lock_all (two or three).
struct take_request {
  op what;
  int level;
  int count;
  int instance[3];
};

// The site every step names: a plain function's, so that a report's text
// (which prints the function) stays short; the templates' own names are
// hundreds of characters, and reports are most of an input's cost.
std::source_location site() { return std::source_location::current(); }

template <class List>
struct list_size;
template <class... T>
struct list_size<ordo::detail::type_list<T...>>
    : std::integral_constant<std::size_t, sizeof...(T)> {};

// Contexts holding more than max_depth levels are not used as contexts
// (their type grows with every take: this bounds the instantiations).
constexpr std::size_t max_depth = 2;
// lock(ctx) compiles (ordered_mutex.hpp I2): every held level is before
// the new one, or it is the same nestable level.
template <class Level, class List>
struct order_allows;
template <class Level, class... H>
struct order_allows<Level, ordo::detail::type_list<H...>>
    : std::bool_constant<(true && ... &&
                          (ordo::lock_before_v<typename H::level, Level> ||
                           (std::is_same_v<typename H::level, Level> &&
                            ordo::level_nestable_v<Level>)))> {};
template <class Ctx, class M>
constexpr bool takes_v = list_size<typename Ctx::held_levels>::value < max_depth &&
                         order_allows<typename M::level_type, typename Ctx::held_levels>::value;

template <class T>
struct is_guard : std::false_type {};
template <class OM, bool S, class H>
struct is_guard<ordo::guard<OM, S, H>> : std::true_type {};

// A context the program keeps: a guard, a batch, a callback context or a root.
struct slot {
  virtual ~slot() = default;
  virtual long position() const = 0;
  virtual bool can_take(int level) const = 0;
  virtual std::unique_ptr<slot> take(const take_request& r) = 0;
  virtual bool can_unlock() const { return false; }
  virtual void unlock() {}
  virtual bool can_relock() const { return false; }
  virtual void relock() {}
  virtual bool can_hand_over() const { return false; }
  virtual void hand_over(int) {}
  virtual bool can_call_out() const { return false; }
  virtual bool outer_levels() const { return false; }
  virtual void call_out(bool) {}
};

// ordo::allow_held<every outer level of a guard's held list> (I4).
template <class List>
struct allow_outer;
template <class... H>
struct allow_outer<ordo::detail::type_list<H...>> {
  using type = ordo::allow_held_t<typename H::level...>;
};

template <class Ctx>
std::unique_ptr<slot> take_through(Ctx& ctx, const take_request& r);

template <class G>
struct kept final : slot {
  G g;
  template <class Make>
  explicit kept(Make&& make) : g(make()) {}

  long position() const override { return g.lockdep_position(); }
  bool can_take(int level) const override {
    return with_level(level, []<class M, std::size_t N>(M (&)[N]) { return takes_v<G, M>; });
  }
  std::unique_ptr<slot> take(const take_request& r) override { return take_through(g, r); }
  bool can_unlock() const override { return is_guard<G>::value; }
  void unlock() override {
    if constexpr (is_guard<G>::value) g.unlock(site());
  }
  bool can_relock() const override {
    if constexpr (is_guard<G>::value) {
      return list_size<typename G::held_levels>::value == 1;
    } else {
      return false;
    }
  }
  void relock() override {
    if constexpr (is_guard<G>::value) {
      if constexpr (list_size<typename G::held_levels>::value == 1) g.lock(site());
    }
  }
  bool can_hand_over() const override {
    if constexpr (is_guard<G>::value) {
      return std::is_same_v<typename G::mutex_type, mutex_of<lock_n>>;
    } else {
      return false;
    }
  }
  void hand_over(int instance) override {
    if constexpr (is_guard<G>::value) {
      if constexpr (std::is_same_v<typename G::mutex_type, mutex_of<lock_n>>) {
        g.hand_over(locks().n[instance], site());
      }
    }
  }
  bool can_call_out() const override {
    if constexpr (is_guard<G>::value) {
      return g.owns_lock();
    } else {
      return false;
    }
  }
  bool outer_levels() const override {
    if constexpr (is_guard<G>::value) {
      return list_size<typename G::held_levels>::value > 1;
    } else {
      return false;
    }
  }
  // unlocked_call, without or (allow) with ordo::allow_held<the outer levels>.
  void call_out(bool allow) override {
    if constexpr (is_guard<G>::value) {
      constexpr bool outer = list_size<typename G::held_levels>::value > 1;
      if constexpr (!outer) {
        if (!allow) {
          ordo::unlocked_call(g, [] {}, site());
          return;
        }
      }
      using allow_t = typename allow_outer<ordo::detail::outer_of_t<typename G::held_levels>>::type;
      ordo::unlocked_call(g, [] {}, allow_t{}, site());
    }
  }
};

template <class Make>
std::unique_ptr<slot> make_kept(Make&& make) {
  return std::make_unique<kept<decltype(make())>>(make);
}

template <class Ctx>
std::unique_ptr<slot> take_through(Ctx& ctx, const take_request& r) {
  return with_level(r.level, [&]<class M, std::size_t N>(M (&m)[N]) -> std::unique_ptr<slot> {
    if constexpr (!takes_v<Ctx, M>) {
      return nullptr;
    } else {
      switch (r.what) {
        case op::lock:
          return make_kept([&] { return m[r.instance[0]].lock(ctx, site()); });
        case op::try_lock: {
          auto g = m[r.instance[0]].try_lock(ctx, site());
          if (!g) return nullptr;
          return make_kept([&] { return std::move(*g); });
        }
        default:
          if (r.count == 2) {
            return make_kept([&] {
              return ordo::lock_all<Ctx, M, M>(ctx, m[r.instance[0]], m[r.instance[1]], site());
            });
          }
          return make_kept([&] {
            return ordo::lock_all<Ctx, M, M, M>(ctx, m[r.instance[0]], m[r.instance[1]],
                                                m[r.instance[2]], site());
          });
      }
    }
  });
}

// What the model knows of a kept context.
struct modeled {
  enum class kind { guard, batch, callback, root } what;
  int owner;
  std::vector<int> locks;  // a guard's one, a batch's in batch order
  long position;           // the lock's, or a root's start
  long parent;             // a guard's: the context position it was taken through
  bool released = false;
  long visible() const { return released ? released_position : position; }
};

const char* kind_name(report_kind k) {
  switch (k) {
    case report_kind::circular_dependency: return "circular_dependency";
    case report_kind::recursive_lock: return "recursive_lock";
    case report_kind::same_level: return "same_level";
    case report_kind::nest_order: return "nest_order";
    case report_kind::stale_context: return "stale_context";
    case report_kind::unlock_not_held: return "unlock_not_held";
    case report_kind::unlock_out_of_order: return "unlock_out_of_order";
    case report_kind::wait_with_locks_held: return "wait_with_locks_held";
    case report_kind::root_with_locks_held: return "root_with_locks_held";
    case report_kind::held_stack_overflow: return "held_stack_overflow";
    case report_kind::held_lock_freed: return "held_lock_freed";
    case report_kind::released_guard_used: return "released_guard_used";
    case report_kind::not_held: return "not_held";  // assert_held: never issued here
  }
  return "?";
}

std::string kinds_text(const std::vector<report_kind>& ks) {
  if (ks.empty()) return "none";
  std::string out;
  for (report_kind k : ks) {
    if (!out.empty()) out += ", ";
    out += kind_name(k);
  }
  return out;
}

bool recording = false;
std::vector<report_kind> reports_seen;
void record(const ordo::lockdep::report& r) {
  if (recording) reports_seen.push_back(r.kind);
}

constexpr std::size_t max_steps = 64;
// 49 kept guards of one lock overflow the held stack (48), one report each.
constexpr std::size_t max_kept = 52;
// A report costs microseconds (its text lists the held stack): an input
// ends after the step that brings it past this many, so that inputs that
// fault at every step on a deep stack stay cheap.
constexpr std::size_t max_reports = 64;

// One run of a program on the validator and the model.
class run {
 public:
  run() = default;
  run(const run&) = delete;
  run& operator=(const run&) = delete;
  ~run() { clean_up(); }

  // Runs the program; returns the first disagreement, or nothing. With a
  // trace, writes each step and its verdicts there.
  std::optional<std::string> execute(const std::vector<step>& program, std::string* trace,
                                     std::size_t* failed_at) {
    tracing_ = trace != nullptr;
    std::size_t reports_so_far = 0;
    for (std::size_t i = 0; i < program.size(); ++i) {
      const step& s = program[i];
      switch_to(s.thread);
      reports_seen.clear();
      m_.said.clear();
      recording = true;
      std::string what = perform(s);
      recording = false;
      if (trace != nullptr && !what.empty()) {
        *trace += "  " + std::to_string(i) + ": T" + std::to_string(s.thread) + " " + what +
                  "\n      reports: " + kinds_text(reports_seen) +
                  "; the model: " + kinds_text(m_.said) + "\n";
      }
      std::optional<std::string> wrong = compare();
      if (wrong) {
        if (failed_at != nullptr) *failed_at = i;
        return "step " + std::to_string(i) + ": " + *wrong;
      }
      reports_so_far += reports_seen.size();
      if (reports_so_far > max_reports) break;
    }
    return std::nullopt;
  }

 private:
  void switch_to(int t) {
    if (t == current_thread) return;
    // parked_[current] is spare while current runs: park it, fetch t's.
    ld::swap_held_for_testing(parked_[current_thread]);
    ld::swap_held_for_testing(parked_[t]);
    current_thread = t;
  }

  std::string name(std::size_t k) const { return "g" + std::to_string(ids_[k]); }

  // A step's description, built only when tracing (else a one-character
  // placeholder that allocates nothing: "issued").
  template <class Describe>
  std::string text(Describe&& describe) const {
    return tracing_ ? describe() : std::string(1, '.');
  }

  // The context a take goes through, from the step's byte: a fresh
  // callback context or root, or a kept one.
  int context_of(std::uint8_t byte) const {
    const int n = 2 + static_cast<int>(real_.size());
    const int c = byte % n;
    return c == 0 ? fresh_callback : c == 1 ? fresh_root : c - 2;
  }
  std::string context_name(int ctx) const {
    if (ctx == fresh_callback) return "a fresh callback_context";
    if (ctx == fresh_root) return "a fresh ordo::unlocked";
    return name(static_cast<std::size_t>(ctx));
  }

  void keep(std::unique_ptr<slot> s, modeled info) {
    real_.push_back(std::move(s));
    model_.push_back(std::move(info));
    ids_.push_back(next_id_++);
  }

  static int lock_id(int level, int instance) { return first_of_level[level] + instance; }

  std::string perform(const step& s) {
    const int t = s.thread;
    switch (s.what) {
      case op::lock:
      case op::try_lock:
      case op::lock_all:
        return perform_take(s);
      case op::keep_context: {
        if (real_.size() >= max_kept) return {};
        if (s.a & 1u) {
          const long at = m_.root(t);
          keep(make_kept([] { return ordo::basic_unlocked<V>(site()); }),
               modeled{modeled::kind::root, t, {}, at, 0});
          return text([&] { return name(real_.size() - 1) + " = ordo::unlocked (kept)"; });
        }
        const long at = m_.top(t);
        keep(make_kept([] { return ordo::basic_callback_context<V>(); }),
             modeled{modeled::kind::callback, t, {}, at, 0});
        return text([&] { return name(real_.size() - 1) + " = callback_context (kept)"; });
      }
      default:
        break;
    }
    if (real_.empty()) return {};
    const std::size_t k = s.a % real_.size();
    modeled& mk = model_[k];
    const auto g = [&] { return name(k); };
    switch (s.what) {
      case op::release: {
        if (mk.what == modeled::kind::guard && !mk.released) m_.release(t, mk.locks[0]);
        if (mk.what == modeled::kind::batch) {
          for (std::size_t i = mk.locks.size(); i-- > 0;) m_.release(t, mk.locks[i]);
        }
        const std::string gone = text(g);  // named before it goes
        real_.erase(real_.begin() + static_cast<std::ptrdiff_t>(k));
        model_.erase(model_.begin() + static_cast<std::ptrdiff_t>(k));
        ids_.erase(ids_.begin() + static_cast<std::ptrdiff_t>(k));
        return text([&] { return "destroys " + gone; });
      }
      case op::unlock: {
        if (!real_[k]->can_unlock()) return {};
        if (mk.released) {
          m_.said.push_back(report_kind::unlock_not_held);
        } else {
          m_.early_release(t, mk.locks[0]);
          mk.released = true;
        }
        real_[k]->unlock();
        return text([&] { return g() + ".unlock() (" + lock_names[mk.locks[0]] + ")"; });
      }
      case op::relock: {
        if (s.b % 3u == 2u) {
          // unlocked_call: drop the guard's lock, call out, re-take it.
          if (!real_[k]->can_call_out()) return {};
          const int lock = mk.locks[0];
          if (sim_locks()[static_cast<std::size_t>(lock)]->blocks_after_release(t)) return {};
          const bool allow = real_[k]->outer_levels() || (s.c & 1u) != 0;
          const auto& held = m_.threads[t].held;
          const bool innermost = !held.empty() && held.back().lock == lock &&
                                 held.back().position == mk.position;
          if (!innermost || (!allow && held.size() != 1)) {
            m_.said.push_back(report_kind::wait_with_locks_held);
          }
          m_.release(t, lock);
          mk.position = m_.acquire(t, lock, false, 0, mk.parent);
          real_[k]->call_out(allow);
          return text([&] {
            return "ordo::unlocked_call(" + g() + (allow ? ", allow_held<outer levels>" : "") +
                   ") (" + lock_names[lock] + ")";
          });
        }
        if (s.b % 3u == 1u) {
          // hand_over to an N instance.
          if (!real_[k]->can_hand_over()) return {};
          const int instance = s.c % count_of_level[2];
          const int next = lock_id(2, instance);
          if (sim_locks()[static_cast<std::size_t>(next)]->blocks(t)) return {};
          const bool held_before = !mk.released;
          const int before = mk.locks[0];
          const long got = m_.acquire(t, next, false, 0, mk.visible());
          if (held_before) m_.early_release(t, before);
          mk.locks[0] = next;
          mk.position = got;
          mk.released = false;
          real_[k]->hand_over(instance);
          return text([&] {
            return g() + ".hand_over(" + lock_names[next] + ") from " + lock_names[before] +
                   (held_before ? "" : " (released)");
          });
        }
        if (!real_[k]->can_relock()) return {};
        const int lock = mk.locks[0];
        if (mk.released) {
          if (sim_locks()[static_cast<std::size_t>(lock)]->blocks(t)) return {};
          mk.position = m_.acquire(t, lock, false, 0, mk.parent);
          mk.released = false;
        } else {
          (void)m_.acquire(t, lock, false, 0, mk.parent);
          m_.early_release(t, lock);
        }
        real_[k]->relock();
        return text([&] {
          return g() + ".lock() (" + lock_names[lock] + ", through position " +
                 std::to_string(mk.parent) + ")";
        });
      }
      default:
        return {};
    }
  }

  std::string perform_take(const step& s) {
    const int t = s.thread;
    if (real_.size() >= max_kept) return {};
    const int ctx = context_of(s.a);
    take_request r{s.what, 0, 1, {0, 0, 0}};
    std::vector<int> ids;
    if (s.what == op::lock_all) {
      r.level = s.b % n_levels;
      r.count = 2 + (s.c & 1u);
      for (int i = 0; i < r.count; ++i) {
        r.instance[i] = ((s.c >> (1 + 2 * i)) & 3u) % count_of_level[r.level];
        ids.push_back(lock_id(r.level, r.instance[i]));
      }
    } else {
      const int id = s.b % n_locks;
      r.level = level_of[id];
      r.instance[0] = id - first_of_level[r.level];
      ids.push_back(id);
    }
    // Not issued: a take that would not compile through its context, or
    // one the real lock would block on.
    if (ctx >= 0 && !real_[static_cast<std::size_t>(ctx)]->can_take(r.level)) return {};
    if (s.what != op::try_lock) {
      for (int id : ids) {
        if (sim_locks()[static_cast<std::size_t>(id)]->blocks(t)) return {};
      }
    }

    std::string what;
    if (tracing_) {
      if (s.what == op::lock_all) {
        what = std::string("lock_all(") + level_names[r.level];
        for (int id : ids) what += std::string(" ") + lock_names[id];
        what += ")";
      } else {
        what = std::string(s.what == op::lock ? "lock " : "try_lock ") + lock_names[ids[0]];
      }
      what += " through " + context_name(ctx);
    }

    // The model.
    long ctx_position = 0;
    if (ctx == fresh_callback) ctx_position = m_.top(t);
    if (ctx == fresh_root) ctx_position = m_.root(t);
    if (ctx >= 0) ctx_position = model_[static_cast<std::size_t>(ctx)].visible();
    modeled info{modeled::kind::guard, t, {}, 0, ctx_position};
    bool taken = true;
    if (s.what == op::lock_all) {
      // I5: ascending key, then address (the array's order), each once.
      std::vector<int> order = ids;
      std::sort(order.begin(), order.end(), [](int x, int y) {
        return key_of[x] != key_of[y] ? key_of[x] < key_of[y] : x < y;
      });
      order.erase(std::unique(order.begin(), order.end()), order.end());
      const long batch = ++batches_;
      long position = ctx_position;
      for (int id : order) {
        const long got = m_.acquire(t, id, false, batch, position);
        if (position != no_position) position = got;
      }
      info.what = modeled::kind::batch;
      info.locks = order;
      info.position = position;
    } else if (s.what == op::try_lock) {
      taken = !sim_locks()[static_cast<std::size_t>(ids[0])]->held();
      if (taken) info.position = m_.acquire(t, ids[0], true, 0, ctx_position);
      info.locks = ids;
    } else {
      info.position = m_.acquire(t, ids[0], false, 0, ctx_position);
      info.locks = ids;
    }

    // The validator.
    std::unique_ptr<slot> got;
    if (ctx == fresh_callback) {
      ordo::basic_callback_context<V> cb;
      got = take_through(cb, r);
    } else if (ctx == fresh_root) {
      ordo::basic_unlocked<V> root(site());
      got = take_through(root, r);
    } else {
      got = real_[static_cast<std::size_t>(ctx)]->take(r);
    }
    if (!taken || got == nullptr) {
      if (taken != (got != nullptr)) {
        failure_ = "try_lock " + std::string(got ? "succeeded" : "failed") +
                   ", the model says the lock is " + (taken ? "free" : "held");
      }
      return text([&] { return std::string(what + (taken ? "" : " (fails: held)")); });
    }
    keep(std::move(got), std::move(info));
    return text([&] { return std::string(name(real_.size() - 1) + " = " + what); });
  }

  std::optional<std::string> compare() {
    if (!failure_.empty()) return failure_;
    if (reports_seen != m_.said) {
      return "the validator reported " + kinds_text(reports_seen) + ", the model says " +
             kinds_text(m_.said);
    }
    for (std::size_t k = 0; k < real_.size(); ++k) {
      const long got = real_[k]->position();
      if (got != model_[k].visible()) {
        return name(k) + ".lockdep_position() is " + std::to_string(got) + ", the model says " +
               std::to_string(model_[k].visible());
      }
    }
    for (int t = 0; t < n_threads; ++t) {
      const std::size_t got =
          t == current_thread ? ordo::lockdep::held_count() : parked_[t].size;
      if (got != m_.threads[t].held.size()) {
        return "thread T" + std::to_string(t) + " holds " + std::to_string(got) +
               " locks, the model says " + std::to_string(m_.threads[t].held.size());
      }
    }
    return std::nullopt;
  }

  // Releases what is left, unrecorded, and forgets the run: the next starts
  // from no history.
  void clean_up() {
    recording = false;
    while (!real_.empty()) {
      switch_to(model_.back().owner);
      real_.pop_back();
      model_.pop_back();
    }
    switch_to(0);
    ld::reset_for_testing();
    for (auto& p : parked_) p = ld::held_stack{};
    for (sim_lock* l : sim_locks()) l->reset();
  }

  model m_;
  std::vector<std::unique_ptr<slot>> real_;
  std::vector<modeled> model_;
  std::vector<int> ids_;
  int next_id_ = 0;
  long batches_ = 0;
  std::string failure_;
  bool tracing_ = false;
  ld::held_stack parked_[n_threads];
};

std::vector<step> decode(const std::uint8_t* data, std::size_t size) {
  std::vector<step> program;
  for (std::size_t at = 0; at + 4 <= size && program.size() < max_steps; at += 4) {
    const std::uint8_t head = data[at];
    static constexpr op ops[10] = {op::lock,    op::lock,   op::lock,     op::try_lock,
                                   op::lock_all, op::release, op::release, op::unlock,
                                   op::relock,  op::keep_context};
    program.push_back(step{head % n_threads, ops[(head / n_threads) % 10], data[at + 1],
                           data[at + 2], data[at + 3]});
  }
  return program;
}

std::optional<std::string> check(const std::vector<step>& program, std::string* trace = nullptr,
                                 std::size_t* failed_at = nullptr) {
  run r;
  return r.execute(program, trace, failed_at);
}

// Drops every step the disagreement does not need (any disagreement counts).
std::vector<step> shrink(std::vector<step> program, std::size_t failed_at) {
  program.resize(failed_at + 1);
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t i = program.size(); i-- > 0;) {
      std::vector<step> shorter = program;
      shorter.erase(shorter.begin() + static_cast<std::ptrdiff_t>(i));
      std::size_t at = 0;
      if (check(shorter, nullptr, &at)) {
        shorter.resize(at + 1);
        program = std::move(shorter);
        progress = true;
      }
    }
  }
  return program;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)locks();
  const auto previous = ordo::lockdep::set_report_handler(&record);
  const std::vector<step> program = decode(data, size);
  // ORDO_LOCKDEP_FUZZ_TRACE=1: print each input's program and verdicts
  // (to read what a seed or a regression does).
  static const bool show = std::getenv("ORDO_LOCKDEP_FUZZ_TRACE") != nullptr;
  std::string shown;
  std::size_t failed_at = 0;
  const bool wrong = check(program, show ? &shown : nullptr, &failed_at).has_value();
  if (show) std::fprintf(stderr, "program of %zu steps:\n%s", program.size(), shown.c_str());
  if (wrong) {
    const std::vector<step> small = shrink(program, failed_at);
    std::string trace;
    const auto wrong = check(small, &trace);
    std::fprintf(stderr,
                 "lockdep_fuzz: the validator disagrees with the model of its rules\n%s\n"
                 "shrunk program (%zu of %zu steps; threads T0-T2, gN a kept context):\n%s",
                 wrong ? wrong->c_str() : "(the shrunk program no longer fails)", small.size(),
                 program.size(), trace.c_str());
    std::abort();
  }
  ordo::lockdep::set_report_handler(previous);
  return 0;
}
