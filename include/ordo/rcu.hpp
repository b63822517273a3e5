// ordo/rcu.hpp — read-copy-update: read sections that cost about a plain
// load, grace periods, and deferred reclamation.
//
// What it is
//   An RCU domain lets many reader threads use a shared object without
//   locking, while a writer replaces it: the writer unpublishes the old
//   object, waits for a grace period (synchronize()), and may then free it,
//   because every read section that could have seen the old object has
//   ended. retire(ptr, deleter) defers the free instead of waiting. This is
//   the kernel's rcu_read_lock()/synchronize_rcu()/call_rcu() and liburcu's
//   "memb" flavour, as a C++ object:
//
//     ordo::rcu_domain              a domain: its readers, grace periods and
//                                   retired objects; unrelated domains never
//                                   wait for each other's readers
//     ordo::rcu_default_domain()    the process-wide domain
//     ordo::rcu_read_guard          an RAII read section (nesting allowed)
//
//   The standard's interface (C++26 [saferecl.rcu], P2545) is here under the
//   same names and semantics, so a program written for <rcu> compiles with
//   std:: replaced by ordo:: (tests/rcu_test.cpp, RcuStd.*):
//
//     rcu_obj_base<T, D>            T's base; x.retire(d, dom) schedules
//                                   d(&x) without allocating (noexcept)
//     rcu_domain::lock/try_lock/unlock
//                                   Cpp17Lockable: std::scoped_lock and
//                                   std::unique_lock open a read section
//     rcu_default_domain() noexcept, rcu_synchronize(dom) noexcept,
//     rcu_barrier(dom) noexcept, rcu_retire(p, d, dom)
//
//   ordo's extensions beyond the standard: domains of one's own (the
//   constructor, rcu_domain_options: fence mode, backlog limit, and
//   rcu_reclaim::thread, deleters on a reclaimer thread of the domain, as
//   liburcu's call_rcu thread); the member forms read_lock/read_unlock,
//   synchronize, barrier, retire and the guard rcu_read_guard; the
//   statistics (backlog, grace_periods, reader_threads, fence_mode,
//   in_read_section); the misuse reports below; registration-free readers
//   whose records survive the thread's thread_local destructors; fork
//   support. Where the standard allows unlock() to run deleters, ordo's
//   never does (a read section's end costs a store, nothing more).
//
//   Readers register nothing: the first read section of a thread in a domain
//   creates the thread's reader record (its counter on a cache line of its
//   own; the default domain's is in the thread's TLS block, I14), and thread
//   exit unlinks and frees it, after every thread_local destructor of the
//   thread (I9). A read section, in the common case, is a
//   thread-local lookup, a load of the domain's epoch, and one store at each
//   end to a word in the thread's own record: no atomic read-modify-write,
//   no write to a cache line another thread writes (about 0.5 ns over a
//   bare acquire load and call, below liburcu's memb flavour; see
//   bench/hook_bench.cpp). The writer pays instead: it issues membarrier(2)
//   MEMBARRIER_CMD_PRIVATE_EXPEDITED (a full fence on every running thread
//   of the process) and then reads every reader's record.
//
//   The fast path, whichever way a section is opened (rcu_read_guard,
//   read_lock()/read_unlock(), lock()/unlock() through std::scoped_lock, a
//   call through an rcu_protect hook_ptr), is inlined. For the default
//   domain (I14), as GCC 12 emits a hook call on x86-64: entry, a compare of
//   the domain pointer with a constant address and a branch, the thread
//   pointer (one %fs load), a load of the record's counter, a test of its
//   depth and a branch, a load of the epoch, an add and a plain store to
//   the counter (and a test that the value is not 0, which the compiler
//   cannot drop; see enter_resident); exit, the thread pointer again, a
//   load of the counter compared with what entry stored (a section opened
//   inside and not closed, or closed twice, goes to the slow path) and a
//   branch, a subtract and a plain store, then a load of the record's
//   writer_waiting word (the line just written) and a branch not taken
//   unless a grace period sleeps for this reader (I13). Twenty-two
//   instructions (the five compare-and-branch pairs fuse), seven loads (two
//   of them the thread pointer, one the hook pointer's domain) and two
//   stores besides the call itself, no lock-prefixed instruction, no fence
//   (acquire loads and release stores are plain moves on x86; the
//   compiler-only fence orders the entry store before the section's loads
//   and membarrier(2) supplies the CPU's part), and the only line written is
//   the thread's own counter line (I7). Three of the tests (the domain, the
//   exit compare, writer_waiting) cost about 0.15 ns each here, measured by
//   building the call without each in turn; without the three the call
//   costs what the bare acquire load and call cost. A domain of its own
//   costs one more compare: a thread-local cache of the last domain entered
//   (its serial against the domain's) and a load of the cached record
//   pointer. Everything else (first use, nesting, domains past the cache,
//   teardown, misuse) is out of line.
//
// When not to use it
//   When writes are frequent (every grace period costs a system call and a
//   scan of all reader threads, about a microsecond or more), when readers
//   block for long (they delay every writer of the domain), or when the data
//   is one word (use std::atomic). Not for objects a reader must keep beyond
//   its read section: take a reference (ordo::ref) inside the section.
//
// Thread-safety contract
//   Every member is thread-safe. A read section belongs to the thread that
//   opened it: read_unlock() on another thread is misuse. Objects reachable
//   from a published pointer must not be modified in place by writers while
//   readers may see them (copy, update, publish the copy).
//
// Memory ordering (happens-before)
//   O1  Grace period. If a read section S of domain D began before a call
//       W = D.synchronize() (that is, S's read_lock() did not observe any
//       write the caller of W made before W), then everything S did
//       happens-before W returns. Consequently a pointer unpublished before W
//       and loaded inside S may be freed after W.
//   O2  Reader side of O1. A section that begins after W started either
//       observes every write made before W (the unpublish) or is waited for.
//       In membarrier mode the reader's compiler-only fence pairs with the
//       writer's membarrier(2); in fallback mode both sides use a seq_cst
//       fence. Every store to a reader record is a release store and the
//       writer reads records with acquire loads, so the edge of O1 is an
//       ordinary C++ happens-before edge from the end of S (or from a later
//       store of the same thread, which follows S) to the writer. That is
//       also how ThreadSanitizer learns the grace period: no __tsan_*
//       annotation is needed, correct use is clean, and an access after the
//       section ended is reported (tests/rcu_test.cpp,
//       RcuDomainDeathTest.TsanReportsUseAfterRetire).
//   O3  retire(p, d): d(p) runs after a grace period that started after
//       retire() was called, so O1 holds between every read section that
//       could see p and the deleter.
//   O4  barrier(): every deleter retired before barrier() was called has run
//       (and everything it did happens-before barrier() returns).
//   O5  Shared grace periods. Concurrent synchronize() calls share grace
//       periods: a call needs one grace period that started after it arrived
//       (I12), not one of its own. Its arrival is an acq_rel read-modify-
//       write of gp_seq_; the start of every later grace period is a
//       read-modify-write of the same word, so it reads the arrival's value
//       or a later one of that chain (a release sequence) and everything the
//       caller did before the call (its unpublish) happens-before that grace
//       period's epoch increment and heavy fence: O2 covers it exactly as
//       it covers the writes of the thread that runs the grace period (the
//       fence is cumulative). The call returns after an acquire load of
//       gp_seq_ that reads the end of such a grace period, so O1 carries
//       over. A caller that finds a grace period running that started before
//       it arrived waits for it to end and for the next one, which it may
//       run itself or find run by another caller (the kernel's and liburcu's
//       batching).
//
// Invariants (the code refers to them)
//   I1  A reader record's counter is one word: the domain epoch loaded by
//       the outermost read_lock (high 48 bits) plus the nesting depth (low
//       16 bits, 0 outside sections). Only the owning thread writes it. The
//       outermost lock stores epoch|1 (a value loaded from the domain, not
//       from the record) and the matching unlock stores epoch|0 from the
//       token the lock returned, so consecutive sections carry no
//       dependency through memory, and no shared line is written.
//   I2  A grace period advances the epoch to `target` and then waits until
//       every record has depth 0 or an epoch >= target: a record with an
//       older epoch is a section that began before the grace period. A
//       reader that keeps entering sections loads the new epoch and so
//       cannot starve the writer.
//   I3  Grace periods of one domain are serialised by gp_mutex_; the
//       registry lists (readers_, waiting_) are guarded by registry_mutex_,
//       which a writer never holds while it sleeps, so thread start and
//       exit are never stalled by a slow reader.
//   I4  A record's `domain` pointer is guarded by the global registry mutex:
//       domain destruction sets it to null (the record is then an orphan its
//       thread frees), thread exit unlinks the record from a live domain.
//   I5  Deleters run in the thread that called barrier(), the domain's
//       destructor, or a retire() that found the backlog full
//       (rcu_reclaim::caller), or on the domain's reclaimer thread
//       (rcu_reclaim::thread: then retire() never runs one); one batch at a
//       time (reclaim_mutex_), oldest first.
//   I6  A thread finds its record through a one-entry thread-local cache of
//       the last membarrier-mode domain it entered, then a per-domain
//       thread-local slot (the first 31 live domains), then its record list.
//       Domain serials are never reused, so a stale cache or slot entry
//       never matches.
//   I7  A read section stores only to its record's counter line; the list
//       links that grace periods rewrite are on another line.
//   I8  A read_lock() past the depth limit is reported and ignored, and so
//       is its read_unlock() (the record counts the ignored locks).
//   I9  A thread's records are freed by a POSIX thread-specific-data
//       destructor, which glibc runs after the thread's C++ thread_local
//       destructors, so those see the thread's ordinary records. Sections
//       opened later (from other thread-specific-data destructors) are
//       anonymous: counted in the domain's anonymous_readers_ (grace periods
//       wait for them) and in the thread's own depth table (so
//       in_read_section() knows them and the waits below report).
//   I10 A record still inside a section at teardown is ended (reported) and
//       kept, unlinked, for the process's life: a guard whose destructor
//       runs later finds it ended and its unlock is reported, it never
//       touches freed memory nor the anonymous count.
//   I11 ~rcu_domain runs deleter batches until none is pending (deleters may
//       retire more).
//   I12 gp_seq_ is twice the number of grace periods ended, plus one while
//       one runs; only the holder of gp_mutex_ changes it (one increment at
//       the start, one at the end). A caller arriving at value a needs the
//       value (a + 3) & ~1: the end of the next grace period if none ran at
//       a, else of the one after. While a grace period runs, callers that
//       need a later one spin briefly, then sleep on gp_seq_ (a futex word)
//       after a seq_cst increment of gp_sharers_ and a seq_cst re-load of
//       gp_seq_; the end is a seq_cst increment of gp_seq_ followed by a
//       seq_cst load of gp_sharers_. In the single total order of seq_cst
//       operations either the sleeper's re-load sees the end (it does not
//       sleep), or the end's load sees the sleeper and calls FUTEX_WAKE after
//       changing the word, which futex(2) guarantees reaches a sleeper that
//       compared the old value. No lost wake-up.
//   I13 A grace period that still waits after spinning (in either fence
//       mode; for fallback mode's one race see the end of I13) sleeps until
//       the reader it waits for ends its section, woken by that reader. Writer: under registry_mutex_ it stores writer_waiting = 1 in
//       every record it still waits for (W), then issues a second heavy
//       fence (F); then, until none is left: an acquire load of
//       reader_wakes_ (value v), a scan, and FUTEX_WAIT on reader_wakes_
//       expecting v. Reader: every store that may end a section (S) is
//       followed by a compiler-only fence and a relaxed load of its record's
//       writer_waiting (X, on the counter's line); if X reads 1 and the
//       section ended, the reader clears the flag, does a release increment
//       of reader_wakes_ (I) and FUTEX_WAKE. No lost wake-up, for a record
//       the writer sleeps for after a scan L that did not see S:
//       (1) membarrier(2) in F makes the reader's thread execute a full
//           barrier P (or pass the scheduler, which is one) during F. If S
//           is before P, S is visible to everything after F, L included:
//           contradiction. So P is before X, and X sees W (the only other
//           stores to the flag are this writer's clear, after it stops
//           waiting for the record, and the reader's own clear, after X).
//           The reader therefore performs I and the wake.
//       (2) If I came before v in reader_wakes_'s modification order, the
//           acquire load of v reads I or a later increment (a release
//           sequence), so S happens-before L and L sees S: contradiction. So
//           I comes after v, and from I on the word differs from v (it only
//           grows; 2^32 wake-ups during one sleep are excluded).
//       (3) FUTEX_WAIT compares and queues in one step with respect to
//           FUTEX_WAKE: if it compares after I it returns at once, else the
//           reader's FUTEX_WAKE, which follows I, finds it queued.
//       A record whose thread exits inside the section is ended and woken
//       under registry_mutex_, which the writer holds to set flags: either
//       order is seen. The futex sleep is bounded (1 ms) as a safety net
//       for cases outside this proof (a membarrier(2) failure that a report
//       handler chose to survive, a kernel without futex(2)): they degrade to
//       polling, never to a hang. In fallback mode F is a seq_cst fence and
//       the reader's leave has no CPU fence between S and X (its fence is on
//       enter), so (1) does not hold: X may be satisfied before S is
//       visible (store buffering), and if L also misses S the reader sends
//       no wake-up. Fallback mode flags and sleeps all the same, and that
//       race alone (a window of the store buffer's drain, nanoseconds) is
//       left to the safety net: a grace period still ends when its last
//       reader leaves, and in the race 1 ms later at most, where polling
//       (spin, yield, sleeps up to 1.28 ms) noticed the leave one sleep
//       late every time. Anonymous sections (I9, thread teardown only) are
//       still polled. The reader pays for this, when no writer waits, one load of
//       a word on the line it has just written and a branch not taken; a
//       flag inside the counter itself would cost nothing but cannot work:
//       the reader's leave is a load then a plain store, and a writer's
//       read-modify-write landing between the two is overwritten unseen
//       (no fence closes that window, only an atomic read-modify-write on
//       the reader's side, which the fast path must not have).
//   I14 In membarrier mode a thread's record of rcu_default_domain() is not
//       allocated: it is the thread_local rcu_default_record, in the
//       thread's TLS block, so the fast path reaches its counter from the
//       thread pointer with no lookup. Until the thread's first section
//       links it (under the registry mutexes, as any record), and again
//       from the thread's teardown on, its depth reads as the limit 0xffff,
//       so every fast path that tests it for depth 0 goes to the slow path
//       (which registers it, or opens an anonymous section, I9). Teardown
//       unlinks the record like a heap one, ends an open section (I10) and
//       sets the limit depth; a token naming it after that is reported by
//       leave_slow(), never applied. It is never
//       deleted: its memory is the thread's and outlives every use by the
//       thread, and a writer reads it only while it is linked (a grace
//       period reads records under registry_mutex_, which teardown takes to
//       unlink). A fork child unlinks the records of the threads it does not
//       have and frees only heap ones. The default domain's storage is
//       static (rcu_default_domain_bytes), so "is this the default domain"
//       is a compare with a constant address. Fallback mode keeps heap
//       records for the default domain too (its entry needs the fence).
//
// Fence skips (each one safe; none trades safety)
//   1  A grace period of a domain with no reader record, or whose only
//      record is the calling thread's own, issues no heavy fence and scans
//      nothing. Safe: a record is linked under registry_mutex_ before its
//      first section loads the epoch, and the check takes that mutex after
//      the epoch increment, so a reader registering later happens-after the
//      caller's unpublish and sees it; the caller's own thread is not inside
//      a section (synchronize() refuses that) and its later sections follow
//      the unpublish in program order. Anonymous sections (I9) are checked
//      with a seq_cst read-modify-write of their count: if it reads 0, a
//      later anonymous entry's increment reads from it (the same argument).
//   2  A caller that shares a grace period (O5) issues no fence of its own.
//   3  The second heavy fence of I13 is issued only by a grace period that
//      still waits after spinning; one whose readers leave while it spins
//      (the common case) issues one fence.
//   Not skipped, although tempting: a grace period whose scan finds no
//   record inside a section still needs its first fence. A reader's entry is
//   a plain store then loads (store-buffering): without the fence the
//   writer can see the record at depth 0 while the reader, whose store is
//   still in its store buffer, has loaded the old pointer.
//
// Under a busy neighbour
//   A writer that waits on a timer (sleep 10 us, doubling) loses its CPU
//   slice and its timer is rounded up by the kernel's timer slack (50 us by
//   default); when a neighbour process keeps the cores busy it then waits
//   behind that neighbour's slice after the reader has long left. This is
//   the 37x of issue 15 (13 us against liburcu's 0.36 us, whose writer is
//   woken by a futex). I13's wake-up puts the writer back on the run queue
//   the moment the reader leaves, with the scheduler's wake-up preference.
//
// Fallback (membarrier unavailable)
//   The first domain probes membarrier(2) (QUERY, then
//   REGISTER_PRIVATE_EXPEDITED). If the kernel lacks it (ENOSYS), does not
//   offer the private expedited command (EINVAL), or a seccomp policy forbids
//   it (EPERM), every domain uses fallback mode: the reader adds a seq_cst
//   fence after its record store (a few ns) and the writer uses a seq_cst
//   fence instead of the system call. A domain constructed with
//   rcu_domain_options{.fence = rcu_fence::fallback} uses fallback mode
//   whatever the kernel offers: that is the documented hook to test and
//   measure the slower path. fence_mode() says which mode a domain uses.
//   Under ThreadSanitizer (GCC rejects atomic_thread_fence there) the
//   fallback reader uses a seq_cst exchange on its record instead of
//   store + fence, and the writer a seq_cst read-modify-write.
//
// Fork
//   fork() in a process with several threads: the child has only the forking
//   thread, and the other threads' sections died with them. A pthread_atfork
//   handler takes the registry locks around fork (they are never held while
//   waiting), and in the child every domain forgets the other threads'
//   records, the waiting list of a grace period another thread was running,
//   and their anonymous sections, and gets fresh grace-period and reclaim
//   locks. So the child's grace periods, retire() and barrier() work; the
//   forking thread's own open sections stay open. Undefined as ever: a
//   fork() from inside a deleter, or a child that uses objects the parent's
//   other threads were modifying.
//
// Misuse
//   compile error  retire() of a pointer the deleter cannot take.
//   runtime report (set_rcu_report_handler; the default prints, and aborts
//                  except where noted)
//                  - synchronize()/barrier() inside a read section of the same
//                    domain (it would wait for itself), including sections
//                    opened by thread_local or thread-specific-data
//                    destructors (I9); a retire() with a full backlog there
//                    defers instead of waiting;
//                  - barrier() from a deleter of the same domain;
//                  - read_unlock() without a matching read_lock() (warning
//                    only; ignored);
//                  - read sections nested more than 65535 deep (that lock and
//                    its unlock are ignored, I8);
//                  - a thread exits inside a read section (warning only: the
//                    section is ended, as the kernel's exit_rcu() does; a
//                    later unlock of it is reported as unlock_without_lock,
//                    I10);
//                  - a domain destroyed while a reader is inside a section;
//                  - membarrier(2) failing after a successful registration
//                    (if the handler returns, waits poll every 1 ms, I13).
//   undefined      using an object from a read section after the section
//                  ended; closing a section on another thread than the one
//                  that opened it; destroying a domain while another thread
//                  uses it;
//                  a deleter that throws (std::terminate).
//
// Example (tests/rcu_test.cpp, RcuDomain.ExampleFromHeader)
//   ordo::rcu_domain domain;
//   std::atomic<config*> current{new config{1}};
//   // reader
//   { ordo::rcu_read_guard guard(domain);
//     use(*current.load(std::memory_order_acquire)); }
//   // writer
//   config* old = current.exchange(new config{2});
//   domain.retire(old);            // or: domain.synchronize(); delete old;
//
// The same in the standard's style (examples/rcu_config.cpp)
//   struct config : ordo::rcu_obj_base<config> { int value; };
//   { std::scoped_lock region(ordo::rcu_default_domain());
//     use(*current.load(std::memory_order_acquire)); }
//   current.exchange(new config{2})->retire();
#ifndef ORDO_RCU_HPP
#define ORDO_RCU_HPP

