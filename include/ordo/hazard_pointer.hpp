// ordo/hazard_pointer.hpp — hazard pointers with the C++26 interface
// ([saferecl.hp], P2530): a reader protects the one object it is about to
// use, and a retired object is reclaimed once no hazard pointer protects it.
//
// What it is
//   A hazard pointer is a single-writer, multi-reader pointer owned by one
//   thread. Before using an object reached through a shared atomic pointer,
//   the owner publishes the object's address in its hazard pointer and
//   re-reads the source: if the source still holds the same pointer, the
//   object cannot be reclaimed until the hazard pointer is reset. A writer
//   unpublishes an object and retires it; the library reclaims it (runs its
//   deleter) once no hazard pointer protects it. The names, signatures and
//   semantics are the standard's, in namespace ordo, so a program written for
//   <hazard_pointer> builds against ordo by replacing std:: with ordo::
//   (tests/hazard_pointer_test.cpp is written that way):
//
//     ordo::hazard_pointer_obj_base<T, D>   base of a hazard-protectable T;
//                                           retire(D d = D()) noexcept
//     ordo::hazard_pointer                  move-only owner of one hazard
//                                           pointer: empty, protect,
//                                           try_protect, reset_protection,
//                                           swap
//     ordo::make_hazard_pointer()           a non-empty hazard_pointer
//     ordo::swap(hazard_pointer&, hazard_pointer&)
//
//   Readers register nothing: a thread's first make_hazard_pointer() takes a
//   slot (a cache line of its own) from the process-wide domain, and the
//   thread keeps up to 8 free slots in a thread-local cache that thread exit
//   returns. protect() is, in the common case, one store to the reader's
//   own slot, a compiler-only fence and an acquire re-load of the source: no
//   read-modify-write, no write to a line another thread writes. The CPU
//   fence the store needs is supplied by the reclaiming thread, which issues
//   membarrier(2) MEMBARRIER_CMD_PRIVATE_EXPEDITED before it reads the slots
//   (detail/asymmetric_fence.hpp, shared with rcu.hpp, with the same run-time
//   fallback to seq_cst fences on both sides).
//   make_hazard_pointer() and the destructor are dearer: a thread-local cache
//   access plus one read-modify-write on a process-wide counter of live
//   hazard pointers (R2), so keep a hazard_pointer across reads when reads
//   are frequent.
//
// Hazard pointers or rcu_protect / rcu_domain?
//   RCU protects everything a read section touches and a writer waits for
//   every read section of the domain: one descheduled or slow reader delays
//   every grace period, whatever it reads. A hazard pointer protects one
//   object, and a writer waits only for readers that hold that object: a
//   stalled reader of another object delays nothing (ordo::hazard_protect
//   for hook_ptr is built on this). Choose hazard pointers when readers may
//   block or be descheduled while holding a reference, when the writer's
//   latency matters more than a fraction of a nanosecond per read, or when
//   the number of unreclaimed objects must stay bounded whatever the readers
//   do. Choose RCU when a reader walks many objects (one section covers
//   them all; a hazard pointer is needed per object held at once) or when
//   read-side cost must be the lowest possible.
//   Measured (bench/hazard_pointer_bench.cpp, bench/hook_bench.cpp):
//   release preset, 2-core VM, 2026-12-02, medians of 3 repetitions, each
//   ratio within one run: a protect/reset pair costs 0.88x an RCU read section
//   (0.93x at 2 threads) and 0.04x an std::atomic<std::shared_ptr> load; a
//   hook call through hazard_protect is 1.14x the raw acquire-load-and-call
//   floor (1.28 ns against 1.13 ns; rcu_protect's is 1.8x); a swap of a hook
//   while a reader of ANOTHER hook sits in a 1 ms call has a p99 of 0.04x
//   rcu_protect's, which must wait for that reader. README, "Benchmarks",
//   has the whole table.
//
// When not to use it
//   When the data is one word (use std::atomic). When a reader traverses a
//   linked structure (it needs a hazard pointer per node held at once, and
//   must re-validate each link; RCU is simpler). When objects are never
//   freed while readers run (no reclamation scheme is needed). Not for
//   objects that were not allocated so that their deleter may free them.
//
// Thread-safety contract
//   make_hazard_pointer(), retire() and the destructor of hazard_pointer are
//   thread-safe. A hazard_pointer object is used by one thread at a time
//   (it may be moved to another thread). protect()/try_protect() read the
//   source with atomic loads; other threads may store to it concurrently.
//   A retired object must not be reachable through any source from which a
//   new protection could still be established (unpublish, then retire).
//
// Memory ordering (happens-before; the standard's terms)
//   O1  [saferecl.hp.general] An object x retired in evaluation R is
//       reclaimed (its deleter runs) only in an evaluation A such that for
//       every protection epoch E of every hazard pointer associated with x:
//       if the beginning of E happens before R, the end of E strongly
//       happens before A; and if E began with a try_protect whose load L of
//       src read a value modification-ordered before a store B to src that
//       happens before R (typically: the unpublish of x), the end of E
//       strongly happens before A. So everything a reader did with x while
//       protecting it happens-before x's deleter runs.
//   O2  How: the end of an epoch (reset_protection, a new protect,
//       destruction) is a release store to the slot; the reclaimer reads
//       every slot with an acquire load after its heavy fence, so the edge of
//       O1 is an ordinary C++ happens-before edge (ThreadSanitizer sees it
//       without annotations). The start of an epoch is a store followed by
//       the light fence, and the reclaimer's heavy fence comes between its
//       unpublish (which happens before R) and its slot reads: either the
//       reclaimer sees the protection, or the reader's re-load of src sees
//       the unpublish and try_protect fails (store-buffering, resolved by
//       membarrier(2), or in fallback mode by seq_cst fences on both sides).
//   O3  try_protect()/protect() load src with memory_order::acquire:
//       everything the publisher did before a release store of the pointer
//       happens-before the reader's use of the object.
//
// When retired objects are reclaimed (the bounded backlog)
//   R1  A retire() that finds at least max(1000, 2 x slots) objects retired
//       and not yet reclaimed runs a reclamation pass in the calling thread
//       before it returns: one heavy fence, one read of every slot, then the
//       deleter of every retired object no slot protects (in no promised
//       order). Protected objects stay retired. So at most
//       max(1000, 2 x slots) + slots objects wait, plus those retired during
//       a pass by other threads or by deleters.
//   R2  The destructor (or move assignment) that leaves no non-empty
//       hazard_pointer in the process runs a pass if objects are waiting:
//       when it returns, every object retired before it began is reclaimed,
//       except objects protected by a hazard_pointer made concurrently.
//       In particular, a program that destroys its last hazard_pointer after
//       its last retire() has reclaimed everything at that point.
//   R3  Domain cleanup: at static destruction of the process-wide domain
//       (after main returns or at exit(); the domain is set up on first
//       use, so it is cleaned up after statics constructed later), a final
//       pass reclaims everything still retired; an object still protected
//       then is reported (protected_at_cleanup) and left allocated. A
//       retire() after cleanup runs a pass at once.
//   Deleters run in the thread that runs the pass, outside every lock; a
//   deleter may retire further objects (they wait for the next pass).
//
// Invariants (the code refers to them)
//   I1  A slot's value is written only by the thread that owns the slot (a
//       hazard_pointer's owner, or a thread calling through a hazard_protect
//       hook); every other thread only loads it.
//   I2  Slots are never freed (the domain is leaked; threads that exit late
//       still return theirs); they are linked once into the domain's list,
//       whose links are immutable after publication, so a scan needs no
//       lock and never blocks a reader or a thread start.
//   I3  A free slot holds nullptr: a slot is reset before it is cached,
//       returned to the domain or handed to make_hazard_pointer().
//   I4  A retired object is on the domain's retired list exactly once; the
//       count of waiting objects is raised before the object is linked, so
//       it never falls below the list's length.
//   I5  The protected address is the T* of the hazard-protectable type T
//       (the class that derives from hazard_pointer_obj_base<T, D>), both in
//       a slot and in a retired record, so a derived object retired through
//       its base compares equal to its protection.
//
// Misuse
//   compile error  protect/try_protect/reset_protection or retire on a type
//                  that is not hazard-protectable ("ordo: hazard_pointer: T
//                  must be hazard-protectable ..."); a deleter that cannot
//                  be called with T* ("ordo: hazard_pointer_obj_base: D must
//                  be callable with T*").
//   runtime report (set_hazard_pointer_report_handler; the default prints,
//                  and aborts except for notices, detail/report.hpp)
//                  - protect/try_protect/reset_protection on an empty
//                    hazard_pointer (protect returns nullptr, try_protect
//                    sets ptr to nullptr and returns true, reset does
//                    nothing);
//                  - retire() of an object that is already retired and not
//                    yet reclaimed (ignored);
//                  - an object still protected at domain cleanup (a
//                    notice; it is left allocated);
//                  - membarrier(2) failing after a successful registration.
//   undefined      using an object after the protection ended; retiring an
//                  object still reachable from a source; retire() of an
//                  object already reclaimed; using one hazard_pointer from
//                  two threads at once; a deleter that throws
//                  (std::terminate).
//
// Example (tests/hazard_pointer_test.cpp, HazardPointer.ExampleFromHeader)
//   struct config : ordo::hazard_pointer_obj_base<config> {
//     explicit config(int v) : value(v) {}
//     int value;
//   };
//   std::atomic<config*> current{new config(1)};
//   // reader
//   ordo::hazard_pointer h = ordo::make_hazard_pointer();
//   use(h.protect(current)->value);      // safe until h is reset or destroyed
//   h.reset_protection();
//   // writer
//   current.exchange(new config(2))->retire();
#ifndef ORDO_HAZARD_POINTER_HPP
#define ORDO_HAZARD_POINTER_HPP

