// vfio_ap/matrix_dev.hpp — the vfio_ap driver: the matrix device, its
// mediated devices (ap_matrix_mdev), the queues bound to vfio_ap
// (vfio_ap_queue) and every operation of drivers/s390/crypto/vfio_ap_ops.c
// that docs/vfio-ap-model.md describes.
//
// What it is
//   The [7.3] driver written with ordo's locks:
//     guests_lock  ordered_mutex<guests_level>: mdev_list, every m->kvm
//                  (read), matrix_dev->info;
//     mdevs_lock   ordered_mutex<mdevs_level>: every mdev field, the queue
//                  tables, the vfio_ap queues;
//   and the kvm's lock and pqap_hook_rwsem (kvm.hpp) in between. Each
//   internal function states the locks it needs with ordo::holds (or
//   ordo::assert_held), so update_guest_apcb cannot be called without
//   guests_lock, kvm->lock (when attached: ordo::maybe) and mdevs_lock.
//   Behaviour per section of the reference:
//     §2.1-2.9  assign/unassign adapter, domain, control domain; matrix,
//               guest_matrix, control_domains; ap_config show/store
//     §2.11     queue status
//     §3.1      validate_masks (EADDRNOTAVAIL, EADDRINUSE)
//     §3.2      in_use (the apmask/aqmask veto)
//     §3.3-3.4  filter_matrix (whole matrix), filter_cdoms, update_guest_apcb
//     §4.2-4.3  set_kvm ([7.3], without the [6.16] hook bug), unset_kvm
//     §4.4      queue reset (ZAPQ, reset_status, bounded polling)
//     §4.5      probe_queue / remove_queue
//     §4.6      on_cfg_changed / on_scan_complete ([7.3])
//     §4.7      mdev create / remove / request
//     §4.9      handle_pqap (IR=0)
//
//   Filtering does not look every APQN up in a hashtable as the kernel
//   does: each mdev keeps, per adapter, the domain mask of its linked and
//   passable queues (usable_index), maintained on link, unlink and reset,
//   so an adapter survives filtering iff shadow.aqm is a subset of its row
//   (4-word test instead of up to 256 lookups; bench/vfio_ap_bench.cpp).
//
// Deviations from the kernel (documented, deliberate)
//   D1  Unlinking a queue always clears q->matrix_mdev (the kernel leaves it
//       stale for queues not in the shadow, §2.2 NOTE, a dangling pointer
//       once that mdev is removed). Observable behaviour is the same.
//   D2  ap_config show and status take mdevs_lock (the kernel's ap_config
//       show takes none: a data race in C++).
//   D3  A reset whose queue stays busy (fault 2 or 5) polls TAPQ a bounded
//       number of times (reset_max_polls) and gives up, leaving reset_status
//       at the busy code (not passable); the kernel polls forever.
//   D4  matrix/guest_matrix/control_domains find the mdev under guests_lock
//       first (the model's sysfs lookup), then take mdevs_lock.
//   D5  The firmware configuration changes atomically with info (under
//       guests_lock, in on_cfg_changed), and a reset skips a queue outside
//       info. Such a queue can sit in a queue table only between
//       on_cfg_changed and the AP bus removing its device; the kernel would
//       ZAPQ it there (rc 0x01, WARN). So I3's "never reset outside the
//       host configuration" holds under any interleaving.
//
// When not to use it
//   Directly: go through ordo::vfio_ap::host (host.hpp), which adds the AP
//   bus, the guests and the sysfs paths.
//
// Thread-safety contract
//   Every public member takes the locks it needs from the context it is
//   given; fields of mdev and vfio_ap_queue are touched only with
//   mdevs_lock held (guests_lock too for writes of m->guest, q->matrix_mdev,
//   mdev_list and the queue registry).
//   These fields carry no ABSL_GUARDED_BY: Clang's thread-safety analysis
//   follows a lock only within the scope that took it, and here the locks
//   are taken in one function (with_mdev: guests_lock, kvm->lock by
//   lock_if, which the analysis cannot follow because it is conditional,
//   mdevs_lock) and the fields touched in the store bodies and internal
//   operations the guard is passed to, so every access would need an
//   escape. ordo::holds in each signature is the check instead. Where one
//   accessor owns the data and can assert its lock (kvm's APCB masks,
//   kvm.hpp), the data is ABSL_GUARDED_BY and the analysis checks it.
//
// Memory ordering (happens-before)
//   O1  Every change is made under mdevs_lock (and guests_lock where noted):
//       it is visible to the next holder (ordered_mutex O1).
//
// Invariants (the model's; the host checks them, see host.hpp)
//   M1  usable.test(q) <=> q in qtable and passable(q), for every APQN q.
//   M2  q in m.qtable  =>  q->matrix_mdev == &m and q's APQN in m.matrix.
//
// Misuse
//   compile error  calling an internal function without its locks:
//                  "ordo: assert_held: ..." or an unsatisfied ordo::holds.
//
// Example
//   see host.hpp.
#ifndef ORDO_VFIO_AP_MATRIX_DEV_HPP
#define ORDO_VFIO_AP_MATRIX_DEV_HPP

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/container/inlined_vector.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_format.h>

#include "ordo/ap.hpp"
#include "ordo/module.hpp"
#include "ordo/ordered_mutex.hpp"
#include "ordo/ref.hpp"
#include "vfio_ap/ap_hw.hpp"
#include "vfio_ap/kvm.hpp"
#include "vfio_ap/levels.hpp"
#include "vfio_ap/slab.hpp"

namespace ordo::vfio_ap {

class matrix_dev;

/// MAX_ZDEV_ENTRIES_EXT: the mdev type's max_instances.
inline constexpr unsigned max_mdev_instances = 256 * 256;
/// D3: TAPQ polls (and re-issued ZAPQs) before a reset gives up.
inline constexpr int reset_max_polls = 3;

inline std::error_code errc(std::errc e) { return std::make_error_code(e); }

/// struct vfio_ap_queue: one queue device bound to vfio_ap (its drvdata).
/// Guarded by mdevs_lock.
struct vfio_ap_queue {
  explicit vfio_ap_queue(ap::apqn q) noexcept : apqn(q) {}
  const ap::apqn apqn;
  mdev* matrix_mdev = nullptr;   // written with guests_lock and mdevs_lock held
  unsigned reset_rc = 0;         // reset_status.response_code of the last ZAPQ
  std::uint8_t saved_isc = 0xff; // VFIO_AP_ISC_INVALID
  /// _queue_passable: the last reset ended NORMAL, DECONFIGURED or CHECKSTOPPED.
  [[nodiscard]] bool passable() const noexcept {
    return reset_rc == ap_response_normal || reset_rc == ap_response_deconfigured ||
           reset_rc == ap_response_checkstopped;
  }
};

/// An mdev's index of its linked, passable queues by adapter (M1): the row
/// of adapter a holds { q : (a, q) in qtable and passable(q) }. Filtering asks
/// whether a shadow's domains are all usable on an adapter (covers), a
/// test of four words instead of a lookup per APQN.
///
/// Only an adapter that had such a queue since the last clear_all has a
/// row (rows, in the order they were first needed; an emptied row stays),
/// found through a 512-byte table of slots: a new mdev zeroes that, not
/// the 8 KB a dense 256 x 256 table would need, and up to eight rows live
/// inside the mdev without an allocation.
class usable_index {
 public:
  struct row_entry {
    ap::apid adapter;
    ap::domain_mask domains;
  };