#include <ordo/detail/config.hpp>
#include <ordo/detail/asymmetric_fence.hpp>
#include <ordo/detail/futex.hpp>
#include <ordo/detail/report.hpp>
#include <ordo/detail/sanitizer.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <pthread.h>

namespace ordo {

class rcu_domain;

/// The fence strategy a domain is asked to use.
enum class rcu_fence : unsigned char {
  automatic,  ///< membarrier(2) when the kernel allows it, else fallback
  fallback,   ///< always the fallback (seq_cst fences on both sides)
};

/// The fence strategy a domain actually uses.
enum class rcu_fence_mode : unsigned char { membarrier, fallback };

/// Where a domain's deleters run (an ordo extension).
enum class rcu_reclaim : unsigned char {
  /// In the thread of a retire() that finds the backlog full (or of
  /// barrier()): no thread of the domain's own. The default.
  caller,
  /// On a reclaimer thread of the domain (as liburcu's call_rcu thread):
  /// retire() never runs a deleter, so it may be called while holding a
  /// lock that a deleter takes. Costs a thread per domain and a wake-up per
  /// batch.
  thread,
};

/// Construction options of an rcu_domain.
struct rcu_domain_options {
  /// rcu_fence::fallback forces the slow reader path (tests, measurements).
  rcu_fence fence = rcu_fence::automatic;
  /// retire() runs a grace period and the pending deleters itself once this
  /// many objects are pending (at least 1). With rcu_reclaim::thread the
  /// limit is when retire() wakes the reclaimer thread.
  std::size_t backlog_limit = 1024;
  /// Who runs the deleters that retire() schedules (barrier() and the
  /// destructor always may run them on their own thread).
  rcu_reclaim reclaim = rcu_reclaim::caller;
};

/// What a runtime report is about.
enum class rcu_report_kind : unsigned char {
  wait_in_read_section,         ///< synchronize()/barrier() inside a read section
  wait_in_callback,             ///< barrier() from a deleter of the same domain
  unlock_without_lock,          ///< read_unlock() with no section open
  thread_exit_in_read_section,  ///< a thread ended inside a read section
  destroyed_with_readers,       ///< a domain destroyed while a reader is inside
  nesting_overflow,             ///< more than 65535 nested sections
  membarrier_failed,            ///< membarrier(2) failed after registration
};

/// One runtime report. `domain` identifies the domain (it may already be
/// destroyed for thread_exit_in_read_section: compare, do not dereference).
struct rcu_report {
  /// What happened.
  rcu_report_kind kind;
  /// The domain concerned (compare, do not dereference).
  const rcu_domain* domain;
  /// A human-readable description of the misuse.
  const char* message;
};

/// A report handler. If it returns, the operation continues as documented for
/// its kind (a wait in a read section returns without waiting: what follows
/// is undefined, so handlers that return are meant for tests).
using rcu_report_handler = void (*)(const rcu_report&);

/// True when this process uses membarrier(2) for grace periods (the probe
/// runs once, on first use). Thread-safe.
[[nodiscard]] bool rcu_membarrier_available() noexcept;

namespace detail {

// The default policy (detail/report.hpp): the two warnings are notices.
inline void rcu_default_report(const rcu_report& report) {
  std::fprintf(stderr, "ordo: rcu: %s\n", report.message);
  const bool notice = report.kind == rcu_report_kind::thread_exit_in_read_section ||
                      report.kind == rcu_report_kind::unlock_without_lock;
  end_default_report(notice ? report_severity::notice : report_severity::fatal);
}

inline constinit report_registry<rcu_report, &rcu_default_report> rcu_reports;

inline void rcu_report_misuse(rcu_report_kind kind, const rcu_domain* domain,
                              const char* message) {
  // acquire (in report()): pairs with the release in set_rcu_report_handler,
  // so a handler installed by another thread is seen fully constructed.
  rcu_reports.report(rcu_report{kind, domain, message});
}

// ---------------------------------------------------------------------------
// Reader records and the thread-local lookup.

struct rcu_list_node {
  rcu_list_node* prev = this;
  rcu_list_node* next = this;