#include <ordo/detail/config.hpp>
#include <ordo/detail/asymmetric_fence.hpp>
#include <ordo/detail/report.hpp>
#include <ordo/detail/sanitizer.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace ordo {

/// What a hazard pointer runtime report is about.
enum class hazard_pointer_report_kind : unsigned char {
  empty_hazard_pointer,  ///< protect/try_protect/reset_protection on an empty hazard_pointer
  double_retire,         ///< retire() of an object already retired, not yet reclaimed
  protected_at_cleanup,  ///< domain cleanup found a retired object still protected
  membarrier_failed,     ///< membarrier(2) failed after registration
};

/// One runtime report. `object` is the hazard_pointer or the retired
/// object concerned (compare, do not dereference).
struct hazard_pointer_report {
  /// What happened.
  hazard_pointer_report_kind kind;
  /// The hazard_pointer or retired object concerned (an address to compare).
  const void* object;
  /// A human-readable description of the misuse.
  const char* message;
};

/// A report handler. If it returns, the operation continues as documented
/// for its kind in the header.
using hazard_pointer_report_handler = void (*)(const hazard_pointer_report&);

template <class T, class D = std::default_delete<T>>
class hazard_pointer_obj_base;
class hazard_pointer;
hazard_pointer make_hazard_pointer();