  /// Whether queue q is in the index.
  [[nodiscard]] bool test(ap::apqn q) const noexcept {
    const unsigned s = slot(q.card());
    return s != 0 && rows_[s - 1].domains.test(q.queue());
  }
  /// Whether every domain of `aqm` is usable on adapter a (an empty `aqm`
  /// is, on any adapter).
  [[nodiscard]] bool covers(ap::apid a, const ap::domain_mask& aqm) const noexcept {
    const unsigned s = slot(a);
    return s == 0 ? aqm.empty() : aqm.is_subset_of(rows_[s - 1].domains);
  }
  void set(ap::apqn q) {
    unsigned s = slot(q.card());
    if (s == 0) {
      rows_.push_back(row_entry{q.card(), {}});
      s = static_cast<unsigned>(rows_.size());
      set_slot(q.card(), s);
    }
    rows_[s - 1].domains.set(q.queue());
  }
  void clear(ap::apqn q) noexcept {
    const unsigned s = slot(q.card());
    if (s != 0) rows_[s - 1].domains.clear(q.queue());
  }
  void clear_all() noexcept {
    for (const row_entry& r : rows_) set_slot(r.adapter, 0);
    rows_.clear();
  }

  /// For the model's own check (host::check_model): the number of queues
  /// the rows hold, and whether each row's slot leads to it and no other
  /// slot is taken.
  [[nodiscard]] ORDO_NO_COVERAGE std::size_t weight() const noexcept {
    std::size_t n = 0;
    for (const row_entry& r : rows_) n += r.domains.weight();
    return n;
  }
  [[nodiscard]] ORDO_NO_COVERAGE bool consistent() const noexcept {
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      if (slot(rows_[i].adapter) != i + 1) return false;
    }
    // The taken slots, counted a word (four slots) at a time: a slot is
    // taken iff the OR of its 16 bits, folded into its lowest, is 1.
    std::size_t taken = 0;
    for (std::uint64_t w : slots_) {
      w |= w >> 8;
      w |= w >> 4;
      w |= w >> 2;
      w |= w >> 1;
      taken += static_cast<std::size_t>(std::popcount(w & 0x0001000100010001u));
    }
    return taken == rows_.size();
  }

 private:
  friend struct host_test_access;  // the invariant tests corrupt the slots
  // Adapter a's slot is the 16 bits at (a % 4) * 16 of word a / 4: its
  // row's index + 1, 0 when it has no row.
  [[nodiscard]] unsigned slot(ap::apid a) const noexcept {
    return static_cast<unsigned>(slots_[a.value() / 4] >> (a.value() % 4 * 16)) & 0xffffu;
  }
  void set_slot(ap::apid a, unsigned s) noexcept {
    const unsigned shift = a.value() % 4 * 16;
    std::uint64_t& w = slots_[a.value() / 4];
    w = (w & ~(std::uint64_t{0xffff} << shift)) | (std::uint64_t{s} << shift);
  }
  std::array<std::uint64_t, ap::max_ids / 4> slots_{};
  absl::InlinedVector<row_entry, 8> rows_;
};

/// struct ap_matrix_mdev. Fields are guarded as commented.
class mdev {
 public:
  mdev(matrix_dev& parent, std::string uuid, const ap::host_config& info)
      : parent(&parent),
        uuid_(std::move(uuid)),
        matrix(info),
        shadow(info),
        pqap_hook(crypto_hook::bind<&mdev::handle_pqap>(*this)) {}
  mdev(const mdev&) = delete;
  mdev& operator=(const mdev&) = delete;

  /// The mdev's UUID (lowercase). Immutable.
  [[nodiscard]] const std::string& uuid() const noexcept { return uuid_; }

  matrix_dev* const parent;

 private:
  std::string uuid_;

 public:
  // ---- guarded by mdevs_lock ----
  ap::ap_matrix matrix;                    // what the admin assigned
  ap::ap_matrix shadow;                    // shadow_apcb: what the guest gets
  kvm* guest = nullptr;                    // m->kvm; written with guests+kvm+mdevs held
  absl::flat_hash_map<ap::apqn, vfio_ap_queue*> qtable;  // qtable.queues
  usable_index usable;                     // M1
  ap::adapter_mask apm_add;                // host config additions pending scan
  ap::domain_mask aqm_add;
  ap::control_domain_mask adm_add;
  unsigned long cfg_chg_signals = 0;       // eventfd_signal(cfg_chg_trigger) count
  unsigned long requests = 0;              // vfio_ap_mdev_request calls
  crypto_hook pqap_hook;                   // handle_pqap bound to this; immutable

  // ---- guarded by the host's vfio_lock (the VFIO core side) ----
  bool open = false;
  ordo::ref<kvm> vfio_kvm;                           // vfio_device->kvm (one reference)
  ordo::symbol_ref<kvm_put_kvm_fn> vfio_put_kvm;     // vfio_device->put_kvm (pins kvm)

 private:
  unsigned handle_pqap(pqap_context* intercept, pqap_request& request);
};

class matrix_dev {
  friend struct host_test_access;

 public:
  /// An mdev made by this matrix's slab, destroyed through it.
  using mdev_pointer = slab<mdev, std::mutex>::pointer;

  matrix_dev(ap_hw& hw, ap_perms& perms, const ap::host_config& info) : hw_(&hw), perms_(&perms) {
    info_ = info;
  }
  matrix_dev(const matrix_dev&) = delete;
  matrix_dev& operator=(const matrix_dev&) = delete;

  mutable ordo::ordered_mutex<guests_level> guests_lock;
  mutable ordo::ordered_mutex<mdevs_level> mdevs_lock;

  // ---------------------------------------------------------------------
  // Lookups (guests_lock)

  template <class Ctx>
    requires ordo::holds<Ctx, guests_level>
  [[nodiscard]] mdev* find_mdev(Ctx&, std::string_view uuid) const {
    for (const auto& m : mdev_list_) {
      if (m->uuid() == uuid) return m.get();
    }
    return nullptr;
  }
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level>
  [[nodiscard]] const std::vector<mdev_pointer>& mdev_list(Ctx&) const {
    return mdev_list_;
  }
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level>
  [[nodiscard]] const ap::host_config& info(Ctx&) const {
    return info_;
  }
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level>
  [[nodiscard]] std::size_t instances(Ctx&) const {
    return mdev_list_.size();
  }
  /// The vfio_ap queue of an APQN (bound and probed), or nullptr.
  template <class Ctx>
    requires ordo::holds<Ctx, mdevs_level>
  [[nodiscard]] vfio_ap_queue* find_queue(Ctx&, ap::apqn q) const {
    const auto it = queues_.find(q);
    return it == queues_.end() ? nullptr : it->second.get();
  }
  template <class Ctx>
    requires ordo::holds<Ctx, mdevs_level>
  [[nodiscard]] const absl::flat_hash_map<ap::apqn, slab<vfio_ap_queue>::pointer>& queues(
      Ctx&) const {
    return queues_;
  }

  // ---------------------------------------------------------------------
  // The update locks (§4.1): guests_lock already held in g; kvm->lock if
  // attached; mdevs_lock. Calls f(mdevs guard).
  template <class Ctx, class F>
    requires ordo::holds<Ctx, guests_level>
  decltype(auto) with_mdev_locks(Ctx& g, mdev& m, F&& f) {
    auto kv = ordo::lock_if(m.guest != nullptr ? &m.guest->lock : nullptr, g);
    auto md = mdevs_lock.lock(kv);
    return std::forward<F>(f)(md);
  }