  rcu_list_node() = default;
  // Unlinked and not self-linked: for a constant-initialized thread_local,
  // whose address is not a constant; linked before first use.
  constexpr explicit rcu_list_node(std::nullptr_t) noexcept : prev(nullptr), next(nullptr) {}
  rcu_list_node(const rcu_list_node&) = delete;
  rcu_list_node& operator=(const rcu_list_node&) = delete;

  [[nodiscard]] bool empty() const noexcept { return next == this; }
  void push_back(rcu_list_node* node) noexcept {
    node->prev = prev;
    node->next = this;
    prev->next = node;
    prev = node;
  }
  static void unlink(rcu_list_node* node) noexcept {
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
  }
};

struct rcu_thread_state;

// One per (thread, domain). The list links (rewritten by every grace period
// that moves the record between readers_ and waiting_) and the counter (the
// only word a read section stores to) live on different cache lines, so a
// reader never stores to a line another thread writes (I7).
// Nesting depth in the low bits of a record's counter, epoch above (I1).
inline constexpr std::uint64_t rcu_nesting_mask = 0xffff;
inline constexpr std::uint64_t rcu_epoch_unit = rcu_nesting_mask + 1;

struct rcu_thread_record_tag {};

struct alignas(64) rcu_reader_record : rcu_list_node {
  rcu_reader_record() = default;
  // The thread's default-domain record (rcu_default_record below): unlinked,
  // its counter at the depth limit until the thread registers it, so the
  // fast path sends every section to the slow path until then (I14).
  constexpr explicit rcu_reader_record(rcu_thread_record_tag) noexcept
      : rcu_list_node(nullptr), thread_resident(true), counter(rcu_nesting_mask) {}

  std::uint64_t serial = 0;   // the domain's serial; immutable while linked
  rcu_domain* domain = nullptr;  // I4: guarded by the global registry mutex
  const rcu_thread_state* owner = nullptr;  // the owning thread's state; immutable while linked
  // The record lives in the owning thread's TLS block (I14): never deleted.
  bool thread_resident = false;
  // I1: epoch of the outermost section | nesting depth. Its own line (I7).
  alignas(64) std::atomic<std::uint64_t> counter{0};
  // I13: 1 while a grace period that sleeps waits for this record. Written by
  // the grace period (rarely: only after it spun in vain) and by the owning
  // thread; on the counter's line, so the reader's check after its outermost
  // unlock reads a line it already owns.
  std::atomic<std::uint32_t> writer_waiting{0};
  // read_lock() calls past the 65535th that were reported and ignored; only
  // the owning thread touches it, and only while the depth is at its limit,
  // so the matching read_unlock() calls are ignored too (I8).
  std::uint32_t overflow = 0;
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "ordo: rcu needs lock-free 64-bit atomics");

// The record of this thread's sections of rcu_default_domain() in membarrier
// mode (I14): in the TLS block itself, so the fast path reaches its counter
// with one %fs-relative access instead of a lookup. Trivially destructible:
// its memory lives until the thread's TLS is freed, after every destructor.
inline constinit thread_local rcu_reader_record rcu_default_record{rcu_thread_record_tag{}};

// What enter() returns and leave() takes: the record (the domain's
// anonymous_record_ for a section without one, during thread teardown) and
// the counter value enter() stored.
struct rcu_section_token {
  rcu_reader_record* record;
  std::uint64_t entered;
};

// The first rcu_tls_slot_count - 1 domains get a slot: their records are found
// with one thread-local array access. Later domains use the slower lookup.
inline constexpr std::uint32_t rcu_tls_slot_count = 32;
// Domains without a slot use the last one, whose serial stays 0 (never a
// domain's): the fast path needs no bounds check and always misses there.
inline constexpr std::uint32_t rcu_no_slot = rcu_tls_slot_count - 1;

struct rcu_tls_slot {
  std::uint64_t serial;
  rcu_reader_record* record;
};

// Trivially constructible and destructible: the fast path touches it with a
// plain TLS access (no guard, no registration). The first level is a
// one-entry cache of the membarrier-mode domain this thread entered last
// (fallback-mode domains are never cached, so the fast path needs no mode
// check); the second level is one slot per domain.
// Sections a thread opens after its RCU state was torn down (I9): per
// domain serial, the depth; `untracked` counts sections of domains beyond the
// table (then in_read_section() answers true for every domain: a false
// "inside" costs an EDEADLK, a false "outside" a hang).
inline constexpr std::size_t rcu_anonymous_slots = 8;
struct rcu_anonymous_depth {
  std::uint64_t serial;
  std::uint64_t depth;
};

struct rcu_tls_fast_state {
  std::uint64_t cached_serial;
  rcu_reader_record* cached_record;
  rcu_tls_slot slots[rcu_tls_slot_count];
  rcu_thread_state* state;  // created on first use, freed at thread exit
  bool torn_down;  // the thread's rcu_thread_state was destroyed
  std::uint64_t untracked;
  rcu_anonymous_depth anonymous[rcu_anonymous_slots];
};
inline constinit thread_local rcu_tls_fast_state rcu_tls{};

// The global registry: slot and serial allocation, I4, the list of live
// domains (for fork) and the records of threads that exited inside a
// section (I10). Leaked on purpose so threads that exit after static
// destruction can still unlink.
struct rcu_global_state {
  std::mutex mutex;
  std::uint64_t next_serial = 1;
  std::uint32_t used_slots = 0;  // bit i: slot i is taken
  std::vector<rcu_domain*> domains;              // guarded by mutex
  std::vector<rcu_reader_record*> exited_inside;  // guarded by mutex (I10)
};
void rcu_atfork_prepare() noexcept;
void rcu_atfork_parent() noexcept;
void rcu_atfork_child() noexcept;
inline rcu_global_state& rcu_globals() {
  static rcu_global_state* const state = [] {
    auto* created = new rcu_global_state;
#if defined(__unix__)
    // fork(): see "Fork" in the header.
    ::pthread_atfork(&rcu_atfork_prepare, &rcu_atfork_parent, &rcu_atfork_child);
#endif
    return created;
  }();
  return *state;
}

// Owns every record this thread created. Freed by a POSIX thread-specific
// data destructor, which glibc runs after every C++ thread_local destructor
// of the thread: so thread_local destructors still have the thread's records
// (I9); its destructor unlinks them (I4).
struct rcu_thread_state {
  std::vector<rcu_reader_record*> records;

