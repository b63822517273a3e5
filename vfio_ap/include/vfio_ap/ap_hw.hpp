// vfio_ap/ap_hw.hpp — the simulated AP firmware (ZAPQ, TAPQ, the
// configured queues, injected response codes), the ZAPQ log with the I3
// ledger, the kernel log, and the AP bus permission masks (apmask/aqmask).
//
// What it is
//   The parts of the model that are not vfio_ap code but that vfio_ap calls
//   or reads:
//     ap_hw     PQAP(ZAPQ) and PQAP(TAPQ) answers for each APQN. A queue
//               outside the configured apm x aqm answers 0x01
//               (Q_NOT_AVAIL); zapq_fault(apqn, rc) makes every later ZAPQ
//               and TAPQ of that queue answer rc (rc 0 clears it). Every
//               ZAPQ is logged, so tests check exactly which queues were
//               reset. The I3 ledger: vfio_ap reports every APQN that leaves
//               a shadow APCB (note_departures); the firmware remembers those
//               still configured until a ZAPQ reaches them, and records any
//               ZAPQ of an unconfigured queue. check_invariants reads both.
//               It also keeps the kernel log (dev_warn lines). Both logs
//               are rings: the last zapq_log_capacity ZAPQs and the last
//               kernel_log_capacity lines, so a long-running model (a
//               mounted sysfs) stays within a fixed memory bound; tests
//               that clear the log between steps never reach the bound.
//     ap_perms  ap_perms.apm/aqm: the host reservation masks, guarded by
//               ap_attr_mutex (ordered_mutex<ap_attr_level>).
//
// When not to use it
//   Outside the vfio_ap model.
//
// Thread-safety contract
//   ap_hw: every member is thread-safe; it takes its own leaf lock
//   (ap_hw_level), so a caller may hold any vfio_ap lock (the ctx argument
//   orders it). ap_perms: apm/aqm only with `mutex` held (holds<ap_attr>).
//
// Memory ordering (happens-before)
//   O1  Everything done under the ap_hw lock is visible to the next holder
//       (ordered_mutex O1); snapshots returned by value.
//
// Invariants
//   H1  pending (the ledger) holds exactly the configured APQNs that left a
//       shadow APCB and were not ZAPQ'ed since.
//   H2  zapq_log lists every ZAPQ in issue order since the last clear, or
//       the last zapq_log_capacity of them (older ones are dropped first).
//
// Misuse
//   compile error  taking the hw lock from a context that holds a level not
//                  before ap_hw_level (ordered_mutex rules).
//
// Example
//   hw.set_fault(ctx, q, 0x05);      // the queue stays busy
//   unsigned rc = hw.zapq(ctx, q);   // 0x05
#ifndef ORDO_VFIO_AP_AP_HW_HPP
#define ORDO_VFIO_AP_AP_HW_HPP

#include <algorithm>
#include <cstddef>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include "ordo/ap.hpp"
#include "ordo/ordered_mutex.hpp"
#include "vfio_ap/levels.hpp"

namespace ordo::vfio_ap {

/// How many ZAPQs (2 bytes each) and kernel log lines the model keeps.
inline constexpr std::size_t zapq_log_capacity = std::size_t{1} << 16;
inline constexpr std::size_t kernel_log_capacity = 1024;

/// ap_perms: the queues reserved for the host's default drivers. Default:
/// every APQN (all-ones masks). Guarded by `mutex` (ap_attr_mutex).
struct ap_perms {
  mutable ordo::ordered_mutex<ap_attr_level> mutex;
  ap::adapter_mask apm = ap::adapter_mask::all();
  ap::domain_mask aqm = ap::domain_mask::all();