  /// The preamble of every mdev store: guests_lock (after what ctx holds),
  /// the mdev by UUID (ENOENT if there is none), then the update locks;
  /// calls body(mdevs guard, mdev*) and returns what it returns.
  template <class Ctx, class Body>
  std::error_code with_mdev(Ctx& ctx, std::string_view uuid, Body&& body) {
    auto g = guests_lock.lock(ctx);
    mdev* m = find_mdev(g, uuid);
    if (m == nullptr) return errc(std::errc::no_such_file_or_directory);
    return with_mdev_locks(g, *m, [&](auto& md) -> std::error_code { return body(md, m); });
  }

  // ---------------------------------------------------------------------
  // Internal operations: each demands its locks.

  /// vfio_ap_mdev_update_guest_apcb (§3.4): push the shadow to the guest.
  /// Needs guests_lock, kvm->lock (held when attached) and mdevs_lock.
  template <class Ctx>
  void update_guest_apcb(Ctx& ctx, mdev& m) {
    ordo::assert_held<guests_level, ordo::maybe<kvm_level>, mdevs_level>(ctx);
    if (m.guest == nullptr) return;
    // Attached, so the update locks took kvm->lock: lockdep_assert_held
    // (&kvm->lock) makes the lock_if's "maybe" definite (ordered_mutex.hpp).
    auto kl = m.guest->lock.assert_held(ctx);
    m.guest->set_masks(kl, m.shadow.apm, m.shadow.aqm, m.shadow.adm);
    ++m.cfg_chg_signals;
  }

  /// vfio_ap_mdev_filter_matrix (§3.3): recompute shadow apm/aqm from the
  /// whole matrix; `filtered` gets the adapters dropped that were in the
  /// previous shadow. True when shadow apm or aqm changed.
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, mdevs_level>
  bool filter_matrix(Ctx& ctx, mdev& m, ap::adapter_mask& filtered) {
    const ap::adapter_mask prev_apm = m.shadow.apm;
    const ap::domain_mask prev_aqm = m.shadow.aqm;
    const ap::ap_matrix maxima(info_);
    m.shadow.apm_max = maxima.apm_max;
    m.shadow.aqm_max = maxima.aqm_max;
    m.shadow.adm_max = maxima.adm_max;
    filtered.zero();
    m.shadow.apm = m.matrix.apm & info_.apm;
    m.shadow.aqm = m.matrix.aqm & info_.aqm;
    if (!m.shadow.aqm.empty()) {
      const ap::adapter_mask candidates = m.shadow.apm;
      for (ap::apid a : candidates) {
        if (!m.usable.covers(a, m.shadow.aqm)) {
          m.shadow.apm.clear(a);
          if (prev_apm.test(a)) filtered.set(a);
        }
      }
    }
    const bool changed = !(prev_apm == m.shadow.apm) || !(prev_aqm == m.shadow.aqm);
    if (changed) note_departures(ctx, m, prev_apm, prev_aqm);
    return changed;
  }

  /// vfio_ap_mdev_filter_cdoms: shadow.adm = matrix.adm & info.adm; true if
  /// it changed.
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, mdevs_level>
  bool filter_cdoms(Ctx&, mdev& m) {
    const ap::control_domain_mask prev = m.shadow.adm;
    m.shadow.adm = m.matrix.adm & info_.adm;
    return !(prev == m.shadow.adm);
  }

 private:

  /// filter_matrix, then update the guest and reset what was filtered out
  /// (the tail of assign_adapter/assign_domain/probe_queue).
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, ordo::maybe<kvm_level>, mdevs_level>
  void refilter(Ctx& ctx, mdev& m) {
    ap::adapter_mask filtered;
    if (filter_matrix(ctx, m, filtered)) {
      update_guest_apcb(ctx, m);
      reset_queues_for_apids(ctx, m, filtered);
    }
  }

  /// vfio_ap_mdev_validate_masks (§3.1). Needs ap_attr_mutex for ap_perms.
  template <class Ctx>
    requires ordo::holds<Ctx, ap_attr_level, guests_level, mdevs_level>
  std::error_code validate_masks(Ctx& ctx, const mdev& m) {
    if (m.matrix.apm.intersects(perms_->apm) && m.matrix.aqm.intersects(perms_->aqm)) {
      return errc(std::errc::address_not_available);
    }
    return verify_no_sharing(ctx, &m, m.matrix.apm, m.matrix.aqm);
  }

  /// vfio_ap_mdev_verify_no_sharing: EADDRINUSE when apm x aqm meets another
  /// mdev's matrix (any mdev when assignee is null: in_use). Logs one line
  /// per shared APQN, as the kernel does.
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, mdevs_level>
  std::error_code verify_no_sharing(Ctx& ctx, const mdev* assignee, const ap::adapter_mask& apm,
                                    const ap::domain_mask& aqm) {
    for (const auto& other : mdev_list_) {
      if (other.get() == assignee) continue;
      const ap::adapter_mask shared_apm = apm & other->matrix.apm;
      if (shared_apm.empty()) continue;
      const ap::domain_mask shared_aqm = aqm & other->matrix.aqm;
      if (shared_aqm.empty()) continue;
      // One line per shared queue, adapter-major as the kernel's loops
      // (line i: the (i / |shared_aqm|)-th shared adapter, the
      // (i % |shared_aqm|)-th shared domain).
      std::array<std::uint8_t, ap::max_ids> adapters{};
      std::array<std::uint8_t, ap::max_ids> domains{};
      std::size_t n_apm = 0;
      std::size_t n_aqm = 0;
      for (ap::apid a : shared_apm) adapters[n_apm++] = a.value();
      for (ap::apqi q : shared_aqm) domains[n_aqm++] = q.value();
      // Each line is its two fixed parts around the queue's number (what
      // StrFormat would print, without parsing a format for each line).
      const std::string head =
          assignee != nullptr
              ? absl::StrCat("vfio_ap_mdev ", assignee->uuid(), ": Userspace may not assign queue ")
              : absl::StrCat("vfio_ap_mdev ", other->uuid(), ": Can not reserve queue ");
      const std::string tail =
          assignee != nullptr ? absl::StrCat(" to mdev: already assigned to ", other->uuid())
                              : std::string(" for host driver: in use by mdev");
      hw_->log_lines(ctx, n_apm * n_aqm, [&](std::size_t i, std::string& line) {
        line.reserve(head.size() + 7 + tail.size());
        line.append(head);
        ap::apqn(ap::apid(adapters[i / n_aqm]), ap::apqi(domains[i % n_aqm])).append_to(line);
        line.append(tail);
      });
      return errc(std::errc::address_in_use);
    }
    return {};
  }

  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, mdevs_level>
  void link_queue(Ctx&, mdev& m, vfio_ap_queue& q) {
    if (!m.qtable.try_emplace(q.apqn, &q).second) return;
    q.matrix_mdev = &m;
    if (q.passable()) m.usable.set(q.apqn);
  }

  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, mdevs_level>
  void unlink_queue(Ctx&, mdev& m, vfio_ap_queue& q) {
    if (m.qtable.erase(q.apqn) == 0) return;
    m.usable.clear(q.apqn);
  }