namespace detail {

// The default policy of detail/report.hpp: print, then abort unless the
// report is a notice (protected_at_cleanup: the objects are only left
// allocated at exit).
inline void hazptr_default_report(const hazard_pointer_report& report) {
  std::fprintf(stderr, "ordo: hazard_pointer: %s\n", report.message);
  end_default_report(report.kind == hazard_pointer_report_kind::protected_at_cleanup
                         ? report_severity::notice
                         : report_severity::fatal);
}

inline constinit report_registry<hazard_pointer_report, &hazptr_default_report>
    hazptr_reports;

inline void hazptr_report_misuse(hazard_pointer_report_kind kind, const void* object,
                                 const char* message) {
  hazptr_reports.report(hazard_pointer_report{kind, object, message});
}

// One hazard pointer. Aligned to a cache line: its owner's stores never
// share a line with another thread's slot.
struct alignas(64) hazptr_slot {
  std::atomic<const void*> value{nullptr};  // I1, I3
  hazptr_slot* next_slot = nullptr;         // the domain's list (I2); immutable once linked
  hazptr_slot* next_free = nullptr;         // free list / overflow list of its owner
  hazptr_slot* hook_deeper = nullptr;       // owner's hook slot one call deeper (TLS only)
  bool membarrier = false;                  // the domain's fence mode; immutable

  /// Starts a protection epoch for `p`: the store, then the light fence
  /// (O2). Only the owner calls it (I1).
  void protect(const void* p) noexcept {
    if (membarrier) [[likely]] {
      // release: ends the previous epoch for the reclaimer's acquire load
      // (O2). The CPU fence that orders this store before the caller's
      // re-load of the source is the reclaimer's membarrier(2).
      value.store(p, std::memory_order_release);
      asymmetric_light_fence();
    } else {
#if ORDO_TSAN
      // GCC's TSan rejects atomic_thread_fence: a seq_cst RMW is a full
      // barrier on the supported targets and pairs with the fallback heavy
      // fence (O2).
      value.exchange(p, std::memory_order_seq_cst);
#else
      // release: as above; the seq_cst fence pairs with the reclaimer's.
      value.store(p, std::memory_order_release);
      std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
    }
  }
  /// Ends the epoch. No fence: a reclaimer that misses it only waits longer.
  void reset() noexcept {
    // release: everything the owner did with the object happens-before a
    // reclaimer's acquire load that reads this value or a later one (O1).
    value.store(nullptr, std::memory_order_release);
  }
};

// The intrusive record of a retired object, a base of
// hazard_pointer_obj_base.
struct hazptr_retired {
  hazptr_retired* next_retired = nullptr;
  void (*reclaim)(hazptr_retired*) noexcept = nullptr;  // non-null while retired
  const void* address = nullptr;                        // the T* (I5)
};

class hazptr_domain;
hazptr_domain& hazptr_default_domain();

// Trivially constructible and destructible: the fast paths touch it with a
// plain TLS access.
inline constexpr unsigned hazptr_cache_capacity = 8;
inline constexpr unsigned hazptr_hook_depth = 8;
struct hazptr_tls_state {
  hazptr_slot* cache[hazptr_cache_capacity];   // free slots this thread owns (I3)
  unsigned cached;
  // The hook path's slots. hook_top is the slot of the outermost call, in
  // use exactly while it holds a non-null value (a call that found no hook
  // never stores one), so an outermost call costs one TLS load and the two
  // stores to its own slot, and writes no TLS at all. It is only set in
  // membarrier mode, so its calls need not check the fence mode either.
  // Calls nested inside a call use the chain: one slot per depth, outermost
  // first through hook_deeper; hook_next is the slot the next nested call
  // takes (null when every chained slot is in use).
  hazptr_slot* hook_top;                       // depth 0, or null
  hazptr_slot* hook_first;                     // depth 1, or null
  hazptr_slot* hook_last;                      // deepest chained slot, or null
  hazptr_slot* hook_next;                      // free chained slot for the next nested call
  unsigned hook_owned;                         // hook_top plus the chain (<= hazptr_hook_depth)
  hazptr_slot* hook_overflow;                  // slots of calls nested deeper (LIFO)
  bool registered;                             // thread-exit hook installed
  bool torn_down;                              // thread-exit hook ran
  bool reclaiming;                             // this thread runs a pass
};
inline constinit thread_local hazptr_tls_state hazptr_tls{};

// Returns the thread's slots to the domain at thread exit.
struct hazptr_thread_exit {
  hazptr_thread_exit() = default;
  hazptr_thread_exit(const hazptr_thread_exit&) = delete;
  hazptr_thread_exit& operator=(const hazptr_thread_exit&) = delete;
  ~hazptr_thread_exit();
};

inline void hazptr_register_thread() {
  thread_local hazptr_thread_exit exit_hook;
  (void)exit_hook;
  hazptr_tls.registered = true;
}

/// The process-wide domain: slots, retired objects, reclamation.
class hazptr_domain {
 public:
  /// allow_membarrier = false forces fallback mode (seq_cst fences on both
  /// sides): the documented hook to test the path that runs where
  /// membarrier(2) is unavailable. The process-wide domain uses true.
  explicit hazptr_domain(bool allow_membarrier = true) noexcept
      : membarrier_(allow_membarrier && process_membarrier().available) {}
  /// Only domains other than the process-wide one (which is leaked, I2) are
  /// destroyed: no thread may use them any more; their slots are freed.
  ~hazptr_domain() {
    // relaxed: no other thread uses the domain any more (precondition).
    for (hazptr_slot* s = slots_.load(std::memory_order_relaxed); s != nullptr;) {
      hazptr_slot* next = s->next_slot;
      delete s;
      s = next;
    }
  }
  hazptr_domain(const hazptr_domain&) = delete;
  hazptr_domain& operator=(const hazptr_domain&) = delete;