  /// Is the APQN reserved for the host? Needs ap_attr_mutex.
  template <class Ctx>
    requires ordo::holds<Ctx, ap_attr_level>
  [[nodiscard]] bool reserved(Ctx&, ap::apqn q) const noexcept {
    return apm.test(q.card()) && aqm.test(q.queue());
  }
};

/// The kernel log's ring: the last kernel_log_capacity lines, oldest first.
/// Its strings keep their buffers when the ring drops a line, is cleared or
/// is restored, so a line written into a slot (log_lines, restore) reuses
/// the memory of the line it replaces (sysfs_fuzz restores a host whose log
/// grew after nearly every input; a std::deque freed each line and its
/// blocks there). At most kernel_log_capacity strings, kept for the host's
/// life.
class kernel_log_ring {
 public:
  /// The slot of a new newest line, emptied: the oldest line's when the
  /// ring is full.
  std::string& append() {
    std::string* slot = nullptr;
    if (size_ < slots_.size()) {
      slot = &slots_[(head_ + size_) % slots_.size()];
      ++size_;
    } else if (slots_.size() < kernel_log_capacity) {  // not full yet: head_ is 0
      slot = &slots_.emplace_back();
      ++size_;
    } else {  // full: the oldest goes
      slot = &slots_[head_];
      head_ = (head_ + 1) % slots_.size();
    }
    slot->clear();
    return *slot;
  }
  /// No lines (the strings stay, emptied when next appended).
  void clear() noexcept {
    head_ = 0;
    size_ = 0;
  }
  /// The lines, oldest first.
  [[nodiscard]] std::vector<std::string> lines() const {
    std::vector<std::string> out;
    out.reserve(size_);
    for (std::size_t i = 0; i < size_; ++i) out.push_back(slots_[(head_ + i) % slots_.size()]);
    return out;
  }

 private:
  std::vector<std::string> slots_;
  std::size_t head_ = 0;  // the oldest line's slot
  std::size_t size_ = 0;  // lines held
};

class ap_hw {
 public:
  /// Configured queues change (the hardware side of a QCI change).
  template <class Ctx>
  void set_config(Ctx& ctx, const ap::adapter_mask& apm, const ap::domain_mask& aqm) {
    auto hw = lock_.lock(ctx);
    apm_ = apm;
    aqm_ = aqm;
  }

  /// Later ZAPQs/TAPQs of `q` answer `rc`; rc 0 clears.
  template <class Ctx>
  void set_fault(Ctx& ctx, ap::apqn q, unsigned rc) {
    auto hw = lock_.lock(ctx);
    if (rc == 0) {
      faults_.erase(q);
    } else {
      faults_[q] = rc;
    }
  }

  /// PQAP(ZAPQ): logged; clears q from the I3 ledger; 0x01 outside the
  /// configuration (and recorded as an I3 violation), else the fault or 0.
  template <class Ctx>
  [[nodiscard]] unsigned zapq(Ctx& ctx, ap::apqn q) {
    auto hw = lock_.lock(ctx);
    zapq_log_.push_back(q);
    if (zapq_log_.size() > zapq_log_capacity) zapq_log_.pop_front();
    pending_.erase(q);
    if (!configured(q)) {
      zapq_outside_.push_back(q);
      return 0x01;
    }
    const auto fault = faults_.find(q);
    return fault == faults_.end() ? 0u : fault->second;
  }

  /// PQAP(TAPQ): 0x01 outside the configuration, else the fault or 0.
  template <class Ctx>
  [[nodiscard]] unsigned tapq(Ctx& ctx, ap::apqn q) {
    auto hw = lock_.lock(ctx);
    if (!configured(q)) return 0x01;
    const auto fault = faults_.find(q);
    return fault == faults_.end() ? 0u : fault->second;
  }

  /// I3 ledger: these APQNs left a shadow APCB. The configured ones must be
  /// ZAPQ'ed before the operation ends.
  template <class Ctx>
  void note_departures(Ctx& ctx, const std::vector<ap::apqn>& departed) {
    if (departed.empty()) return;
    auto hw = lock_.lock(ctx);
    for (ap::apqn q : departed) {
      if (configured(q)) pending_.insert(q);
    }
  }

  /// Appends a kernel log line.
  template <class Ctx>
  void log(Ctx& ctx, std::string line) {
    auto hw = lock_.lock(ctx);
    log_.append() = std::move(line);
  }
  /// Appends `count` kernel log lines at once (one lock acquisition):
  /// write(i, line) appends line i, i ascending, to an empty `line`. write
  /// is called only for the lines the ring keeps: of a burst longer than
  /// the ring, the first count - kernel_log_capacity would be dropped
  /// before anyone could read them (a refused assignment can name 65536
  /// shared queues, one line each), so they are never formatted. A line
  /// the ring drops lends its buffer to the next. The log ends as it would
  /// after count log() calls.
  template <class Ctx, class F>
  void log_lines(Ctx& ctx, std::size_t count, F&& write) {
    auto hw = lock_.lock(ctx);
    for (std::size_t i = count > kernel_log_capacity ? count - kernel_log_capacity : 0; i < count;
         ++i) {
      write(i, log_.append());
    }
  }