  /// Links m to every probed queue of its matrix in a row of `apm` or a
  /// column of `aqm` (the adapters and domains just added to m.matrix). Two
  /// ways to find them, the cheaper one taken: look up each such APQN of
  /// the matrix in the queue table (|apm| x |matrix.aqm| + |aqm| x
  /// |matrix.apm| lookups: 65536 for an ap_config store that fills both
  /// masks), or pass once over the probed queues (as many as the host has:
  /// 16 in sysfs_fuzz's host). Either links the same queues; the tables are
  /// unordered, and what is done in APQN order (reset_queues) sorts.
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, mdevs_level>
  void link_apqns(Ctx& ctx, mdev& m, const ap::adapter_mask& apm, const ap::domain_mask& aqm) {
    const std::size_t lookups = apm.weight() * m.matrix.aqm.weight() +
                                aqm.weight() * m.matrix.apm.weight();
    if (lookups == 0) return;
    if (queues_.size() < lookups) {
      for (const auto& [apqn, queue] : queues_) {
        const bool row = apm.test(apqn.card()) && m.matrix.aqm.test(apqn.queue());
        const bool column = aqm.test(apqn.queue()) && m.matrix.apm.test(apqn.card());
        if (row || column) link_queue(ctx, m, *queue);
      }
      return;
    }
    for (ap::apid a : apm) {
      for (ap::apqi q : m.matrix.aqm) {
        if (vfio_ap_queue* queue = find_queue(ctx, ap::apqn(a, q))) link_queue(ctx, m, *queue);
      }
    }
    for (ap::apqi q : aqm) {
      for (ap::apid a : m.matrix.apm) {
        if (vfio_ap_queue* queue = find_queue(ctx, ap::apqn(a, q))) link_queue(ctx, m, *queue);
      }
    }
  }

  /// I3 ledger: tell the firmware which APQNs left m's shadow.
  template <class Ctx>
    requires ordo::holds<Ctx, mdevs_level>
  void note_departures(Ctx& ctx, const mdev& m, const ap::adapter_mask& prev_apm,
                       const ap::domain_mask& prev_aqm) {
    std::vector<ap::apqn> departed;
    departed.reserve(prev_apm.weight() * prev_aqm.weight());
    for (ap::apid a : prev_apm) {
      const ap::domain_mask gone = m.shadow.apm.test(a) ? prev_aqm.andnot(m.shadow.aqm) : prev_aqm;
      for (ap::apqi q : gone) departed.emplace_back(a, q);
    }
    hw_->note_departures(ctx, departed);
  }

  /// vfio_ap_mdev_reset_queue + apq_reset_check (§4.4, D3, D5).
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, mdevs_level>
  void reset_queue(Ctx& ctx, vfio_ap_queue& q) {
    // D5: a queue outside the host configuration is not reset (it would
    // answer 0x01); only possible between on_cfg_changed and the removal of
    // its device by the AP bus.
    if (!info_.apm.test(q.apqn.card()) || !info_.aqm.test(q.apqn.queue())) return;
    unsigned rc = hw_->zapq(ctx, q.apqn);
    q.reset_rc = rc;
    // The codes after which the kernel checks the reset (apq_reset_check):
    // NORMAL too, since a reset that was accepted may still be in progress.
    const auto needs_reset_check = [](unsigned code) {
      return code == ap_response_normal || code == ap_response_reset_in_progress ||
             code == ap_response_busy || code == ap_response_state_change_in_progress;
    };
    if (needs_reset_check(rc)) {
      unsigned original = rc;
      for (int polls = 0; polls < reset_max_polls; ++polls) {
        const unsigned status = hw_->tapq(ctx, q.apqn);
        const bool done = status == ap_response_normal || status == ap_response_deconfigured ||
                          status == ap_response_checkstopped;
        const bool busy = status == ap_response_reset_in_progress || status == ap_response_busy;
        const bool again =
            status == ap_response_assoc_secret_not_unique || status == ap_response_assoc_failed;
        if (busy) continue;
        if (!done && !again) {
          hw_->log(ctx, absl::StrFormat("vfio_ap: reset of queue %s failed: TAPQ rc=0x%02x",
                                        q.apqn.to_string(), status));
          break;
        }
        if (original == ap_response_reset_in_progress || original == ap_response_busy ||
            original == ap_response_state_change_in_progress || again) {
          rc = hw_->zapq(ctx, q.apqn);
          q.reset_rc = rc;
          original = rc;
          continue;
        }
        q.saved_isc = 0xff;  // free_aqic_resources
        break;
      }
    } else if (rc == ap_response_deconfigured || rc == ap_response_checkstopped) {
      q.saved_isc = 0xff;
    } else {
      hw_->log(ctx, absl::StrFormat("vfio_ap: ZAPQ of queue %s: rc=0x%02x", q.apqn.to_string(), rc));
    }
    mdev* m = q.matrix_mdev;
    if (m != nullptr && m->qtable.contains(q.apqn)) {
      if (q.passable()) {
        m->usable.set(q.apqn);
      } else {
        m->usable.clear(q.apqn);
      }
    }
  }

  /// vfio_ap_mdev_reset_queues: every queue of the table, ascending.
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, mdevs_level>
  void reset_queues(Ctx& ctx, mdev& m) {
    std::vector<vfio_ap_queue*> list;
    list.reserve(m.qtable.size());
    for (auto& [apqn, q] : m.qtable) list.push_back(q);
    std::sort(list.begin(), list.end(),
              [](const vfio_ap_queue* a, const vfio_ap_queue* b) { return a->apqn < b->apqn; });
    for (vfio_ap_queue* q : list) reset_queue(ctx, *q);
  }

  /// reset_queues_for_apids: the table's queues in apids x shadow.aqm.
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, mdevs_level>
  void reset_queues_for_apids(Ctx& ctx, mdev& m, const ap::adapter_mask& apids) {
    for (ap::apid a : apids) {
      for (ap::apqi q : m.shadow.aqm) {
        const auto it = m.qtable.find(ap::apqn(a, q));
        if (it != m.qtable.end()) reset_queue(ctx, *it->second);
      }
    }
  }

  /// vfio_ap_mdev_hot_unplug_adapters (§2.2).
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, ordo::maybe<kvm_level>, mdevs_level>
  void hot_unplug_adapters(Ctx& ctx, mdev& m, const ap::adapter_mask& apids) {
    std::vector<vfio_ap_queue*> reset_list;
    const ap::adapter_mask prev_apm = m.shadow.apm;
    bool apcb_update = false;
    for (ap::apid a : apids) {
      for (ap::apqi q : m.matrix.aqm) {
        const auto it = m.qtable.find(ap::apqn(a, q));
        if (it == m.qtable.end()) continue;
        vfio_ap_queue* queue = it->second;
        unlink_queue(ctx, m, *queue);
        if (m.shadow.apm.test(a) && m.shadow.aqm.test(q)) {
          reset_list.push_back(queue);
        } else {
          queue->matrix_mdev = nullptr;  // D1
        }
      }
      if (m.shadow.apm.test_and_clear(a)) apcb_update = true;
    }
    if (apcb_update) {
      note_departures(ctx, m, prev_apm, m.shadow.aqm);
      update_guest_apcb(ctx, m);
    }
    for (vfio_ap_queue* q : reset_list) reset_queue(ctx, *q);
    for (vfio_ap_queue* q : reset_list) q->matrix_mdev = nullptr;
  }