  /// A slot holding nullptr, from the free list or newly linked (I2).
  hazptr_slot* acquire_slot() {
    {
      std::lock_guard lock(free_mutex_);
      if (hazptr_slot* slot = free_) {
        free_ = slot->next_free;
        slot->next_free = nullptr;
        return slot;
      }
    }
    auto* slot = new hazptr_slot;  // may throw bad_alloc (make_hazard_pointer)
    slot->membarrier = membarrier_;
    // relaxed: the head is re-read by the CAS; the release CAS publishes
    // the slot's fields to the scans' acquire load of the head (I2).
    hazptr_slot* head = slots_.load(std::memory_order_relaxed);
    do {
      slot->next_slot = head;
    } while (!slots_.compare_exchange_weak(head, slot, std::memory_order_release,
                                           std::memory_order_relaxed));
    // relaxed: a statistic used for the reclamation threshold (R1).
    slot_count_.fetch_add(1, std::memory_order_relaxed);
    return slot;
  }

  /// Returns a slot holding nullptr (I3) to the free list.
  void release_slot(hazptr_slot* slot) noexcept {
    std::lock_guard lock(free_mutex_);
    slot->next_free = free_;
    free_ = slot;
  }

  /// Links a retired object and runs a pass when the backlog is full (R1).
  void retire(hazptr_retired* node) noexcept {
    // I4: count first. relaxed: a trigger; the list itself is the truth.
    const std::size_t waiting = retired_count_.fetch_add(1, std::memory_order_relaxed) + 1;
    push_retired(node, node);
    // relaxed: a trigger, set once at exit (R3); a late view only delays
    // the pass to the next retire().
    if ((waiting >= threshold() || cleaned_up_.load(std::memory_order_relaxed)) &&
        !hazptr_tls.reclaiming) {
      reclaim();
    }
  }

  /// Called when a hazard_pointer becomes non-empty / empty (R2).
  void hazard_pointer_made() noexcept {
    // relaxed: a counter that only triggers a pass; the pass itself is
    // ordered by its own fence and acquire loads (O2).
    live_.fetch_add(1, std::memory_order_relaxed);
  }
  void hazard_pointer_gone() noexcept {
    // acq_rel: the thread whose decrement reaches zero also sees the
    // increments (and so the retire()s) that preceded the other decrements.
    if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
        // relaxed: a hint; a miss leaves the objects to R1 or R3.
        retired_count_.load(std::memory_order_relaxed) != 0 && !hazptr_tls.reclaiming) {
      reclaim();
    }
  }

  /// Waits until no slot holds `p` (hazard_protect's clear()/exchange()).
  /// The caller unpublished `p` before the call.
  void wait_until_unprotected(const void* p) noexcept {
    heavy_fence();  // orders the unpublish before the slot reads (O2)
    for (unsigned round = 0; slot_holds(p); ++round) fence_backoff(round);
  }

  /// One reclamation pass (R1-R3); also drains what deleters retire.
  void reclaim() noexcept {
    hazptr_tls.reclaiming = true;
    do {
      reclaim_once();
      // relaxed: a trigger (see retire()).
    } while (retired_count_.load(std::memory_order_relaxed) >= threshold());
    hazptr_tls.reclaiming = false;
  }

  /// R3: the final pass at static destruction.
  void cleanup() noexcept {
    // relaxed: read back by retire() only as a trigger.
    cleaned_up_.store(true, std::memory_order_relaxed);
    hazptr_tls.reclaiming = true;
    std::size_t left = reclaim_once();
    // Deleters may have retired more: repeat until only protected ones stay.
    while (retired_count() > left) left = reclaim_once();
    hazptr_tls.reclaiming = false;
    if (left != 0) {
      hazptr_report_misuse(hazard_pointer_report_kind::protected_at_cleanup, this,
                           "retired objects are still protected at domain cleanup (a "
                           "hazard_pointer outlives main?); they are left allocated");
    }
  }