  rcu_thread_state() = default;
  rcu_thread_state(const rcu_thread_state&) = delete;
  rcu_thread_state& operator=(const rcu_thread_state&) = delete;
  ~rcu_thread_state();
};

inline void rcu_thread_state_exit(void* state) noexcept {
  delete static_cast<rcu_thread_state*>(state);
}

inline pthread_key_t rcu_thread_key() noexcept {
  static const pthread_key_t key = [] {
    pthread_key_t created;
    if (::pthread_key_create(&created, &rcu_thread_state_exit) != 0) {
      std::fputs("ordo: rcu: pthread_key_create failed\n", stderr);
      std::abort();
    }
    return created;
  }();
  return key;
}

// Null after the thread's teardown (then sections are anonymous, I9).
inline rcu_thread_state* rcu_thread() noexcept {
  rcu_tls_fast_state& tls = rcu_tls;
  if (tls.state != nullptr || tls.torn_down) return tls.state;
  const pthread_key_t key = rcu_thread_key();
  auto* state = new rcu_thread_state;
  if (::pthread_setspecific(key, state) != 0) {
    std::fputs("ordo: rcu: pthread_setspecific failed\n", stderr);
    std::abort();
  }
  tls.state = state;
  return state;
}

// Deferred reclamation node.
struct rcu_retired {
  rcu_retired* next = nullptr;
  void (*reclaim)(rcu_retired*) noexcept = nullptr;
};

template <class T, class Deleter>
struct rcu_retired_object final : rcu_retired {
  T* object;
  [[no_unique_address]] Deleter deleter;

  rcu_retired_object(T* p, Deleter&& d) : object(p), deleter(std::move(d)) {
    reclaim = &run;
  }
  static void run(rcu_retired* node) noexcept {
    auto* self = static_cast<rcu_retired_object*>(node);
    Deleter deleter = std::move(self->deleter);
    T* object = self->object;
    delete self;
    deleter(object);
  }
};

// A waiting grace period (or a caller sharing one) spins this many backoff
// rounds (16 pauses each, then a re-check) before it sleeps on a futex.
inline constexpr unsigned rcu_spin_rounds = 64;
// The longest futex sleep: a safety net only (I12, I13). The wake-ups are
// proven; this bounds the cost of a case outside the proof (a membarrier(2)
// failure a report handler survived, no futex(2)) to polling every 1 ms.
inline constexpr std::chrono::milliseconds rcu_wait_safety_net{1};

inline void rcu_cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace detail

/// Installs `handler` for runtime reports and returns the previous one.
/// nullptr restores the default. Thread-safe.
inline rcu_report_handler set_rcu_report_handler(rcu_report_handler handler) noexcept {
  // acq_rel (in install()): release pairs with the acquire in rcu_report_misuse.
  return detail::rcu_reports.install(handler);
}

inline bool rcu_membarrier_available() noexcept {
  return detail::process_membarrier().available;
}

template <class T, class D>
class rcu_obj_base;

/// An RCU domain: its readers, its grace periods, its retired objects.
/// Meets Cpp17Lockable: lock()/try_lock()/unlock() open and close read
/// sections, so std::scoped_lock and std::unique_lock work ([saferecl.rcu]).
class rcu_domain {
 public:
  /// Creates a domain. Probes membarrier(2) on first use in the process.
  /// Thread-safe (constructing distinct domains concurrently).
  explicit rcu_domain(rcu_domain_options options = {});

  /// Runs every pending deleter (after a grace period), then unlinks every
  /// thread's reader record. No thread may be inside a read section of this
  /// domain or use it concurrently (reported: destroyed_with_readers).
  ~rcu_domain();

  rcu_domain(const rcu_domain&) = delete;
  rcu_domain& operator=(const rcu_domain&) = delete;

  /// Opens a read section ([saferecl.rcu.domain.members] lock()): the same
  /// inlined fast path as read_lock() and rcu_read_guard. Thread-safe.
  void lock() noexcept { read_lock(); }
  /// Equivalent to lock(); returns true (a read section never waits).
  [[nodiscard]] bool try_lock() noexcept {
    read_lock();
    return true;
  }
  /// Closes the most recently opened read section of this thread (unlock()).
  /// Never runs deleters (the standard allows it; ordo does not).
  void unlock() noexcept { read_unlock(); }

  /// Opens a read section (rcu_read_lock). Nests. Registers the calling
  /// thread on first use (a 64-byte allocation; failure terminates).
  /// Thread-safe; wait-free after the first call of a thread. Ordering: O2
  /// (no RMW; a compiler fence in membarrier mode).
  void read_lock() noexcept { (void)enter(); }

  /// Closes the innermost read section (rcu_read_unlock). Thread-safe.
  /// Ordering: the outermost unlock is a release store (O1).
  /// Same fast path as leave(): a thread-local compare, a load and a store
  /// to the thread's own counter line.
  void read_unlock() noexcept {
    const detail::rcu_tls_fast_state& tls = detail::rcu_tls;
    if (is_default() || tls.cached_serial == serial_) [[likely]] {
      detail::rcu_reader_record* record =
          is_default() ? &detail::rcu_default_record : tls.cached_record;
      // relaxed: only this thread writes its counter (I1).
      const std::uint64_t counter = record->counter.load(std::memory_order_relaxed);
      const std::uint64_t depth = counter & detail::rcu_nesting_mask;
      // Depth 0 (misuse) and the depth limit (I8) go to the slow path.
      if (depth - 1 < detail::rcu_nesting_mask - 1) [[likely]] {
        // release: everything the section did happens-before the writer's
        // acquire load that reads this value or a later one (O1).
        record->counter.store(counter - 1, std::memory_order_release);
        notify_grace_period(record, counter - 1);
        return;
      }
    }
    read_unlock_slow();
  }

  /// True when the calling thread is inside a read section of this domain.
  /// Thread-safe.
  [[nodiscard]] bool in_read_section() const noexcept;

  /// Waits for a grace period: every read section that began before this
  /// call has ended when it returns (O1). Must not be called inside a read
  /// section of this domain (reported). Blocks; thread-safe.
  void synchronize() noexcept;

  /// Defers `deleter(object)` until a grace period has passed (O3). Never
  /// waits unless the backlog is full: then, outside a read section, the
  /// calling thread runs a grace period and the pending deleters. nullptr is
  /// ignored. If allocating the bookkeeping node throws, nothing changed.
  /// Thread-safe.
  template <class T, class Deleter = std::default_delete<T>>
  void retire(T* object, Deleter deleter = {}) {
    static_assert(std::is_invocable_v<Deleter&, T*>,
                  "ordo: rcu_domain::retire: the deleter must be callable with T*");
    if (object == nullptr) return;
    enqueue(new detail::rcu_retired_object<T, Deleter>(object, std::move(deleter)));
  }

  /// Waits until every deleter retired before this call has run (O4,
  /// rcu_barrier). Not inside a read section or a deleter of this domain
  /// (reported). Blocks; thread-safe.
  void barrier() noexcept;

  /// The fence strategy this domain uses. Thread-safe.
  [[nodiscard]] rcu_fence_mode fence_mode() const noexcept {
    return membarrier_ ? rcu_fence_mode::membarrier : rcu_fence_mode::fallback;
  }
  /// Number of retired objects whose deleter has not run yet. Thread-safe.
  [[nodiscard]] std::size_t backlog() const noexcept {
    // relaxed: a statistic; the retire list itself is guarded by retire_mutex_.
    return pending_count_.load(std::memory_order_relaxed);
  }
  /// rcu_domain_options::backlog_limit as applied (at least 1). Thread-safe.
  [[nodiscard]] std::size_t backlog_limit() const noexcept { return backlog_limit_; }
  /// Number of threads with a reader record in this domain. Thread-safe.
  [[nodiscard]] std::size_t reader_threads() const {
    std::lock_guard lock(registry_mutex_);
    return reader_count_;
  }
  /// Number of grace periods completed so far. Thread-safe.
  [[nodiscard]] std::uint64_t grace_periods() const noexcept {
    // relaxed: a statistic.
    return completed_.load(std::memory_order_relaxed);
  }

  /// Where this domain's deleters run. Thread-safe.
  [[nodiscard]] rcu_reclaim reclaim_mode() const noexcept {
    return reclaimer_thread_.joinable() ? rcu_reclaim::thread : rcu_reclaim::caller;
  }

  // ---- Low-level section API (used by ordo::hook_ptr and rcu_read_guard):
  // enter() opens a section and returns the token to pass to leave() on the
  // same thread, in LIFO order with other sections of this domain.
  /// Opens a read section; returns the token to pass to leave().
  [[nodiscard]] detail::rcu_section_token enter() noexcept;
  /// Closes the section that token opened (same thread, LIFO order).
  void leave(detail::rcu_section_token token) noexcept;
  /// True when this is rcu_default_domain(): a compare with a constant
  /// address (I14). Thread-safe.
  [[nodiscard]] bool is_default() const noexcept;
  /// Opens an outermost read section of rcu_default_domain() in the
  /// calling thread's resident record (I14) and returns what to pass to
  /// leave_resident() on the same thread; or returns 0 and opens nothing
  /// (another domain, the thread's first section, nesting, fallback mode:
  /// then use enter()). The inlined fast path of an rcu_protect hook call.
  [[nodiscard]] std::uint64_t enter_resident() noexcept;
  /// Closes the section that enter_resident() opened (same thread, LIFO
  /// order with other sections of this domain).
  void leave_resident(std::uint64_t entered) noexcept;

 private:
  friend struct detail::rcu_thread_state;
  template <class T, class D>
  friend class rcu_obj_base;