  /// vfio_ap_mdev_hot_unplug_domains (§2.4).
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, ordo::maybe<kvm_level>, mdevs_level>
  void hot_unplug_domains(Ctx& ctx, mdev& m, const ap::domain_mask& apqis) {
    std::vector<vfio_ap_queue*> reset_list;
    const ap::domain_mask prev_aqm = m.shadow.aqm;
    bool apcb_update = false;
    for (ap::apqi q : apqis) {
      for (ap::apid a : m.matrix.apm) {
        const auto it = m.qtable.find(ap::apqn(a, q));
        if (it == m.qtable.end()) continue;
        vfio_ap_queue* queue = it->second;
        unlink_queue(ctx, m, *queue);
        if (m.shadow.apm.test(a) && m.shadow.aqm.test(q)) {
          reset_list.push_back(queue);
        } else {
          queue->matrix_mdev = nullptr;  // D1
        }
      }
      if (m.shadow.aqm.test_and_clear(q)) apcb_update = true;
    }
    if (apcb_update) {
      note_departures(ctx, m, m.shadow.apm, prev_aqm);
      update_guest_apcb(ctx, m);
    }
    for (vfio_ap_queue* q : reset_list) reset_queue(ctx, *q);
    for (vfio_ap_queue* q : reset_list) q->matrix_mdev = nullptr;
  }

  /// vfio_ap_mdev_hot_unplug_cfg [7.3] (§4.6): shadow loses the removed
  /// ids; no resets, no matrix change.
  template <class Ctx>
    requires ordo::holds<Ctx, guests_level, ordo::maybe<kvm_level>, mdevs_level>
  void hot_unplug_cfg(Ctx& ctx, mdev& m, const ap::adapter_mask& aprem,
                      const ap::domain_mask& aqrem, const ap::control_domain_mask& cdrem) {
    const ap::adapter_mask prev_apm = m.shadow.apm;
    const ap::domain_mask prev_aqm = m.shadow.aqm;
    bool do_hotplug = false;
    if (m.shadow.apm.intersects(aprem)) {
      m.shadow.apm = m.shadow.apm.andnot(aprem);
      do_hotplug = true;
    }
    if (m.shadow.aqm.intersects(aqrem)) {
      m.shadow.aqm = m.shadow.aqm.andnot(aqrem);
      do_hotplug = true;
    }
    if (m.shadow.adm.intersects(cdrem)) {
      m.shadow.adm = m.shadow.adm.andnot(cdrem);
      do_hotplug = true;
    }
    if (do_hotplug) {
      note_departures(ctx, m, prev_apm, prev_aqm);
      update_guest_apcb(ctx, m);
    }
  }

 public:
  // ---------------------------------------------------------------------
  // Sysfs stores on an mdev (§2.1-2.6, 2.9). Locks: ap_attr (assign and
  // ap_config) then with_mdev's guests (lookup), kvm (if attached), mdevs;
  // each body is the kernel's store body.

  std::error_code assign_adapter(ordo::unlocked& ctx, std::string_view uuid, std::string_view buf) {
    auto a = perms_->mutex.lock(ctx);
    return with_mdev(a, uuid, [&](auto& md, mdev* m) -> std::error_code {
      auto [apid, ec] = ap::parse_id(buf, m->matrix.apm_max);
      if (ec) return ec;
      if (m->matrix.apm.test(apid)) return {};
      m->matrix.apm.set(apid);
      if (auto err = validate_masks(md, *m)) {
        m->matrix.apm.clear(apid);
        return err;
      }
      link_apqns(md, *m, ap::adapter_mask::of(apid), ap::domain_mask{});
      refilter(md, *m);
      return {};
    });
  }

  std::error_code unassign_adapter(ordo::unlocked& ctx, std::string_view uuid,
                                   std::string_view buf) {
    return with_mdev(ctx, uuid, [&](auto& md, mdev* m) -> std::error_code {
      auto [apid, ec] = ap::parse_id(buf, m->matrix.apm_max);
      if (ec) return ec;
      if (!m->matrix.apm.test(apid)) return {};
      m->matrix.apm.clear(apid);
      hot_unplug_adapters(md, *m, ap::adapter_mask::of(apid));
      return {};
    });
  }

  std::error_code assign_domain(ordo::unlocked& ctx, std::string_view uuid, std::string_view buf) {
    auto a = perms_->mutex.lock(ctx);
    return with_mdev(a, uuid, [&](auto& md, mdev* m) -> std::error_code {
      auto [apqi, ec] = ap::parse_id(buf, m->matrix.aqm_max);
      if (ec) return ec;
      if (m->matrix.aqm.test(apqi)) return {};
      m->matrix.aqm.set(apqi);
      if (auto err = validate_masks(md, *m)) {
        m->matrix.aqm.clear(apqi);
        return err;
      }
      link_apqns(md, *m, ap::adapter_mask{}, ap::domain_mask::of(apqi));
      refilter(md, *m);
      return {};
    });
  }

  std::error_code unassign_domain(ordo::unlocked& ctx, std::string_view uuid,
                                  std::string_view buf) {
    return with_mdev(ctx, uuid, [&](auto& md, mdev* m) -> std::error_code {
      auto [apqi, ec] = ap::parse_id(buf, m->matrix.aqm_max);
      if (ec) return ec;
      if (!m->matrix.aqm.test(apqi)) return {};
      m->matrix.aqm.clear(apqi);
      hot_unplug_domains(md, *m, ap::domain_mask::of(apqi));
      return {};
    });
  }

  std::error_code assign_control_domain(ordo::unlocked& ctx, std::string_view uuid,
                                        std::string_view buf) {
    return with_mdev(ctx, uuid, [&](auto& md, mdev* m) -> std::error_code {
      auto [id, ec] = ap::parse_id(buf, m->matrix.adm_max);
      if (ec) return ec;
      if (m->matrix.adm.test(id)) return {};
      m->matrix.adm.set(id);
      if (filter_cdoms(md, *m)) update_guest_apcb(md, *m);
      return {};
    });
  }

  std::error_code unassign_control_domain(ordo::unlocked& ctx, std::string_view uuid,
                                          std::string_view buf) {
    return with_mdev(ctx, uuid, [&](auto& md, mdev* m) -> std::error_code {
      auto [id, ec] = ap::parse_id(buf, m->matrix.adm_max);
      if (ec) return ec;
      if (!m->matrix.adm.test(id)) return {};
      m->matrix.adm.clear(id);
      if (m->shadow.adm.test_and_clear(id)) update_guest_apcb(md, *m);
      return {};
    });
  }

  /// ap_config_store (§2.9).
  std::error_code store_ap_config(ordo::unlocked& ctx, std::string_view uuid,
                                  std::string_view buf) {
    auto a = perms_->mutex.lock(ctx);
    return with_mdev(a, uuid, [&](auto& md, mdev* m) -> std::error_code {
      auto [masks, ec] = ap::parse_ap_config(buf);
      if (ec) return ec;
      const ap::ap_matrix m_old = m->matrix;
      ap::ap_matrix m_new = m_old;
      m_new.apm = masks.apm;
      m_new.aqm = masks.aqm;
      m_new.adm = masks.adm;
      const ap::adapter_mask removed_apm = m_old.apm.andnot(m_new.apm);
      const ap::domain_mask removed_aqm = m_old.aqm.andnot(m_new.aqm);
      const ap::adapter_mask added_apm = m_new.apm.andnot(m_old.apm);
      const ap::domain_mask added_aqm = m_new.aqm.andnot(m_old.aqm);
      m->matrix = m_new;
      std::error_code err = validate_masks(md, *m);
      if (!err) err = m->matrix.overflow_check();
      m->matrix = m_old;
      if (err) return err;
      hot_unplug_adapters(md, *m, removed_apm);
      hot_unplug_domains(md, *m, removed_aqm);
      m->matrix = m_new;
      link_apqns(md, *m, added_apm, added_aqm);
      ap::adapter_mask filtered;
      const bool matrix_changed = filter_matrix(md, *m, filtered);
      const bool cdoms_changed = filter_cdoms(md, *m);
      if (matrix_changed || cdoms_changed) {
        update_guest_apcb(md, *m);
        reset_queues_for_apids(md, *m, filtered);
      }
      return {};
    });
  }