  [[nodiscard]] bool membarrier() const noexcept { return membarrier_; }
  [[nodiscard]] std::size_t retired_count() const noexcept {
    // relaxed: a statistic.
    return retired_count_.load(std::memory_order_relaxed);
  }
  /// Number of slots ever made (I2: never freed, reused). Thread-safe.
  [[nodiscard]] std::size_t slot_count() const noexcept {
    // relaxed: a statistic.
    return slot_count_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t threshold() const noexcept {
    // relaxed: a statistic (R1).
    const std::size_t twice_slots = 2 * slot_count_.load(std::memory_order_relaxed);
    return twice_slots > 1000 ? twice_slots : 1000;
  }

 private:
  void push_retired(hazptr_retired* first, hazptr_retired* last) noexcept {
    // relaxed: re-read by the CAS; release publishes the records (and
    // everything before retire(), the unpublish included) to the pass's
    // acquire exchange (O1).
    hazptr_retired* head = retired_.load(std::memory_order_relaxed);
    do {
      last->next_retired = head;
    } while (!retired_.compare_exchange_weak(head, first, std::memory_order_release,
                                             std::memory_order_relaxed));
  }

  void heavy_fence() noexcept {
    if (membarrier_) {
      if (membarrier_heavy_fence()) [[likely]] return;
      hazptr_report_misuse(hazard_pointer_report_kind::membarrier_failed, this,
                           "membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after "
                           "registration; readers can no longer be fenced");
      return;
    }
    fallback_heavy_fence(fence_word_);
  }

  [[nodiscard]] bool slot_holds(const void* p) const noexcept {
    // acquire: pairs with the release CAS that linked each slot (I2).
    for (const hazptr_slot* s = slots_.load(std::memory_order_acquire); s; s = s->next_slot) {
      // acquire: pairs with the owner's release stores (O2).
      if (s->value.load(std::memory_order_acquire) == p) return true;
    }
    return false;
  }

  // Returns how many objects stayed retired because they are protected.
  std::size_t reclaim_once() noexcept {
    // acquire: pairs with push_retired's release: each retire() (and the
    // unpublish before it) happens-before this pass (O1).
    hazptr_retired* batch = retired_.exchange(nullptr, std::memory_order_acquire);
    if (batch == nullptr) return 0;
    std::size_t taken = 0;
    for (hazptr_retired* n = batch; n; n = n->next_retired) ++taken;
    heavy_fence();  // between the unpublishes and the slot reads (O2)

    // The protected addresses, sorted; on allocation failure every record is
    // checked against the slots one by one (same result, slower).
    std::vector<const void*> protected_addresses;
    bool sorted = true;
    auto collect = [&] {
      // acquire: pairs with the release CAS that linked each slot (I2).
      for (const hazptr_slot* s = slots_.load(std::memory_order_acquire); s;
           s = s->next_slot) {
        // acquire: pairs with the owner's release stores (O1, O2).
        if (const void* v = s->value.load(std::memory_order_acquire)) {
          protected_addresses.push_back(v);
        }
      }
      std::sort(protected_addresses.begin(), protected_addresses.end());
    };
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
    try {
      collect();
    } catch (...) {
      sorted = false;
    }
#else  // -fno-exceptions: an allocation failure terminates, as everywhere
    collect();
#endif
    auto is_protected = [&](const void* address) {
      if (sorted) {
        return std::binary_search(protected_addresses.begin(), protected_addresses.end(),
                                  address);
      }
      return slot_holds(address);
    };

    hazptr_retired* kept_first = nullptr;
    hazptr_retired* kept_last = nullptr;
    std::size_t kept = 0;
    hazptr_retired* reclaimable = nullptr;
    for (hazptr_retired* n = batch; n;) {
      hazptr_retired* next = n->next_retired;
      if (is_protected(n->address)) {
        n->next_retired = kept_first;
        kept_first = n;
        if (kept_last == nullptr) kept_last = n;
        ++kept;
      } else {
        n->next_retired = reclaimable;
        reclaimable = n;
      }
      n = next;
    }
    if (kept_first != nullptr) push_retired(kept_first, kept_last);
    // relaxed: see retire() (I4: the kept ones are still counted).
    retired_count_.fetch_sub(taken - kept, std::memory_order_relaxed);
    while (reclaimable != nullptr) {
      hazptr_retired* next = reclaimable->next_retired;
      auto* reclaim_fn = reclaimable->reclaim;
      reclaimable->reclaim = nullptr;  // no longer retired (double-retire check)
      reclaim_fn(reclaimable);
      reclaimable = next;
    }
    return kept;
  }

  const bool membarrier_;
  fallback_fence_word fence_word_;  // heavy_fence() in fallback mode
  std::atomic<hazptr_slot*> slots_{nullptr};
  std::atomic<std::size_t> slot_count_{0};
  std::mutex free_mutex_;
  hazptr_slot* free_ = nullptr;  // guarded by free_mutex_
  alignas(64) std::atomic<hazptr_retired*> retired_{nullptr};
  std::atomic<std::size_t> retired_count_{0};
  std::atomic<bool> cleaned_up_{false};
  alignas(64) std::atomic<std::size_t> live_{0};  // non-empty hazard_pointers (R2)
};

struct hazptr_domain_cleanup {
  hazptr_domain* domain;
  ~hazptr_domain_cleanup() { domain->cleanup(); }
};

/// The domain is leaked (I2): threads that exit after static destruction
/// still return their slots; only the final pass runs at exit (R3).
inline hazptr_domain& hazptr_default_domain() {
  static hazptr_domain* const domain = new hazptr_domain;
  static hazptr_domain_cleanup cleanup{domain};
  return *domain;
}

/// A slot for a new hazard_pointer: the thread's cache, else the domain.
inline hazptr_slot* hazptr_take_slot() {
  hazptr_tls_state& tls = hazptr_tls;
  if (tls.cached != 0) [[likely]] return tls.cache[--tls.cached];
  hazptr_domain& domain = hazptr_default_domain();
  hazptr_slot* slot = domain.acquire_slot();
  if (!tls.torn_down && !tls.registered) hazptr_register_thread();
  return slot;
}

/// Gives back a slot holding nullptr (I3): to the cache, else the domain.
inline void hazptr_give_slot(hazptr_slot* slot) noexcept {
  hazptr_tls_state& tls = hazptr_tls;
  if (tls.cached < hazptr_cache_capacity && !tls.torn_down) [[likely]] {
    tls.cache[tls.cached++] = slot;
    return;
  }
  hazptr_default_domain().release_slot(slot);
}

inline hazptr_thread_exit::~hazptr_thread_exit() {
  hazptr_tls_state& tls = hazptr_tls;
  tls.torn_down = true;
  hazptr_domain& domain = hazptr_default_domain();
  while (tls.cached != 0) domain.release_slot(tls.cache[--tls.cached]);
  if (tls.hook_top != nullptr) domain.release_slot(tls.hook_top);
  for (hazptr_slot* slot = tls.hook_first; slot != nullptr;) {
    hazptr_slot* deeper = slot->hook_deeper;
    slot->hook_deeper = nullptr;
    domain.release_slot(slot);
    slot = deeper;
  }
  tls.hook_top = tls.hook_first = tls.hook_last = tls.hook_next = nullptr;
  tls.hook_owned = 0;
}

// ---- The hook path (ordo::hazard_protect in hook.hpp): slots kept by the
// thread, so a call touches no shared line.

// Which of the thread's slots a hook call uses.
enum class hazptr_hook_slot_kind : unsigned char {
  top,       // hook_top: the outermost call, membarrier mode
  chained,   // a chained slot one call deeper (either fence mode)
  overflow,  // borrowed for this call only
};

// The slot of a hook call and its kind. Returned by value: a guard whose
// members never have their address taken stays in registers across the
// call it protects.
struct hazptr_hook_slot_choice {
  hazptr_slot* slot;
  hazptr_hook_slot_kind kind;
};

// hook_top is in use or not there yet (hook.hpp's call_nested): take
// hook_top if the thread has none (membarrier mode only), else the next
// chained slot, else own one
// more chained slot, up to hazptr_hook_depth slots in all; beyond that, or
// after the thread's exit hook ran, borrow an overflow slot for this call.
inline hazptr_hook_slot_choice hazptr_hook_slot_slow() {
  hazptr_tls_state& tls = hazptr_tls;
  if (hazptr_slot* const next = tls.hook_next; next != nullptr) {
    tls.hook_next = next->hook_deeper;  // calls are LIFO: the deeper one is next
    return {next, hazptr_hook_slot_kind::chained};
  }
  hazptr_slot* slot = hazptr_default_domain().acquire_slot();
  if (tls.hook_owned < hazptr_hook_depth && !tls.torn_down) {
    if (!tls.registered) hazptr_register_thread();
    ++tls.hook_owned;
    if (tls.hook_top == nullptr && slot->membarrier) {
      tls.hook_top = slot;
      return {slot, hazptr_hook_slot_kind::top};
    }
    slot->hook_deeper = nullptr;
    (tls.hook_last != nullptr ? tls.hook_last->hook_deeper : tls.hook_first) = slot;
    tls.hook_last = slot;
    return {slot, hazptr_hook_slot_kind::chained};  // in use now: hook_next stays null
  }
  slot->next_free = tls.hook_overflow;  // so clear() can see it (hook.hpp I3)
  tls.hook_overflow = slot;
  return {slot, hazptr_hook_slot_kind::overflow};
}

// Gives back a chained or overflow slot at the end of its call.
inline void hazptr_hook_slot_done(hazptr_slot* slot, hazptr_hook_slot_kind kind) noexcept {
  hazptr_tls_state& tls = hazptr_tls;
  if (kind == hazptr_hook_slot_kind::chained) {
    tls.hook_next = slot;  // free again, and every deeper one with it
  } else {
    tls.hook_overflow = slot->next_free;
    slot->next_free = nullptr;
    hazptr_default_domain().release_slot(slot);
  }
}

/// hook_top if no call of this thread uses it, else null (hook.hpp's
/// call() then takes the nested path).
ORDO_ALWAYS_INLINE hazptr_slot* hazptr_hook_free_top() noexcept {
  hazptr_slot* const top = hazptr_tls.hook_top;
  // relaxed: this thread's own slot (I1); non-null while a call uses it.
  if (top != nullptr && top->value.load(std::memory_order_relaxed) == nullptr) [[likely]] {
    return top;
  }
  return nullptr;
}

/// hazptr_slot::protect for hook_top, without the fence-mode check: hook_top
/// exists only in membarrier mode.
ORDO_ALWAYS_INLINE void hazptr_hook_top_protect(hazptr_slot& top, const void* p) noexcept {
  // release, and the light fence: as hazptr_slot::protect (O2).
  top.value.store(p, std::memory_order_release);
  asymmetric_light_fence();
}

/// Resets a slot at scope exit (hook_top's calls: nothing to give back).
struct hazptr_slot_reset {
  hazptr_slot* slot;
  ~hazptr_slot_reset() { slot->reset(); }
};

/// The slot of one hook call, reset and given back at scope exit.
class hazptr_hook_guard {
 public:
  // Only where hazptr_hook_free_top() found no free hook_top.
  hazptr_hook_guard() {
    const hazptr_hook_slot_choice choice = hazptr_hook_slot_slow();
    slot_ = choice.slot;
    kind_ = choice.kind;
  }
  ~hazptr_hook_guard() {
    slot_->reset();
    if (kind_ != hazptr_hook_slot_kind::top) hazptr_hook_slot_done(slot_, kind_);
  }
  hazptr_hook_guard(const hazptr_hook_guard&) = delete;
  hazptr_hook_guard& operator=(const hazptr_hook_guard&) = delete;