  [[nodiscard]] detail::rcu_reader_record* find_record() const noexcept {
    if (is_default() && detail::rcu_default_record.domain == this) {
      return &detail::rcu_default_record;
    }
    if (detail::rcu_tls.cached_serial == serial_) return detail::rcu_tls.cached_record;
    const detail::rcu_tls_slot& slot = detail::rcu_tls.slots[slot_];
    if (slot.serial == serial_) [[likely]] return slot.record;
    return find_record_slow(/*create=*/false);
  }
  detail::rcu_reader_record* find_record_slow(bool create) const noexcept;
  detail::rcu_reader_record* register_reader(detail::rcu_thread_state& state) noexcept;
  std::uint64_t begin_section(detail::rcu_reader_record* record) noexcept;
  [[gnu::cold]] detail::rcu_section_token enter_slow() noexcept;
  [[gnu::cold]] void leave_slow(detail::rcu_reader_record* record) noexcept;
  [[gnu::cold]] void leave_slow(detail::rcu_section_token token) noexcept;
  [[gnu::cold]] void read_unlock_slow() noexcept;
  friend void detail::rcu_atfork_prepare() noexcept;
  friend void detail::rcu_atfork_parent() noexcept;
  friend void detail::rcu_atfork_child() noexcept;
  void forget_dead_threads() noexcept;
  void enter_anonymous() noexcept;
  detail::rcu_anonymous_depth* anonymous_entry(bool create) const noexcept;
  void leave_anonymous() noexcept;
  void heavy_fence() noexcept;
  // I13 reader side: after a store that may end a section.
  void notify_grace_period(detail::rcu_reader_record* record, std::uint64_t now) noexcept {
    // Compiler-only: the grace period's second heavy fence supplies the CPU
    // fence between the counter store above and this load (I13).
    std::atomic_signal_fence(std::memory_order_seq_cst);
    // relaxed: partner is the grace period's store of 1 before its heavy
    // fence; the wake-up itself is ordered through reader_wakes_ (I13).
    if (record->writer_waiting.load(std::memory_order_relaxed) != 0) [[unlikely]] {
      wake_grace_period(record, now);
    }
  }
  [[gnu::cold]] void wake_grace_period(detail::rcu_reader_record* record,
                                       std::uint64_t now) noexcept;
  void share_grace_period();
  bool must_fence_readers();
  void run_grace_period_locked();
  void wait_for_readers(std::uint64_t target);
  void enqueue(detail::rcu_retired* node) noexcept;
  void reclaimer_loop() noexcept;
  void reclaim();
  bool checked_barrier();
  static void backoff(unsigned round);

  // The line every read section reads: the epoch (I2; written once per
  // grace period) and the serial the fast path compares, so a section
  // touches one line of the domain. The rest is immutable after construction.
  alignas(64) std::atomic<std::uint64_t> epoch_{detail::rcu_epoch_unit};
  std::uint64_t serial_ = 0;
  std::uint32_t slot_ = detail::rcu_no_slot;
  bool membarrier_ = false;
  std::size_t backlog_limit_ = 1024;

  // Sections of threads without a record (thread teardown): a counter.
  alignas(64) std::atomic<std::uint64_t> anonymous_readers_{0};
  // The record of anonymous sections' tokens: never registered, its counter
  // is never equal to a token's, so leave() takes the slow path for them.
  detail::rcu_reader_record anonymous_record_;
  detail::fallback_fence_word fence_word_;  // heavy_fence() in fallback mode


  alignas(64) std::mutex gp_mutex_;  // I3
  // I12: 2 x grace periods completed, +1 while one runs; written only under
  // gp_mutex_ (and read-modify-written by arriving callers). A futex word:
  // callers that share a running grace period sleep on it.
  std::atomic<std::uint32_t> gp_seq_{0};
  std::atomic<std::uint32_t> gp_sharers_{0};  // callers asleep on gp_seq_ (I12)
  // I13: incremented by a reader that ends a section a grace period waits
  // for; the grace period sleeps on it.
  std::atomic<std::uint32_t> reader_wakes_{0};
  std::atomic<std::uint64_t> completed_{0};

  mutable std::mutex registry_mutex_;  // I3
  detail::rcu_list_node readers_;      // guarded by registry_mutex_
  detail::rcu_list_node waiting_;      // guarded by registry_mutex_ (one GP at a time)
  std::size_t reader_count_ = 0;       // guarded by registry_mutex_

  std::mutex retire_mutex_;
  detail::rcu_retired* pending_ = nullptr;  // guarded by retire_mutex_ (newest first)
  std::atomic<std::size_t> pending_count_{0};
  std::mutex reclaim_mutex_;  // I5
  std::atomic<std::thread::id> reclaimer_{};

  // rcu_reclaim::thread: the thread, its wake-up and its stop flag (guarded
  // by retire_mutex_).
  std::condition_variable reclaimer_wake_;
  bool reclaimer_sleeping_ = false;
  bool reclaimer_stop_ = false;
  std::thread reclaimer_thread_;
};

namespace detail {
// The default domain's storage: static, so its address is a link-time
// constant the fast path compares with (I14); never destroyed.
struct alignas(rcu_domain) rcu_default_domain_storage {
  unsigned char bytes[sizeof(rcu_domain)];
};
inline constinit rcu_default_domain_storage rcu_default_domain_bytes{};
}  // namespace detail

inline bool rcu_domain::is_default() const noexcept {
  return static_cast<const void*>(this) == &detail::rcu_default_domain_bytes;
}

/// The process-wide default domain. Never destroyed (threads may use it
/// during static destruction). Thread-safe.
inline rcu_domain& rcu_default_domain() noexcept {
  static rcu_domain* const domain =
      ::new (static_cast<void*>(&detail::rcu_default_domain_bytes)) rcu_domain();
  return *domain;
}

/// An RAII read section of one domain. Not copyable or movable: it closes
/// the section in the thread that opened it.
class [[nodiscard]] rcu_read_guard {
 public:
  /// Opens a read section of domain, closed by the destructor.
  explicit rcu_read_guard(rcu_domain& domain = rcu_default_domain()) noexcept
      : domain_(&domain), token_(domain.enter()) {}
  ~rcu_read_guard() { domain_->leave(token_); }
  rcu_read_guard(const rcu_read_guard&) = delete;
  rcu_read_guard& operator=(const rcu_read_guard&) = delete;

 private:
  rcu_domain* domain_;
  detail::rcu_section_token token_;
};

/// Base of an object that RCU can retire without allocating
/// ([saferecl.rcu.base]): T derives publicly, non-virtually and once from
/// rcu_obj_base<T, D>; retire(d, dom) schedules d(this as T*) after a grace
/// period of dom. The bookkeeping node lives in the object (two pointers),
/// so retire() is noexcept.
template <class T, class D = std::default_delete<T>>
class rcu_obj_base : private detail::rcu_retired {
 public:
  /// Schedules `d(static_cast<T*>(this))` in `dom` after a grace period
  /// (O3). Must be called once per object (undefined otherwise), from any
  /// thread, also inside a read section (it then never waits). noexcept: it
  /// never allocates.
  void retire(D d = D(), rcu_domain& dom = rcu_default_domain()) noexcept {
    static_assert(std::is_base_of_v<rcu_obj_base, T>,
                  "ordo: rcu_obj_base<T, D>: T must derive from rcu_obj_base<T, D>");
    static_assert(std::is_invocable_v<D&, T*>,
                  "ordo: rcu_obj_base<T, D>: the deleter must be callable with T*");
    deleter_ = std::move(d);
    this->reclaim = &run;
    dom.enqueue(this);
  }

 protected:
  rcu_obj_base() = default;
  /// Copyable and movable as T's members are; only retire() schedules an object.
  rcu_obj_base(const rcu_obj_base&) = default;
  /// Copyable and movable as T's members are; only retire() schedules an object.
  rcu_obj_base(rcu_obj_base&&) = default;
  /// Copyable and movable as T's members are; only retire() schedules an object.
  rcu_obj_base& operator=(const rcu_obj_base&) = default;
  /// Copyable and movable as T's members are; only retire() schedules an object.
  rcu_obj_base& operator=(rcu_obj_base&&) = default;
  ~rcu_obj_base() = default;