  // ---------------------------------------------------------------------
  // Sysfs shows (§2.7, 2.8, 2.9, 2.11).

  enum class show_kind { matrix, guest_matrix, control_domains, ap_config };

  std::error_code show(ordo::unlocked& ctx, std::string_view uuid, show_kind kind,
                       std::string& out) const {
    auto g = guests_lock.lock(ctx);
    const mdev* m = find_mdev(g, uuid);
    if (m == nullptr) return errc(std::errc::no_such_file_or_directory);
    auto md = mdevs_lock.lock(g);
    switch (kind) {
      case show_kind::matrix: out = ap::format_matrix(m->matrix); break;
      case show_kind::guest_matrix: out = ap::format_matrix(m->shadow); break;
      case show_kind::control_domains: out = ap::format_control_domains(m->matrix); break;
      case show_kind::ap_config: out = ap::format_ap_config(m->matrix); break;
    }
    return {};
  }

  /// status_show (§2.11, [7.3]): ENOENT when the queue is not bound to
  /// vfio_ap (no status attribute).
  std::error_code show_status(ordo::unlocked& ctx, ap::apqn apqn, std::string& out) const {
    auto g = guests_lock.lock(ctx);
    auto md = mdevs_lock.lock(g);
    if (find_queue(md, apqn) == nullptr) return errc(std::errc::no_such_file_or_directory);
    const mdev* owner = nullptr;
    for (const auto& m : mdev_list_) {
      if (m->matrix.contains(apqn)) {
        owner = m.get();
        break;
      }
    }
    if (owner == nullptr) {
      out = "unassigned\n";
    } else if (owner->guest != nullptr && owner->shadow.contains(apqn)) {
      out = "in use\n";
    } else {
      out = "assigned\n";
    }
    return {};
  }

  // ---------------------------------------------------------------------
  // mdev create / remove (§4.7)

  /// vfio_ap_mdev_probe: EEXIST for a duplicate, EUSERS when no instance is
  /// left. `uuid` is the canonical lowercase form.
  template <class Ctx>
  std::error_code create_mdev(Ctx& ctx, std::string uuid) {
    auto g = guests_lock.lock(ctx);
    if (find_mdev(g, uuid) != nullptr) return errc(std::errc::file_exists);
    if (mdev_list_.size() >= max_mdev_instances) return std::error_code(EUSERS, std::generic_category());
    auto md = mdevs_lock.lock(g);
    // list_add: the newest mdev is first.
    mdev_list_.insert(mdev_list_.begin(), mdev_slab_.make(*this, std::move(uuid), info_));
    return {};
  }

  /// vfio_ap_mdev_remove after the device was closed: reset the queues,
  /// unlink them, drop the mdev. The caller (holding vfio_lock) has closed
  /// it first.
  template <class Ctx>
    requires ordo::holds<Ctx, vfio_level>
  void remove_mdev(Ctx& ctx, mdev& m) {
    mdev_pointer doomed;
    {
      auto g = guests_lock.lock(ctx);
      auto md = mdevs_lock.lock(g);
      const auto it = std::find_if(mdev_list_.begin(), mdev_list_.end(),
                                   [&](const auto& p) { return p.get() == &m; });
      if (it == mdev_list_.end()) return;  // not in this matrix: nothing to remove
      reset_queues(md, m);
      for (auto& [apqn, q] : m.qtable) q->matrix_mdev = nullptr;
      m.qtable.clear();
      m.usable.clear_all();
      doomed = std::move(*it);
      mdev_list_.erase(it);
    }
  }

  /// host::reset: every mdev (with its guest reference and module pin) and
  /// every vfio_ap queue dropped, info back to `info`; no driver work.
  template <class Ctx>
    requires ordo::holds<Ctx, ap_bus_level>
  void reset(Ctx& ctx, const ap::host_config& info) {
    std::vector<mdev_pointer> doomed;
    {
      auto g = guests_lock.lock(ctx);
      auto md = mdevs_lock.lock(g);
      doomed.swap(mdev_list_);
      queues_.clear();
      info_ = info;
    }
  }  // the mdevs go after the locks, as remove_mdev's

  /// What host::save copies of the matrix and host::restore puts back: the
  /// host configuration as the driver last saw it, every mdev (newest
  /// first, as mdev_list_) with its matrices, index and counts, and every
  /// vfio_ap queue device (in APQN order) with the mdev whose table holds
  /// it. Plain values: no pointer into the matrix it came from.
  struct saved_mdev {
    std::string uuid;
    ap::ap_matrix matrix;
    ap::ap_matrix shadow;
    std::vector<ap::apqn> qtable;  // ascending
    usable_index usable;
    ap::adapter_mask apm_add;
    ap::domain_mask aqm_add;
    ap::control_domain_mask adm_add;
    unsigned long cfg_chg_signals = 0;
    unsigned long requests = 0;
  };
  struct saved_queue {
    ap::apqn apqn;
    std::size_t mdev = no_mdev;  // index into mdevs, or no_mdev
    unsigned reset_rc = 0;
    std::uint8_t saved_isc = 0xff;
  };
  static constexpr std::size_t no_mdev = ~std::size_t{0};
  struct saved_state {
    ap::host_config info;
    std::vector<saved_mdev> mdevs;
    std::vector<saved_queue> queues;  // ascending
  };

  /// Copies the matrix out. EBUSY, `out` untouched, if an mdev is attached
  /// to a guest (m->kvm: a reference and a hook no copy can hold). The
  /// caller holds the VFIO side's lock, so no open can attach one meanwhile.
  template <class Ctx>
    requires ordo::holds<Ctx, ap_bus_level>
  std::error_code save(Ctx& ctx, saved_state& out) const {
    auto g = guests_lock.lock(ctx);
    auto md = mdevs_lock.lock(g);
    saved_state s;
    s.info = info_;
    s.mdevs.reserve(mdev_list_.size());
    for (const auto& m : mdev_list_) {
      if (m->guest != nullptr || m->open) return errc(std::errc::device_or_resource_busy);
      saved_mdev& c = s.mdevs.emplace_back();
      c.uuid = m->uuid();
      c.matrix = m->matrix;
      c.shadow = m->shadow;
      c.qtable.reserve(m->qtable.size());
      for (const auto& [apqn, q] : m->qtable) c.qtable.push_back(apqn);
      std::sort(c.qtable.begin(), c.qtable.end());
      c.usable = m->usable;
      c.apm_add = m->apm_add;
      c.aqm_add = m->aqm_add;
      c.adm_add = m->adm_add;
      c.cfg_chg_signals = m->cfg_chg_signals;
      c.requests = m->requests;
    }
    s.queues.reserve(queues_.size());
    for (const auto& [apqn, q] : queues_) {
      saved_queue& c = s.queues.emplace_back();
      c.apqn = apqn;
      for (std::size_t i = 0; i < mdev_list_.size(); ++i) {
        if (mdev_list_[i].get() == q->matrix_mdev) c.mdev = i;
      }
      c.reset_rc = q->reset_rc;
      c.saved_isc = q->saved_isc;
    }
    std::sort(s.queues.begin(), s.queues.end(),
              [](const saved_queue& a, const saved_queue& b) { return a.apqn < b.apqn; });
    out = std::move(s);
    return {};
  }