  /// Starts the call's protection of `p` (non-null): hazptr_slot::protect,
  /// without its fence-mode check for hook_top (membarrier mode only).
  void protect(const void* p) noexcept {
    if (kind_ == hazptr_hook_slot_kind::top) {
      hazptr_hook_top_protect(*slot_, p);
    } else {
      slot_->protect(p);
    }
  }

 private:
  hazptr_slot* slot_;
  hazptr_hook_slot_kind kind_;
};

/// True when one of this thread's hook calls holds `p` (hook.hpp I3).
inline bool hazptr_hook_calls_hold(const void* p) noexcept {
  const hazptr_tls_state& tls = hazptr_tls;
  // relaxed: this thread's own slot (I1).
  if (tls.hook_top != nullptr && tls.hook_top->value.load(std::memory_order_relaxed) == p) {
    return true;
  }
  // The chained slots in use are those before hook_next in the chain.
  for (const hazptr_slot* s = tls.hook_first; s != nullptr && s != tls.hook_next;
       s = s->hook_deeper) {
    // relaxed: this thread's own slot (I1).
    if (s->value.load(std::memory_order_relaxed) == p) return true;
  }
  for (const hazptr_slot* s = tls.hook_overflow; s; s = s->next_free) {
    // relaxed: as above.
    if (s->value.load(std::memory_order_relaxed) == p) return true;
  }
  return false;
}

/// The type whose address a protection of T* stores (I5): T itself, if it
/// is hazard-protectable.
template <class T>
concept hazard_protectable =
    requires { typename T::ordo_hazard_protectable_type; } &&
    std::is_same_v<typename T::ordo_hazard_protectable_type, std::remove_cv_t<T>> &&
    std::is_base_of_v<hazptr_retired, std::remove_cv_t<T>>;

}  // namespace detail