  struct snapshot {
    std::vector<ap::apqn> pending;       // left a guest, configured, not reset
    std::vector<ap::apqn> zapq_outside;  // ZAPQ'ed while not configured
  };
  template <class Ctx>
  [[nodiscard]] snapshot state(Ctx& ctx) const {
    auto hw = lock_.lock(ctx);
    snapshot s{{pending_.begin(), pending_.end()}, zapq_outside_};
    std::sort(s.pending.begin(), s.pending.end());
    return s;
  }
  /// Nothing pending and no ZAPQ outside the configuration: state() would
  /// return two empty lists (the invariant checker's fast path).
  template <class Ctx>
  [[nodiscard]] bool ledger_clean(Ctx& ctx) const {
    auto hw = lock_.lock(ctx);
    return pending_.empty() && zapq_outside_.empty();
  }
  template <class Ctx>
  [[nodiscard]] std::vector<ap::apqn> zapq_log(Ctx& ctx) const {
    auto hw = lock_.lock(ctx);
    return {zapq_log_.begin(), zapq_log_.end()};
  }
  template <class Ctx>
  void clear_zapq_log(Ctx& ctx) {
    auto hw = lock_.lock(ctx);
    zapq_log_.clear();
  }
  template <class Ctx>
  [[nodiscard]] std::vector<std::string> kernel_log(Ctx& ctx) const {
    auto hw = lock_.lock(ctx);
    return log_.lines();
  }

  /// Back to the start state (host::reset): nothing configured, no fault,
  /// empty logs and ledger.
  template <class Ctx>
  void reset(Ctx& ctx) {
    auto hw = lock_.lock(ctx);
    apm_ = {};
    aqm_ = {};
    faults_.clear();
    zapq_log_.clear();
    pending_.clear();
    zapq_outside_.clear();
    log_.clear();
  }

  /// What host::save copies and host::restore puts back: the configured
  /// queues, the faults (in APQN order), both logs and the I3 ledger.
  struct saved_state {
    ap::adapter_mask apm;
    ap::domain_mask aqm;
    std::vector<std::pair<ap::apqn, unsigned>> faults;
    std::vector<ap::apqn> zapq_log;
    std::vector<ap::apqn> pending;
    std::vector<ap::apqn> zapq_outside;
    std::vector<std::string> log;
  };
  template <class Ctx>
  [[nodiscard]] saved_state save(Ctx& ctx) const {
    auto hw = lock_.lock(ctx);
    saved_state s{apm_, aqm_, {faults_.begin(), faults_.end()},
                  {zapq_log_.begin(), zapq_log_.end()}, {pending_.begin(), pending_.end()},
                  zapq_outside_, log_.lines()};
    std::sort(s.faults.begin(), s.faults.end());
    std::sort(s.pending.begin(), s.pending.end());
    return s;
  }
  template <class Ctx>
  void restore(Ctx& ctx, const saved_state& s) {
    auto hw = lock_.lock(ctx);
    apm_ = s.apm;
    aqm_ = s.aqm;
    faults_.clear();
    faults_.insert(s.faults.begin(), s.faults.end());
    zapq_log_.assign(s.zapq_log.begin(), s.zapq_log.end());
    pending_.clear();
    pending_.insert(s.pending.begin(), s.pending.end());
    zapq_outside_ = s.zapq_outside;
    log_.clear();
    for (const std::string& line : s.log) log_.append() = line;  // into the kept buffers
  }

  /// Test-only (host_test_access): forget a pending departure without a
  /// ZAPQ, or invent one.
  template <class Ctx>
  void corrupt_ledger(Ctx& ctx, ap::apqn q) {
    auto hw = lock_.lock(ctx);
    pending_.insert(q);
  }

 private:
  [[nodiscard]] bool configured(ap::apqn q) const noexcept {
    return apm_.test(q.card()) && aqm_.test(q.queue());
  }

  mutable ordo::ordered_mutex<ap_hw_level> lock_;
  ap::adapter_mask apm_;
  ap::domain_mask aqm_;
  absl::flat_hash_map<ap::apqn, unsigned> faults_;
  std::deque<ap::apqn> zapq_log_;    // a ring of zapq_log_capacity
  absl::flat_hash_set<ap::apqn> pending_;
  std::vector<ap::apqn> zapq_outside_;
  kernel_log_ring log_;
};

}  // namespace ordo::vfio_ap

#endif  // ORDO_VFIO_AP_AP_HW_HPP