  /// host::restore: exactly the saved mdevs and queue devices, linked as
  /// they were (each table entry to the queue of its APQN, each queue to
  /// the mdev of its index). Every current mdev goes as reset() drops them
  /// (its guest reference and module pin with it), after the locks, unless
  /// the list is the saved one, UUID for UUID, and none is open: then each
  /// takes the saved fields in place. A queue device of a saved APQN is
  /// kept and takes the saved fields; the others go. What is kept was
  /// overwritten whole, so it is what a new object would be (VfioApRestore);
  /// what it saves is the memory traffic of an mdev and a queue device per
  /// restore (sysfs_fuzz restores after nearly every input).
  template <class Ctx>
    requires ordo::holds<Ctx, ap_bus_level>
  void restore(Ctx& ctx, const saved_state& s) {
    std::vector<mdev_pointer> doomed;  // destroyed after the locks
    auto g = guests_lock.lock(ctx);
    auto md = mdevs_lock.lock(g);
    info_ = s.info;
    bool same = mdev_list_.size() == s.mdevs.size();
    for (std::size_t i = 0; same && i < s.mdevs.size(); ++i) {
      const mdev& m = *mdev_list_[i];
      same = !m.open && m.guest == nullptr && m.uuid() == s.mdevs[i].uuid;
    }
    if (!same) {
      doomed.swap(mdev_list_);
      mdev_list_.reserve(s.mdevs.size());
      for (const saved_mdev& c : s.mdevs) mdev_list_.push_back(mdev_slab_.make(*this, c.uuid, info_));
    }
    for (std::size_t i = 0; i < s.mdevs.size(); ++i) {
      const saved_mdev& c = s.mdevs[i];
      mdev& m = *mdev_list_[i];
      m.matrix = c.matrix;
      m.shadow = c.shadow;
      m.qtable.clear();
      m.usable = c.usable;
      m.apm_add = c.apm_add;
      m.aqm_add = c.aqm_add;
      m.adm_add = c.adm_add;
      m.cfg_chg_signals = c.cfg_chg_signals;
      m.requests = c.requests;
    }
    // The queue devices: the saved ones kept or made, then the rest dropped.
    for (auto it = queues_.begin(); it != queues_.end();) {
      const auto saved = std::lower_bound(
          s.queues.begin(), s.queues.end(), it->first,
          [](const saved_queue& c, ap::apqn q) { return c.apqn < q; });
      if (saved == s.queues.end() || saved->apqn != it->first) {
        queues_.erase(it++);
      } else {
        ++it;
      }
    }
    queues_.reserve(s.queues.size());
    for (const saved_queue& c : s.queues) {
      auto [it, inserted] = queues_.try_emplace(c.apqn);
      if (inserted) it->second = queue_slab_.make(c.apqn);
      vfio_ap_queue& q = *it->second;
      q.reset_rc = c.reset_rc;
      q.saved_isc = c.saved_isc;
      q.matrix_mdev = c.mdev < mdev_list_.size() ? mdev_list_[c.mdev].get() : nullptr;
    }
    for (std::size_t i = 0; i < s.mdevs.size(); ++i) {
      mdev& m = *mdev_list_[i];
      m.qtable.reserve(s.mdevs[i].qtable.size());
      for (const ap::apqn apqn : s.mdevs[i].qtable) {
        const auto it = queues_.find(apqn);
        if (it != queues_.end()) m.qtable.emplace(apqn, it->second.get());
      }
    }
  }

  /// VFIO_DEVICE_RESET (§4.8): vfio_ap_mdev_reset_queues under mdevs_lock;
  /// EIO if any queue's reset ended with a response code other than 0.
  template <class Ctx>
    requires ordo::holds<Ctx, vfio_level>
  std::error_code reset_device(Ctx& ctx, mdev& m) {
    auto g = guests_lock.lock(ctx);
    auto md = mdevs_lock.lock(g);
    reset_queues(md, m);
    for (const auto& [apqn, q] : m.qtable) {
      if (q->reset_rc != ap_response_normal) return errc(std::errc::io_error);
    }
    return {};
  }

  /// vfio_ap_mdev_request: clear the guest's masks, signal.
  template <class Ctx>
  void request(Ctx& ctx, mdev& m) {
    auto g = guests_lock.lock(ctx);
    with_mdev_locks(g, m, [&](auto& md) {
      if (m.guest != nullptr) {
        auto kl = m.guest->lock.assert_held(md);  // the lock_if took it
        m.guest->clear_masks(kl);
        ++m.cfg_chg_signals;
      }
      ++m.requests;
      hw_->log(md, absl::StrFormat("vfio_ap_mdev %s: No device request registered, blocked "
                                   "until released by user",
                                   m.uuid()));
    });
  }

  // ---------------------------------------------------------------------
  // set_kvm / unset_kvm (§4.2 [7.3], §4.3)

  /// Attaches `guest` (its reference is held by the VFIO side). EPERM when
  /// another mdev owns the guest's hook; then nothing changes (in particular
  /// the hook keeps pointing at that mdev: the [6.16] bug is not here).
  template <class Ctx>
    requires ordo::holds<Ctx, vfio_level>
  std::error_code set_kvm(Ctx& ctx, mdev& m, kvm& guest) {
    if (guest.crycbd() == 0) return {};
    auto g = guests_lock.lock(ctx);
    auto kl = guest.lock.lock(g);
    auto hook = guest.pqap_hook_rwsem.lock(kl);
    auto md = mdevs_lock.lock(hook);
    for (const auto& other : mdev_list_) {
      if (other->guest == &guest) return errc(std::errc::operation_not_permitted);
    }
    // EPERM when another mdev's hook is set; it stays (hook_ptr I2).
    if (std::error_code ec = guest.publish_pqap_hook(md, m.pqap_hook)) return ec;
    m.guest = &guest;
    update_guest_apcb(md, m);
    return {};
  }

  /// Detaches: hook cleared, masks cleared, every linked queue reset, then
  /// m->kvm = NULL (I6). Shadow and matrix unchanged.
  template <class Ctx>
    requires ordo::holds<Ctx, vfio_level>
  void unset_kvm(Ctx& ctx, mdev& m) {
    auto g = guests_lock.lock(ctx);
    kvm* guest = m.guest;
    if (guest == nullptr) return;
    auto kl = guest->lock.lock(g);
    auto hook = guest->pqap_hook_rwsem.lock(kl);
    auto md = mdevs_lock.lock(hook);
    guest->clear_pqap_hook(md);
    guest->clear_masks(md);
    reset_queues(md, m);
    m.guest = nullptr;
  }

  // ---------------------------------------------------------------------
  // AP bus driver callbacks (§3.2, §4.5, §4.6)

  /// vfio_ap_mdev_resource_in_use: EADDRINUSE when any mdev's matrix has a
  /// queue in apm x aqm (the bus maps it to EBUSY).
  template <class Ctx>
    requires ordo::holds<Ctx, ap_attr_level>
  std::error_code in_use(Ctx& ctx, const ap::adapter_mask& apm, const ap::domain_mask& aqm) {
    auto g = guests_lock.lock(ctx);
    auto md = mdevs_lock.lock(g);
    return verify_no_sharing(md, nullptr, apm, aqm);
  }