/// Installs `handler` for runtime reports and returns the previous one.
/// nullptr restores the default. Thread-safe.
inline hazard_pointer_report_handler set_hazard_pointer_report_handler(
    hazard_pointer_report_handler handler) noexcept {
  // acq_rel (in install()): release pairs with the acquire in
  // hazptr_report_misuse (detail/report.hpp O1).
  return detail::hazptr_reports.install(handler);
}

/// The base of a hazard-protectable class T ([saferecl.hp.base]): T derives
/// from it publicly, once, non-virtually. D is the deleter retire() stores
/// (default-constructible, move-assignable, callable with T*).
template <class T, class D>
class hazard_pointer_obj_base : private detail::hazptr_retired {
 public:
  /// (ordo) Marks T as the hazard-protectable type (I5).
  using ordo_hazard_protectable_type = T;

  /// Retires the T this is a base of: `d` becomes its deleter, and the
  /// library calls d(static_cast<T*>(this)) once no hazard pointer
  /// protects it (O1; when: R1-R3). May reclaim other retired objects
  /// before it returns (R1). A second retire() before reclamation is
  /// reported and ignored. Thread-safe.
  void retire(D d = D()) noexcept {
    static_assert(std::is_invocable_v<D&, T*>,
                  "ordo: hazard_pointer_obj_base: D must be callable with T*");
    static_assert(std::is_base_of_v<hazard_pointer_obj_base, T>,
                  "ordo: hazard_pointer: T must be hazard-protectable (derive publicly from "
                  "ordo::hazard_pointer_obj_base<T, D>)");
    detail::hazptr_retired& record = *this;
    if (record.reclaim != nullptr) {
      detail::hazptr_report_misuse(hazard_pointer_report_kind::double_retire,
                                   static_cast<T*>(this),
                                   "retire() of an object that is already retired");
      return;
    }
    deleter_ = std::move(d);
    record.reclaim = &reclaim_object;
    record.address = static_cast<const void*>(static_cast<T*>(this));  // I5
    detail::hazptr_default_domain().retire(&record);
  }

 protected:
  hazard_pointer_obj_base() = default;
  /// A copy is a new object: not retired, whatever the source.
  hazard_pointer_obj_base(const hazard_pointer_obj_base&) noexcept : detail::hazptr_retired() {}
  /// A moved-to object is a new object: not retired, whatever the source.
  hazard_pointer_obj_base(hazard_pointer_obj_base&&) noexcept : detail::hazptr_retired() {}
  // A copy or move is a new object: it is not retired, whatever the source.
  /// Assignment leaves this object's retirement state unchanged.
  hazard_pointer_obj_base& operator=(const hazard_pointer_obj_base&) noexcept { return *this; }
  /// Assignment leaves this object's retirement state unchanged.
  hazard_pointer_obj_base& operator=(hazard_pointer_obj_base&&) noexcept { return *this; }
  ~hazard_pointer_obj_base() = default;

 private:
  static void reclaim_object(detail::hazptr_retired* record) noexcept {
    auto* base = static_cast<hazard_pointer_obj_base*>(record);
    T* object = static_cast<T*>(base);
    D deleter = std::move(base->deleter_);  // the object (and deleter_) may die below
    deleter(object);
  }

  [[no_unique_address]] D deleter_{};
};