 private:
  friend class rcu_domain;
  static void run(detail::rcu_retired* node) noexcept {
    auto* self = static_cast<rcu_obj_base*>(node);
    D deleter = std::move(self->deleter_);
    deleter(static_cast<T*>(self));
  }
  [[no_unique_address]] D deleter_{};
};

/// rcu_synchronize ([saferecl.rcu.domain.func]): dom.synchronize().
inline void rcu_synchronize(rcu_domain& dom = rcu_default_domain()) noexcept {
  dom.synchronize();
}

/// rcu_barrier: dom.barrier().
inline void rcu_barrier(rcu_domain& dom = rcu_default_domain()) noexcept { dom.barrier(); }

/// rcu_retire: schedules d(p) in dom after a grace period (dom.retire(p,
/// d)). Allocates a node (std::bad_alloc propagates; then nothing changed);
/// use rcu_obj_base to retire without allocating.
template <class T, class D = std::default_delete<T>>
void rcu_retire(T* p, D d = D(), rcu_domain& dom = rcu_default_domain()) {
  static_assert(std::is_move_constructible_v<D>,
                "ordo: rcu_retire: the deleter must be move constructible");
  dom.retire(p, std::move(d));
}

// ===========================================================================
// Implementation.

inline rcu_domain::rcu_domain(rcu_domain_options options)
    : backlog_limit_(options.backlog_limit == 0 ? 1 : options.backlog_limit) {
  // relaxed: not shared yet. Never equal to a token (see leave()).
  anonymous_record_.counter.store(~std::uint64_t{0} - 1, std::memory_order_relaxed);
  membarrier_ = options.fence == rcu_fence::automatic && rcu_membarrier_available();
  {
    auto& globals = detail::rcu_globals();
    std::lock_guard lock(globals.mutex);
    globals.domains.push_back(this);
    serial_ = globals.next_serial++;
    for (std::uint32_t i = 0; i < detail::rcu_no_slot; ++i) {
      if ((globals.used_slots & (std::uint32_t{1} << i)) == 0) {
        globals.used_slots |= std::uint32_t{1} << i;
        slot_ = i;
        break;
      }
    }
  }
  if (options.reclaim == rcu_reclaim::thread) {
    // Started last: the thread sees a fully constructed domain (the thread
    // constructor synchronizes-with the start of the thread function).
    std::lock_guard lock(retire_mutex_);
    reclaimer_thread_ = std::thread([this] { reclaimer_loop(); });
  }
}

inline rcu_domain::~rcu_domain() {
  if (reclaimer_thread_.joinable()) {
    {
      std::lock_guard lock(retire_mutex_);
      reclaimer_stop_ = true;
      reclaimer_wake_.notify_one();
    }
    reclaimer_thread_.join();  // the rest runs below, on this thread
  }
  // A deleter may retire more into this domain (freeing a node retires its
  // children): run batches until none is pending. A barrier() that was
  // refused (reported: inside a read section or a deleter) leaves the rest.
  while (backlog() != 0 && checked_barrier()) {
  }
  bool active = false;
  {
    auto& globals = detail::rcu_globals();
    std::lock_guard global_lock(globals.mutex);
    std::erase(globals.domains, this);
    {
      std::lock_guard lock(registry_mutex_);
      while (!readers_.empty()) {
        auto* record = static_cast<detail::rcu_reader_record*>(readers_.next);
        // acquire: pairs with the reader's release store (I1).
        if ((record->counter.load(std::memory_order_acquire) & detail::rcu_nesting_mask) != 0) {
          active = true;
        }
        record->domain = nullptr;  // I4: now an orphan its thread frees
        detail::rcu_list_node::unlink(record);
      }
      reader_count_ = 0;
    }
    if (slot_ != detail::rcu_no_slot) globals.used_slots &= ~(std::uint32_t{1} << slot_);
  }
  // acquire: pairs with leave_anonymous's release.
  if (active || anonymous_readers_.load(std::memory_order_acquire) != 0) {
    detail::rcu_report_misuse(rcu_report_kind::destroyed_with_readers, this,
                              "domain destroyed while a thread is inside one of its read "
                              "sections");
  }
}

inline std::uint64_t rcu_domain::begin_section(detail::rcu_reader_record* record) noexcept {
  // acquire: pairs with the epoch increment of a grace period (a seq_cst
  // RMW): a section that sees the new epoch also sees the unpublish made
  // before that grace period (O2), so it need not be waited for (I2).
  const std::uint64_t entered = epoch_.load(std::memory_order_acquire) + 1;  // depth 1
  if (membarrier_) [[likely]] {
    // release: partner is the writer's acquire load in wait_for_readers; it
    // orders this thread's earlier sections before this store (O1).
    record->counter.store(entered, std::memory_order_release);
    // Compiler-only: the writer's membarrier(2) supplies the CPU fence that
    // orders this store before the loads of the section (O2).
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
#if ORDO_TSAN
    // GCC's TSan rejects atomic_thread_fence: a seq_cst RMW is a full
    // barrier on the supported targets and pairs with heavy_fence() (O2).
    record->counter.exchange(entered, std::memory_order_seq_cst);
#else
    // release: as above; the seq_cst fence pairs with heavy_fence()'s (O2).
    record->counter.store(entered, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  }
  return entered;
}

ORDO_ALWAYS_INLINE detail::rcu_section_token rcu_domain::enter() noexcept {
  detail::rcu_tls_fast_state& tls = detail::rcu_tls;
  // Only membarrier-mode domains are cached (see rcu_tls_fast_state), and
  // only those register the thread's default record (I14): until then its
  // depth reads as the limit, so the test below sends it to enter_slow().
  if (is_default() || tls.cached_serial == serial_) [[likely]] {
    detail::rcu_reader_record* record =
        is_default() ? &detail::rcu_default_record : tls.cached_record;
    // relaxed: only this thread writes its counter (I1).
    if ((record->counter.load(std::memory_order_relaxed) & detail::rcu_nesting_mask) == 0)
        [[likely]] {
      // acquire: pairs with the epoch increment of a grace period (a seq_cst
      // RMW): a section that sees the new epoch also sees the unpublish made
      // before that grace period (O2), so it need not be waited for (I2).
      const std::uint64_t entered = epoch_.load(std::memory_order_acquire) + 1;  // depth 1
      // release: partner is the writer's acquire load in wait_for_readers;
      // it orders this thread's earlier sections before this store (O1).
      record->counter.store(entered, std::memory_order_release);
      // Compiler-only: the writer's membarrier(2) supplies the CPU fence that
      // orders this store before the loads of the section (O2).
      std::atomic_signal_fence(std::memory_order_seq_cst);
      return {record, entered};
    }
  }
  return enter_slow();
}

inline detail::rcu_section_token rcu_domain::enter_slow() noexcept {
  detail::rcu_reader_record* record = find_record();  // cache, slot, then list
  if (record == nullptr) record = find_record_slow(/*create=*/true);
  if (record == nullptr) {  // thread teardown: no record any more
    enter_anonymous();
    return {&anonymous_record_, 0};
  }
  if (membarrier_) {
    detail::rcu_tls.cached_serial = serial_;
    detail::rcu_tls.cached_record = record;
  }
  // relaxed: only this thread writes its counter (I1).
  const std::uint64_t counter = record->counter.load(std::memory_order_relaxed);
  const std::uint64_t depth = counter & detail::rcu_nesting_mask;
  if (depth == 0) return {record, begin_section(record)};
  if (depth == detail::rcu_nesting_mask) {
    ++record->overflow;  // I8: its unlock is ignored too
    detail::rcu_report_misuse(rcu_report_kind::nesting_overflow, this,
                              "read sections nested more than 65535 deep; this read_lock() "
                              "and its read_unlock() are ignored");
    return {record, ~std::uint64_t{0}};
  }
  // release, although a nested lock changes neither activity nor epoch: a
  // writer may read this value as the latest one, and it must still order
  // this thread's earlier sections before the writer (O1).
  record->counter.store(counter + 1, std::memory_order_release);
  return {record, counter + 1};
}

ORDO_ALWAYS_INLINE void rcu_domain::leave(detail::rcu_section_token token) noexcept {
  // The common case: every section opened inside this one was closed, so
  // the counter is what enter() stored (also true for nested sections).
  // relaxed: only this thread writes its counter (I1).
  if (token.record->counter.load(std::memory_order_relaxed) == token.entered) [[likely]] {
    // One level less, computed from the token, not from the load (I1).
    // release: everything the section did happens-before the writer's
    // acquire load that reads this value or a later one (O1).
    token.record->counter.store(token.entered - 1, std::memory_order_release);
    notify_grace_period(token.record, token.entered - 1);
    return;
  }
  leave_slow(token);
}

ORDO_ALWAYS_INLINE std::uint64_t rcu_domain::enter_resident() noexcept {
  if (!is_default()) return 0;  // the record is the default domain's only
  detail::rcu_reader_record& record = detail::rcu_default_record;
  // relaxed: only this thread writes its counter (I1).
  if ((record.counter.load(std::memory_order_relaxed) & detail::rcu_nesting_mask) == 0)
      [[likely]] {
    // acquire, release and the compiler-only fence: as in enter(). Not 0
    // (the epoch is at least rcu_epoch_unit), so never "nothing opened".
    // (Written as epoch | 1, the compiler drops the caller's test of that;
    // the loop then measured 15% slower here, a matter of code layout.)
    const std::uint64_t entered = epoch_.load(std::memory_order_acquire) + 1;
    record.counter.store(entered, std::memory_order_release);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return entered;
  }
  return 0;
}

ORDO_ALWAYS_INLINE void rcu_domain::leave_resident(std::uint64_t entered) noexcept {
  detail::rcu_reader_record& record = detail::rcu_default_record;
  // relaxed and release: as in leave().
  if (record.counter.load(std::memory_order_relaxed) == entered) [[likely]] {
    record.counter.store(entered - 1, std::memory_order_release);
    notify_grace_period(&record, entered - 1);
    return;
  }
  leave_slow(detail::rcu_section_token{&record, entered});
}

inline void rcu_domain::leave_slow(detail::rcu_section_token token) noexcept {
  leave_slow(token.record == &anonymous_record_ ? nullptr : token.record);
}

inline void rcu_domain::leave_slow(detail::rcu_reader_record* record) noexcept {
  if (record == nullptr) {
    leave_anonymous();
    return;
  }
  // relaxed: only this thread writes its counter (I1).
  const std::uint64_t counter = record->counter.load(std::memory_order_relaxed);
  // A resident record after the thread's teardown (I14) has no section
  // open, whatever its counter says (it ended them, I10).
  if ((counter & detail::rcu_nesting_mask) == 0 ||
      (record->thread_resident && record->domain == nullptr)) {
    detail::rcu_report_misuse(rcu_report_kind::unlock_without_lock, this,
                              "read_unlock() without a matching read_lock()");
    return;
  }
  if (record->overflow != 0) {  // I8: the unlock of an ignored lock
    --record->overflow;
    return;
  }
  // release: as in leave() when this ends the outermost section (O1).
  record->counter.store(counter - 1, std::memory_order_release);
  notify_grace_period(record, counter - 1);
}

inline void rcu_domain::read_unlock_slow() noexcept {
  detail::rcu_reader_record* record = find_record();
  if (record == nullptr) {
    if (!detail::rcu_tls.torn_down) {
      detail::rcu_report_misuse(rcu_report_kind::unlock_without_lock, this,
                                "read_unlock() without a matching read_lock()");
      return;
    }
    leave_anonymous();
    return;
  }
  leave_slow(record);
}

// The thread's anonymous depth entry for this domain (I9), or nullptr.
inline detail::rcu_anonymous_depth* rcu_domain::anonymous_entry(bool create) const noexcept {
  detail::rcu_anonymous_depth* free_entry = nullptr;
  for (detail::rcu_anonymous_depth& entry : detail::rcu_tls.anonymous) {
    if (entry.depth != 0 && entry.serial == serial_) return &entry;
    if (entry.depth == 0 && free_entry == nullptr) free_entry = &entry;
  }
  if (!create || free_entry == nullptr) return nullptr;
  free_entry->serial = serial_;
  return free_entry;
}

inline void rcu_domain::enter_anonymous() noexcept {
  detail::rcu_anonymous_depth* entry = anonymous_entry(/*create=*/true);
  if (entry != nullptr && entry->depth++ != 0) return;  // nested: already counted
  if (entry == nullptr) ++detail::rcu_tls.untracked;
  // seq_cst RMW: a full barrier between the count and the section's loads,
  // paired with heavy_fence() (O2).
  anonymous_readers_.fetch_add(1, std::memory_order_seq_cst);
#if !ORDO_TSAN
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

inline void rcu_domain::leave_anonymous() noexcept {
  detail::rcu_anonymous_depth* entry = anonymous_entry(/*create=*/false);
  if (entry != nullptr) {
    if (--entry->depth != 0) return;  // still inside the outer section
  } else if (detail::rcu_tls.untracked != 0) {
    --detail::rcu_tls.untracked;
  } else {
    // Nothing open (for instance a section opened in the thread body whose
    // thread state was torn down with it, I10): nothing to end.
    detail::rcu_report_misuse(rcu_report_kind::unlock_without_lock, this,
                              "read_unlock() without a matching read_lock()");
    return;
  }
  // release: partner is the acquire load in wait_for_readers (O1).
  anonymous_readers_.fetch_sub(1, std::memory_order_release);
}

inline bool rcu_domain::in_read_section() const noexcept {
  const detail::rcu_reader_record* record = find_record();
  // relaxed: only this thread writes its own counter (I1).
  if (record != nullptr) {
    return (record->counter.load(std::memory_order_relaxed) & detail::rcu_nesting_mask) != 0;
  }
  if (!detail::rcu_tls.torn_down) return false;
  return detail::rcu_tls.untracked != 0 || anonymous_entry(/*create=*/false) != nullptr;  // I9
}

inline detail::rcu_reader_record* rcu_domain::find_record_slow(bool create) const noexcept {
  if (detail::rcu_tls.torn_down) return nullptr;
  detail::rcu_thread_state* state = detail::rcu_tls.state;
  if (state != nullptr) {
    for (detail::rcu_reader_record* record : state->records) {
      if (record->serial == serial_) return record;
    }
  }
  if (!create) return nullptr;
  state = detail::rcu_thread();
  if (state == nullptr) return nullptr;
  return const_cast<rcu_domain*>(this)->register_reader(*state);
}

inline detail::rcu_reader_record* rcu_domain::register_reader(
    detail::rcu_thread_state& state) noexcept {
  // The default domain in membarrier mode uses the thread's resident record
  // (I14). Otherwise a failed allocation here terminates (enter() is
  // noexcept): 128 bytes once per thread and domain.
  const bool resident = is_default() && membarrier_;
  auto* record = resident ? &detail::rcu_default_record : new detail::rcu_reader_record;
  if (resident) {
    // relaxed: not linked yet, and only this thread writes its counter (I1).
    record->counter.store(0, std::memory_order_relaxed);
    record->writer_waiting.store(0, std::memory_order_relaxed);
    record->overflow = 0;
    record->prev = record->next = record;
  }
  record->serial = serial_;
  record->domain = this;
  record->owner = &state;
  auto& globals = detail::rcu_globals();
  {
    std::lock_guard global_lock(globals.mutex);
    // Free orphans left by destroyed domains (I4).
    std::erase_if(state.records, [](detail::rcu_reader_record* r) {
      if (r->domain != nullptr || r->thread_resident) return false;
      delete r;
      return true;
    });
    state.records.push_back(record);
    std::lock_guard lock(registry_mutex_);
    readers_.push_back(record);
    ++reader_count_;
  }
  if (slot_ != detail::rcu_no_slot) {
    detail::rcu_tls.slots[slot_] = detail::rcu_tls_slot{serial_, record};
  }
  return record;
}

inline void rcu_domain::heavy_fence() noexcept {
  if (membarrier_) {
    if (detail::membarrier_heavy_fence()) [[likely]] return;
    detail::rcu_report_misuse(rcu_report_kind::membarrier_failed, this,
                              "membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after "
                              "registration; readers can no longer be fenced");
    return;
  }
  detail::fallback_heavy_fence(fence_word_);
}

inline void rcu_domain::backoff(unsigned round) {
  if (round < 64) {
    for (int i = 0; i < 16; ++i) detail::rcu_cpu_relax();
  } else if (round < 128) {
    std::this_thread::yield();
  } else {
    const unsigned shift = round - 128 < 7 ? round - 128 : 7;
    std::this_thread::sleep_for(std::chrono::microseconds(10u << shift));  // <= 1.28 ms
  }
}

inline void rcu_domain::wake_grace_period(detail::rcu_reader_record* record,
                                           std::uint64_t now) noexcept {
  // A nested section ended: the outer one still holds the grace period up.
  if ((now & detail::rcu_nesting_mask) != 0) return;
  // relaxed: the flag only selects this path; reader_wakes_ orders (I13).
  record->writer_waiting.store(0, std::memory_order_relaxed);
  // release: partner is the acquire load of reader_wakes_ in
  // wait_for_readers: a grace period that reads this value (or a later one)
  // sees the store that ended this section (I13 step 2).
  reader_wakes_.fetch_add(1, std::memory_order_release);
  detail::futex_wake(reader_wakes_);
}

inline void rcu_domain::wait_for_readers(std::uint64_t target) {
  std::unique_lock lock(registry_mutex_);
  // Every record is a candidate (I2); waiting_ is empty here (I3).
  if (!readers_.empty()) {
    waiting_.next = readers_.next;
    waiting_.prev = readers_.prev;
    waiting_.next->prev = &waiting_;
    waiting_.prev->next = &waiting_;
    readers_.next = readers_.prev = &readers_;
  }
  bool flagged = false;  // the records in waiting_ carry writer_waiting (I13)
  std::uint32_t wakes = 0;
  for (unsigned round = 0;; ++round) {
    for (detail::rcu_list_node* node = waiting_.next; node != &waiting_;) {
      detail::rcu_list_node* next = node->next;
      auto* record = static_cast<detail::rcu_reader_record*>(node);
      // acquire: pairs with the reader's release stores in enter()/leave():
      // the sections this value ends or follows happen-before us (O1).
      const std::uint64_t seen = record->counter.load(std::memory_order_acquire);
      if ((seen & detail::rcu_nesting_mask) == 0 || seen >= target) {  // I2
        // relaxed: only spares the reader a wake-up it no longer needs to
        // send; the flag orders nothing (I13). Loaded first so records this
        // grace period did not flag see no store to their line.
        if (flagged && record->writer_waiting.load(std::memory_order_relaxed) != 0) {
          record->writer_waiting.store(0, std::memory_order_relaxed);
        }
        detail::rcu_list_node::unlink(record);
        readers_.push_back(record);
      }
      node = next;
    }
    if (waiting_.empty()) break;
    if (round < detail::rcu_spin_rounds) {
      lock.unlock();  // I3: never sleep holding the registry
      backoff(round);
    } else if (!flagged) {
      // I13 step 1: flag every record still waited for, then fence.
      for (detail::rcu_list_node* node = waiting_.next; node != &waiting_; node = node->next) {
        // relaxed: the heavy fence below orders it before the next scan.
        static_cast<detail::rcu_reader_record*>(node)->writer_waiting.store(
            1, std::memory_order_relaxed);
      }
      flagged = true;
      lock.unlock();
      heavy_fence();
    } else {
      lock.unlock();
      // I13 step 3: sleeps only while no reader woke us since `wakes` was
      // loaded; bounded (the safety net, I13).
      detail::futex_wait(reader_wakes_, wakes, detail::rcu_wait_safety_net);
    }
    // acquire: pairs with wake_grace_period's release; loaded before the
    // scan (I13 step 2).
    if (flagged) wakes = reader_wakes_.load(std::memory_order_acquire);
    lock.lock();
  }
  lock.unlock();
  // acquire: pairs with leave_anonymous's release (O1).
  for (unsigned round = 0; anonymous_readers_.load(std::memory_order_acquire) != 0; ++round) {
    backoff(round);
  }
}

// Fence skips (see "Fence skips" in the header).
inline bool rcu_domain::must_fence_readers() {
  {
    std::lock_guard lock(registry_mutex_);
    const bool none = readers_.empty();
    const bool only_ours =
        !none && readers_.next == readers_.prev && detail::rcu_tls.state != nullptr &&
        static_cast<const detail::rcu_reader_record*>(readers_.next)->owner ==
            detail::rcu_tls.state;
    if (!none && !only_ours) return true;
  }
  // seq_cst RMW (not a load): if it reads 0, an anonymous reader's later
  // increment (a seq_cst RMW) reads from it, so everything before this grace
  // period happens-before that reader's section (skip 1).
  return anonymous_readers_.fetch_add(0, std::memory_order_seq_cst) != 0;
}

inline void rcu_domain::run_grace_period_locked() {
  // I12: the grace period starts. acq_rel: acquire pairs with the arrival
  // RMW of every caller counting on it (share_grace_period), so their
  // unpublish happens-before the epoch increment and the fence below (O5).
  gp_seq_.fetch_add(1, std::memory_order_acq_rel);
  // seq_cst RMW: readers that load the new epoch see everything before it (O2).
  const std::uint64_t target =
      epoch_.fetch_add(detail::rcu_epoch_unit, std::memory_order_seq_cst) +
      detail::rcu_epoch_unit;
  if (must_fence_readers()) {
    // Orders the caller's unpublish (and the increment) before the scan of
    // the records; pairs with the readers' fence in enter() (O2).
    heavy_fence();
    wait_for_readers(target);
  }
  // relaxed: a statistic.
  completed_.fetch_add(1, std::memory_order_relaxed);
  // I12: the grace period ends. seq_cst: release pairs with the acquire
  // loads in share_grace_period (O5); the order with gp_sharers_ below is
  // the sleeping callers' no-lost-wake-up argument (I12).
  gp_seq_.fetch_add(1, std::memory_order_seq_cst);
  if (gp_sharers_.load(std::memory_order_seq_cst) != 0) detail::futex_wake(gp_seq_);
}

inline void rcu_domain::share_grace_period() {
  // I12 arrival. acq_rel RMW, not a load: a grace period that starts later
  // (its start RMW reads this value or a later one of the RMW chain, a
  // release sequence) acquires everything this caller did before (O5).
  const std::uint32_t arrived = gp_seq_.fetch_add(0, std::memory_order_acq_rel);
  // The end value of the first grace period that starts after the arrival:
  // the next one if none runs (arrived even), else the one after.
  const std::uint32_t needed = (arrived + 3) & ~std::uint32_t{1};
  for (unsigned round = 0;; ++round) {
    // acquire: pairs with the release of the RMW that ended that grace
    // period, so the sections it waited for happen-before our return (O1).
    const std::uint32_t seq = gp_seq_.load(std::memory_order_acquire);
    if (static_cast<std::int32_t>(seq - needed) >= 0) return;  // shared (O5)
    if ((seq & 1) == 0) {
      // None runs: run one (it starts after the arrival: it is later in
      // gp_seq_'s modification order).
      std::unique_lock lock(gp_mutex_, std::try_to_lock);
      if (lock.owns_lock()) {
        // acquire: as above (another caller may have ended one meanwhile).
        const std::uint32_t now = gp_seq_.load(std::memory_order_acquire);
        if (static_cast<std::int32_t>(now - needed) < 0) run_grace_period_locked();
        return;
      }
    }
    if ((seq & 1) == 0 || round < detail::rcu_spin_rounds) {
      // Another caller is about to start one, or just ended one; or a short
      // wait for the running one.
      backoff(round < detail::rcu_spin_rounds ? round : detail::rcu_spin_rounds);
      continue;
    }
    // One runs: sleep until it ends. The increment and the re-load are
    // seq_cst, as the grace period's end and its load of gp_sharers_: in
    // the single total order either our load sees the end, or the end's
    // load of gp_sharers_ sees us and it wakes gp_seq_ (I12).
    gp_sharers_.fetch_add(1, std::memory_order_seq_cst);
    if (gp_seq_.load(std::memory_order_seq_cst) == seq) {
      detail::futex_wait(gp_seq_, seq, detail::rcu_wait_safety_net);
    }
    // relaxed: only the grace period's end reads it, to skip a wake-up.
    gp_sharers_.fetch_sub(1, std::memory_order_relaxed);
  }
}

inline void rcu_domain::synchronize() noexcept {
  if (in_read_section()) {
    detail::rcu_report_misuse(rcu_report_kind::wait_in_read_section, this,
                              "synchronize() inside a read section of the same domain "
                              "would wait for itself");
    return;
  }
  share_grace_period();
}

inline void rcu_domain::enqueue(detail::rcu_retired* node) noexcept {
  std::size_t pending;
  {
    std::lock_guard lock(retire_mutex_);
    node->next = pending_;
    pending_ = node;
    // relaxed: the list is guarded by retire_mutex_; the count is a hint.
    pending = pending_count_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (reclaimer_thread_.joinable()) {
      // rcu_reclaim::thread: never run deleters here. Wake the thread when
      // it sleeps and a batch is due (the first retire of an idle domain
      // or a full backlog).
      if (reclaimer_sleeping_ && (pending == 1 || pending >= backlog_limit_)) {
        reclaimer_wake_.notify_one();
      }
      return;
    }
  }
  if (pending >= backlog_limit_ && !in_read_section() &&
      // relaxed: only compared with our own id, which only we store.
      reclaimer_.load(std::memory_order_relaxed) != std::this_thread::get_id()) {
    reclaim();
  }
}

inline void rcu_domain::reclaim() {
  std::lock_guard reclaim_lock(reclaim_mutex_);  // I5
  // relaxed: read back only by this thread (enqueue/barrier checks).
  reclaimer_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  detail::rcu_retired* batch;
  {
    std::lock_guard lock(retire_mutex_);
    batch = pending_;
    pending_ = nullptr;
  }
  if (batch != nullptr) {
    // The batch was enqueued (under retire_mutex_) before this call
    // arrives, so the grace period it shares covers it (O3, O5).
    share_grace_period();
    // Oldest first: reverse the newest-first list.
    detail::rcu_retired* oldest_first = nullptr;
    std::size_t count = 0;
    while (batch != nullptr) {
      detail::rcu_retired* next = batch->next;
      batch->next = oldest_first;
      oldest_first = batch;
      batch = next;
      ++count;
    }
    while (oldest_first != nullptr) {
      detail::rcu_retired* next = oldest_first->next;
      oldest_first->reclaim(oldest_first);
      oldest_first = next;
    }
    // relaxed: a statistic (see backlog()).
    pending_count_.fetch_sub(count, std::memory_order_relaxed);
  }
  // relaxed: see above.
  reclaimer_.store(std::thread::id{}, std::memory_order_relaxed);
}

inline void rcu_domain::barrier() noexcept { (void)checked_barrier(); }

inline void rcu_domain::reclaimer_loop() noexcept {
  for (;;) {
    {
      std::unique_lock lock(retire_mutex_);
      reclaimer_sleeping_ = true;
      reclaimer_wake_.wait(lock, [this] { return reclaimer_stop_ || pending_ != nullptr; });
      reclaimer_sleeping_ = false;
      if (reclaimer_stop_) return;
    }
    reclaim();
  }
}

inline bool rcu_domain::checked_barrier() {
  if (in_read_section()) {
    detail::rcu_report_misuse(rcu_report_kind::wait_in_read_section, this,
                              "barrier() inside a read section of the same domain would "
                              "wait for itself");
    return false;
  }
  // relaxed: only this thread stores its own id there.
  if (reclaimer_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
    detail::rcu_report_misuse(rcu_report_kind::wait_in_callback, this,
                              "barrier() from a deleter of the same domain would wait "
                              "for itself");
    return false;
  }
  reclaim();
  return true;
}

namespace detail {

inline rcu_thread_state::~rcu_thread_state() {
  rcu_tls.torn_down = true;
  rcu_tls.state = nullptr;
  rcu_tls.cached_serial = 0;
  rcu_tls.cached_record = nullptr;
  for (rcu_tls_slot& slot : rcu_tls.slots) slot = rcu_tls_slot{0, nullptr};
  std::vector<const rcu_domain*> exited_inside;
  {
    auto& globals = rcu_globals();
    std::lock_guard global_lock(globals.mutex);
    for (rcu_reader_record* record : records) {
      // relaxed: this thread's own counter (I1).
      const std::uint64_t counter = record->counter.load(std::memory_order_relaxed);
      const bool inside = (counter & rcu_nesting_mask) != 0;
      if (rcu_domain* domain = record->domain) {  // I4: still alive
        std::lock_guard lock(domain->registry_mutex_);
        if (inside) {
          exited_inside.push_back(domain);
          // release: ends the section for the writers (O1), as exit_rcu().
          record->counter.store(counter & ~rcu_nesting_mask, std::memory_order_release);
          // relaxed: a grace period sets the flag under registry_mutex_,
          // which we hold: it is ordered either way (I13).
          if (record->writer_waiting.load(std::memory_order_relaxed) != 0) {
            domain->wake_grace_period(record, 0);
          }
        }
        rcu_list_node::unlink(record);
        --domain->reader_count_;
      }
      if (record->thread_resident) {
        // I14: unlinked, and at the depth limit again, so the fast path
        // sends every later section to the slow path (anonymous, I9) and
        // leave_slow() reports the unlock of one opened before (I10). The
        // memory is the TLS block's: it outlives every use by this thread.
        record->domain = nullptr;
        // relaxed: unlinked, so only this thread reads it.
        record->counter.store(rcu_nesting_mask, std::memory_order_relaxed);
      } else if (inside) {
        // I10: a guard of a later destructor may still hold a token naming
        // this record; keep it (ended, unlinked) so its unlock is reported
        // instead of touching freed memory.
        record->domain = nullptr;
        globals.exited_inside.push_back(record);
      } else {
        delete record;
      }
    }
    records.clear();
  }
  for (const rcu_domain* domain : exited_inside) {
    rcu_report_misuse(rcu_report_kind::thread_exit_in_read_section, domain,
                      "a thread exited inside a read section; the section was ended");
  }
}

// fork(): the child has only the forking thread. prepare takes the global
// registry and every domain's registry and retire locks (all short critical
// sections that never wait for a reader), so the child inherits consistent
// lists; the child then forgets every other thread's records (their sections
// died with them) and gives each domain fresh grace-period and reclaim locks
// (a dead thread may have held them). Lock order as everywhere: the global
// mutex, then a domain's registry_mutex_, then its retire_mutex_.
inline void rcu_atfork_prepare() noexcept {
  auto& globals = rcu_globals();
  globals.mutex.lock();
  for (rcu_domain* domain : globals.domains) {
    domain->registry_mutex_.lock();
    domain->retire_mutex_.lock();
  }
}

inline void rcu_atfork_parent() noexcept {
  auto& globals = rcu_globals();
  for (rcu_domain* domain : globals.domains) {
    domain->retire_mutex_.unlock();
    domain->registry_mutex_.unlock();
  }
  globals.mutex.unlock();
}

inline void rcu_atfork_child() noexcept {
  auto& globals = rcu_globals();
  for (rcu_domain* domain : globals.domains) {
    domain->forget_dead_threads();
    domain->retire_mutex_.unlock();
    domain->registry_mutex_.unlock();
  }
  globals.mutex.unlock();
}

}  // namespace detail

// In the child of fork(), with registry_mutex_ and retire_mutex_ held by this
// (the only) thread.
inline void rcu_domain::forget_dead_threads() noexcept {
  if (!waiting_.empty()) {  // a grace period of a thread that is gone
    while (!waiting_.empty()) {
      detail::rcu_list_node* node = waiting_.next;
      detail::rcu_list_node::unlink(node);
      readers_.push_back(node);
    }
  }
  const detail::rcu_thread_state* self = detail::rcu_tls.state;
  // relaxed: single-threaded child. A grace period of a dead thread is over.
  gp_seq_.store((gp_seq_.load(std::memory_order_relaxed) + 1) & ~std::uint32_t{1},
                std::memory_order_relaxed);
  gp_sharers_.store(0, std::memory_order_relaxed);
  for (detail::rcu_list_node* node = readers_.next; node != &readers_;) {
    detail::rcu_list_node* next = node->next;
    auto* record = static_cast<detail::rcu_reader_record*>(node);
    // relaxed: single-threaded child; the flag's grace period died.
    record->writer_waiting.store(0, std::memory_order_relaxed);
    if (record->owner != self) {
      // The owning thread does not exist here: neither do its sections.
      // Its state is unreachable in the child, so the record is ours to free.
      detail::rcu_list_node::unlink(record);
      --reader_count_;
      // A resident record (I14) is in that thread's TLS block, which the
      // child inherited as plain memory: unlinked, it is never used again.
      if (!record->thread_resident) delete record;
    }
    node = next;
  }
  const bool anonymous_here = anonymous_entry(/*create=*/false) != nullptr ||
                              detail::rcu_tls.untracked != 0;
  // relaxed: single-threaded child.
  anonymous_readers_.store(anonymous_here ? 1 : 0, std::memory_order_relaxed);
  if (reclaimer_thread_.joinable()) {
    // The reclaimer thread does not exist here: forget its handle (leaked,
    // never joined) and let retire() reclaim on the caller's thread.
    new (&reclaimer_thread_) std::thread();
    reclaimer_sleeping_ = false;
    new (&reclaimer_wake_) std::condition_variable();
  }
  if (reclaimer_.load(std::memory_order_relaxed) != std::this_thread::get_id()) {
    reclaimer_.store(std::thread::id{}, std::memory_order_relaxed);
    // A dead thread may have held them; this thread holds neither.
    new (&gp_mutex_) std::mutex;
    new (&reclaim_mutex_) std::mutex;
  }
}

}  // namespace ordo

#endif  // ORDO_RCU_HPP