  /// vfio_ap_mdev_probe_queue [7.3].
  template <class Ctx>
    requires ordo::holds<Ctx, ap_bus_level>
  void probe_queue(Ctx& ctx, ap::apqn apqn) {
    auto g = guests_lock.lock(ctx);
    mdev* m = nullptr;
    for (const auto& candidate : mdev_list_) {
      if (candidate->matrix.contains(apqn)) {
        m = candidate.get();
        break;
      }
    }
    auto kv = ordo::lock_if(m != nullptr && m->guest != nullptr ? &m->guest->lock : nullptr, g);
    auto md = mdevs_lock.lock(kv);
    auto [it, inserted] = queues_.try_emplace(apqn, queue_slab_.make(apqn));
    vfio_ap_queue* q = it->second.get();
    if (m == nullptr) return;
    link_queue(md, *m, *q);
    if (!m->apm_add.empty() || !m->aqm_add.empty()) return;  // on_scan_complete filters
    refilter(md, *m);
  }

  /// vfio_ap_mdev_remove_queue.
  template <class Ctx>
    requires ordo::holds<Ctx, ap_bus_level>
  void remove_queue(Ctx& ctx, ap::apqn apqn) {
    auto g = guests_lock.lock(ctx);
    const auto qit = queues_.find(apqn);
    if (qit == queues_.end()) return;
    vfio_ap_queue* q = qit->second.get();
    mdev* m = q->matrix_mdev;
    auto kv = ordo::lock_if(m != nullptr && m->guest != nullptr ? &m->guest->lock : nullptr, g);
    auto md = mdevs_lock.lock(kv);
    if (m != nullptr && m->shadow.contains(apqn)) {
      const ap::adapter_mask prev_apm = m->shadow.apm;
      m->shadow.apm.clear(apqn.card());
      note_departures(md, *m, prev_apm, m->shadow.aqm);
      update_guest_apcb(md, *m);
      reset_queues_for_apids(md, *m, ap::adapter_mask::of(apqn.card()));
    } else if (info_.apm.test(apqn.card()) && info_.aqm.test(apqn.queue())) {
      reset_queue(md, *q);
    }
    if (m != nullptr) unlink_queue(md, *m, *q);
    q->matrix_mdev = nullptr;
    queues_.erase(qit);
  }

  /// vfio_ap_on_cfg_changed [7.3]: removal (hot_unplug_cfg), addition
  /// (*_add bitmaps), then info = cur. Holds guests_lock throughout.
  template <class Ctx>
    requires ordo::holds<Ctx, ap_bus_level>
  void on_cfg_changed(Ctx& ctx, const ap::host_config& cur, const ap::host_config& prev) {
    auto g = guests_lock.lock(ctx);
    // The firmware's configuration changes with guests_lock held, so no
    // vfio_ap operation sees the hardware and matrix_dev->info disagree (the
    // kernel has that window: a reset in it answers 0x01 and WARNs).
    hw_->set_config(g, cur.apm, cur.aqm);
    const ap::adapter_mask aprem = prev.apm.andnot(cur.apm);
    const ap::domain_mask aqrem = prev.aqm.andnot(cur.aqm);
    const ap::control_domain_mask cdrem = prev.adm.andnot(cur.adm);
    if (!aprem.empty() || !aqrem.empty() || !cdrem.empty()) {
      for (const auto& m : mdev_list_) {
        with_mdev_locks(g, *m, [&](auto& md) {
          const ap::adapter_mask ap_rm = aprem & m->matrix.apm;
          const ap::domain_mask aq_rm = aqrem & m->matrix.aqm;
          const ap::control_domain_mask cd_rm = cdrem & m->matrix.adm;
          if (ap_rm.empty() && aq_rm.empty() && cd_rm.empty()) return;
          hot_unplug_cfg(md, *m, ap_rm, aq_rm, cd_rm);
        });
      }
    }
    const ap::adapter_mask apm_add = cur.apm.andnot(prev.apm);
    const ap::domain_mask aqm_add = cur.aqm.andnot(prev.aqm);
    const ap::control_domain_mask adm_add = cur.adm.andnot(prev.adm);
    if ((!apm_add.empty() || !aqm_add.empty() || !adm_add.empty()) && !mdev_list_.empty()) {
      auto md = mdevs_lock.lock(g);
      for (const auto& m : mdev_list_) {
        m->apm_add = m->matrix.apm & apm_add;
        m->aqm_add = m->matrix.aqm & aqm_add;
        m->adm_add = m->matrix.adm & adm_add;
      }
    }
    info_ = cur;
  }

  /// vfio_ap_on_scan_complete [7.3]: hot_plug_cfg for every mdev with
  /// pending additions.
  template <class Ctx>
    requires ordo::holds<Ctx, ap_bus_level>
  void on_scan_complete(Ctx& ctx) {
    auto g = guests_lock.lock(ctx);
    for (const auto& m : mdev_list_) {
      with_mdev_locks(g, *m, [&](auto& md) {
        if (m->apm_add.empty() && m->aqm_add.empty() && m->adm_add.empty()) return;
        ap::adapter_mask filtered;
        const bool adapters = m->matrix.apm.intersects(m->apm_add);
        const bool domains = m->matrix.aqm.intersects(m->aqm_add);
        const bool cdoms = m->matrix.adm.intersects(m->adm_add);
        bool do_hotplug = false;
        if (adapters || domains) do_hotplug = filter_matrix(md, *m, filtered);
        if (cdoms) do_hotplug |= filter_cdoms(md, *m);
        if (do_hotplug) update_guest_apcb(md, *m);
        reset_queues_for_apids(md, *m, filtered);
        m->apm_add.zero();
        m->aqm_add.zero();
        m->adm_add.zero();
      });
    }
  }

 private:
  ap_hw* hw_;
  ap_perms* perms_;
  // The mdevs' memory (slab.hpp): kept across remove and reset, poisoned
  // while free. An mdev is destroyed after the locks are dropped (remove_mdev,
  // reset), so this slab has a lock of its own. Declared first, destroyed last.
  slab<mdev, std::mutex> mdev_slab_{64};
  // ---- guarded by guests_lock (writes also hold mdevs_lock) ----
  std::vector<mdev_pointer> mdev_list_;
  ap::host_config info_;
  // ---- guarded by mdevs_lock (writes also hold guests_lock) ----
  // The queue devices' memory (slab.hpp: kept across remove_queue and
  // reset, poisoned while free); declared first, destroyed last.
  slab<vfio_ap_queue> queue_slab_{1024};
  absl::flat_hash_map<ap::apqn, slab<vfio_ap_queue>::pointer> queues_;

 public:
  /// handle_pqap (§4.9), IR=0: rc 0x00 when m is attached and the queue is
  /// in its table (interrupts disabled), else 0x01 (Q_NOT_AVAIL).
  unsigned handle_pqap(mdev& m, pqap_context& ctx, ap::apqn queue) {
    auto md = mdevs_lock.lock(ctx);
    if (m.guest == nullptr) return ap_response_q_not_avail;
    const auto it = m.qtable.find(queue);
    if (it == m.qtable.end()) return ap_response_q_not_avail;
    it->second->saved_isc = 0xff;  // vfio_ap_irq_disable: AQIC with IR=0 answers 0
    return ap_response_normal;
  }
};

inline unsigned mdev::handle_pqap(pqap_context* intercept, pqap_request& request) {
  if (request.identify || intercept == nullptr) {
    request.owner = this;
    return ap_response_normal;
  }
  return parent->handle_pqap(*this, *intercept, request.apqn);
}

}  // namespace ordo::vfio_ap

#endif  // ORDO_VFIO_AP_MATRIX_DEV_HPP