/// Owner of one hazard pointer, or empty ([saferecl.hp.holder]). Move-only.
/// One thread at a time.
class hazard_pointer {
 public:
  /// An empty hazard_pointer (owns no hazard pointer).
  hazard_pointer() noexcept = default;
  /// Takes other's hazard pointer (and its protection); other becomes empty.
  hazard_pointer(hazard_pointer&& other) noexcept : slot_(std::exchange(other.slot_, nullptr)) {}
  /// Destroys the owned hazard pointer (ending its protection), then takes
  /// other's. No effect on self-assignment. May run a pass (R2).
  hazard_pointer& operator=(hazard_pointer&& other) noexcept {
    if (this != &other) {
      release();
      slot_ = std::exchange(other.slot_, nullptr);
    }
    return *this;
  }
  /// Ends the protection and gives the hazard pointer back. May run a
  /// reclamation pass when it was the last non-empty one (R2).
  ~hazard_pointer() { release(); }

  /// True if and only if *this owns no hazard pointer.
  [[nodiscard]] bool empty() const noexcept { return slot_ == nullptr; }

  /// Loads src and protects what it holds, retrying until the protection
  /// is validated; returns the protected pointer (possibly nullptr).
  /// Precondition: !empty() (else reported; returns nullptr). Ordering: the
  /// final load is acquire (O3). Lock-free.
  template <class T>
  T* protect(const std::atomic<T*>& src) noexcept {
    static_assert(detail::hazard_protectable<T>,
                  "ordo: hazard_pointer: T must be hazard-protectable (derive publicly from "
                  "ordo::hazard_pointer_obj_base<T, D>)");
    if (slot_ == nullptr) [[unlikely]] {
      report_empty("protect() on an empty hazard_pointer");
      return nullptr;
    }
    // relaxed: a first guess; try_protect validates it with an acquire load.
    T* ptr = src.load(std::memory_order_relaxed);
    while (!try_protect(ptr, src)) {
    }
    return ptr;
  }

  /// Protects ptr, then re-loads src into ptr: true (protected) when src
  /// still held ptr; otherwise the protection is reset, ptr holds the new
  /// value and the result is false. Precondition: !empty() (else reported;
  /// ptr = nullptr, true). Ordering: the load is acquire (O3). Wait-free.
  template <class T>
  bool try_protect(T*& ptr, const std::atomic<T*>& src) noexcept {
    static_assert(detail::hazard_protectable<T>,
                  "ordo: hazard_pointer: T must be hazard-protectable (derive publicly from "
                  "ordo::hazard_pointer_obj_base<T, D>)");
    if (slot_ == nullptr) [[unlikely]] {
      report_empty("try_protect() on an empty hazard_pointer");
      ptr = nullptr;
      return true;
    }
    T* const old = ptr;
    slot_->protect(static_cast<const void*>(old));  // reset_protection(old)
    // acquire: pairs with the publisher's release store (O3).
    ptr = src.load(std::memory_order_acquire);
    if (old == ptr) return true;
    slot_->reset();
    return false;
  }

  /// Associates the hazard pointer with *ptr (nullptr: unassociates), ending
  /// the current protection epoch. The caller validates that ptr is still
  /// published afterwards. Precondition: !empty() (else reported; no
  /// effect). Wait-free.
  template <class T>
  void reset_protection(const T* ptr) noexcept {
    static_assert(detail::hazard_protectable<T>,
                  "ordo: hazard_pointer: T must be hazard-protectable (derive publicly from "
                  "ordo::hazard_pointer_obj_base<T, D>)");
    if (slot_ == nullptr) [[unlikely]] {
      report_empty("reset_protection() on an empty hazard_pointer");
      return;
    }
    if (ptr == nullptr) {
      slot_->reset();
    } else {
      slot_->protect(static_cast<const void*>(ptr));
    }
  }

  /// Unassociates the hazard pointer. Precondition: !empty() (else
  /// reported; no effect). Wait-free.
  void reset_protection(std::nullptr_t = nullptr) noexcept {
    if (slot_ == nullptr) [[unlikely]] {
      report_empty("reset_protection() on an empty hazard_pointer");
      return;
    }
    slot_->reset();
  }

  /// Swaps the owned hazard pointers (and their protections).
  void swap(hazard_pointer& other) noexcept { std::swap(slot_, other.slot_); }

 private:
  friend hazard_pointer make_hazard_pointer();
  explicit hazard_pointer(detail::hazptr_slot* slot) noexcept : slot_(slot) {}

  void release() noexcept {
    if (slot_ == nullptr) return;
    slot_->reset();  // ends the epoch (O1)
    detail::hazptr_give_slot(std::exchange(slot_, nullptr));
    detail::hazptr_default_domain().hazard_pointer_gone();  // R2
  }

  [[gnu::cold]] void report_empty(const char* message) const {
    detail::hazptr_report_misuse(hazard_pointer_report_kind::empty_hazard_pointer, this,
                                 message);
  }

  detail::hazptr_slot* slot_ = nullptr;
};

/// Constructs a hazard pointer (unassociated) and returns its owner. Takes
/// a slot from the thread's cache, else from the domain (may allocate:
/// throws bad_alloc if that fails). Thread-safe.
inline hazard_pointer make_hazard_pointer() {
  detail::hazptr_slot* slot = detail::hazptr_take_slot();
  detail::hazptr_default_domain().hazard_pointer_made();
  return hazard_pointer(slot);
}

/// a.swap(b).
inline void swap(hazard_pointer& a, hazard_pointer& b) noexcept { a.swap(b); }

}  // namespace ordo

#endif  // ORDO_HAZARD_POINTER_HPP
