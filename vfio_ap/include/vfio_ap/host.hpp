// vfio_ap/host.hpp — one simulated s390 host: the AP bus, the vfio_ap
// matrix device with its mediated devices, and KVM guests, driven through the
// sysfs files and events the Linux kernel offers.
//
// What it is
//   The reference model of drivers/s390/crypto/vfio_ap (docs/vfio-ap-model.md)
//   behind the interface the simulator (vfio_ap/sim, docs/vfio-ap-sim.md)
//   drives:
//     sysfs_write / sysfs_read   every attribute of §2 by absolute path, or
//                                through a sysfs_attr (sysfs_resolve: the
//                                path looked up once)
//     qci                        the host AP configuration changes; the AP
//                                bus rescans (on_cfg_changed, queue devices
//                                removed and created, on_scan_complete)
//     zapq_fault                 inject a ZAPQ/TAPQ response code
//     kvm_* / vfio_* / pqap      guests, open/close/reset of an mdev for a
//                                guest, the PQAP(AQIC) intercept
//     check_invariants           I1-I6 of §7
//   Behaviour is [7.3]; the KVM reference is [6.16]'s (VFIO holds one
//   reference per open device, obtained through symbol_get of the `kvm`
//   module's kvm_get_kvm_safe / kvm_put_kvm); set_kvm's EPERM leaves the
//   winning mdev's hook in place ([7.3], not the [6.16] bug).
//
//   The sysfs layout is one table (host::sysfs_table, one row per node:
//   path pattern, kind, kernel mode, show, store, symlink target, when it
//   exists). sysfs_read/sysfs_write, sysfs_list/sysfs_stat (what a mounted
//   sysfs needs: entries, modes, symlinks) and the simulator all read it.
//   Below /sys:
//     bus/ap/apmask, aqmask                               RW 0644
//     bus/ap/drivers/vfio_ap/bind, unbind                 WO 0200
//     bus/ap/drivers/vfio_ap/XX.YYYY                      -> a queue bound to vfio_ap
//     bus/ap/devices/cardXX, XX.YYYY                      -> devices/ap/cardXX[/XX.YYYY]
//     devices/ap/cardXX/XX.YYYY/status                    RO 0444 (bound to vfio_ap)
//     devices/vfio_ap/matrix/features                     RO
//     .../matrix/mdev_supported_types/vfio_ap-passthrough/
//         create (WO), available_instances, name, device_api (RO), devices/UUID ->
//     .../matrix/UUID/ assign_adapter, unassign_adapter, assign_domain,
//         unassign_domain, assign_control_domain, unassign_control_domain,
//         remove (WO); matrix, guest_matrix, control_domains (RO);
//         ap_config (RW); mdev_type ->
//     bus/mdev/devices/UUID, bus/matrix/devices/matrix,
//     class/mdev_bus/matrix                               -> the mdev / matrix
//   A read or write follows the symlinks on its path by pattern (an alias
//   names the same attribute), and leaves existence to the show or store.
//
// Choices where the kernel has no single answer (documented)
//   C1  Writing a read-only or reading a write-only attribute: EACCES
//       (kernfs_fop_open refuses the open mode, even for root).
//   C2  mdev remove while open: the kernel blocks in
//       vfio_unregister_group_dev until user space closes the device, after
//       calling the request callback. The model's user space honours the
//       request at once: request (guest masks cleared), close (unset_kvm,
//       KVM reference dropped), then remove. Remove always releases (§5 row 4).
//   C3  vfio_open of an mdev already open: EBUSY; vfio_close of an mdev not
//       open: EBADF (no device file to close). Guest unknown: ENOENT; guest
//       dying (kvm_get_kvm_safe fails): EINVAL (open_device with no kvm).
//   C4  An apmask/aqmask change reprobes queue devices that have no driver
//       (manually unbound) as well as those bound to the wrong driver.
//   C5  qci: na/nd above 255, or an id above the maximum (na/nd with apxa,
//       63/15 without): EINVAL, nothing changes.
//   C6  A guest is known by its name from kvm_create until its last
//       reference is dropped (kvm_destroy drops only the creator's): the
//       guest table owns its memory and frees it once released, under the
//       table's exclusive lock, so a lookup under the shared lock (a vCPU's
//       PQAP, an open) never takes a reference of its own.
//
// When not to use it
//   As a real driver: it is a model for tests, the simulator and benchmarks.
//
// Thread-safety contract
//   Every public member is thread-safe and may be called from any number of
//   threads; none may be called while the calling thread holds an ordo lock
//   (each makes its own ordo::unlocked). Lock order: levels.hpp.
//
// Memory ordering (happens-before)
//   O1  Each operation runs under the model's locks; the effects of an
//       operation that returned are visible to every operation that starts
//       afterwards on any thread (ordered_mutex O1).
//
// Invariants (check_invariants, one line per violation)
//   I1  no APQN in two mdev matrices.
//   I2  no mdev APQN is reserved for the host (apmask x aqmask).
//   I3  every queue that left a shadow APCB while configured was ZAPQ'ed;
//       no queue outside the host configuration was ZAPQ'ed.
//   I4  shadow apm/aqm within matrix and host config; shadow.adm =
//       matrix.adm & info.adm; every shadow APQN is in the mdev's queue table
//       (I-bind).
//   I5  at most one mdev per guest; the guest's pqap_hook is empty or the
//       hook of the mdev attached to it.
//   I6  open <=> attached; the guest's refcount = creator + open mdevs; an
//       attached guest's APCB equals the shadow, a guest without mdev has an
//       empty APCB.
//   Also: the model's own bookkeeping (queue table back pointers, the
//   usable index, bus bindings).
//
// Misuse
//   compile error  none (the API takes values).
//   runtime report calling a member while holding an ordo lock (validator).
//   undefined      none: bad input is an errno.
//
// Example
//   ordo::vfio_ap::host h;
//   h.sysfs_write("/sys/bus/ap/apmask", "0x0\n");
//   h.qci({.apm = ordo::ap::adapter_mask::of(ordo::ap::apid{5}),
//          .aqm = ordo::ap::domain_mask::of(ordo::ap::apqi{4})});
//   h.sysfs_write(".../vfio_ap-passthrough/create", uuid + "\n");
//   h.sysfs_write(".../matrix/" + uuid + "/assign_adapter", "5\n");
//   h.sysfs_write(".../matrix/" + uuid + "/assign_domain", "4\n");
//   std::string gm;
//   h.sysfs_read(".../matrix/" + uuid + "/guest_matrix", gm);   // "05.0004\n"
#ifndef ORDO_VFIO_AP_HOST_HPP
#define ORDO_VFIO_AP_HOST_HPP

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <absl/strings/str_format.h>

#include "ordo/ap.hpp"
#include "ordo/module.hpp"
#include "ordo/ordered_mutex.hpp"
#include "ordo/ref.hpp"
#include "vfio_ap/ap_hw.hpp"
#include "vfio_ap/kvm.hpp"
#include "vfio_ap/levels.hpp"
#include "vfio_ap/matrix_dev.hpp"

namespace ordo::vfio_ap {

// A change of the host's AP configuration (what PQAP(QCI) reports). Fields
// left empty keep their current value.
struct qci_update {
  std::optional<bool> apxa{};                   // APXA facility (N bit)
  std::optional<unsigned> na{}, nd{};           // highest APID / APQI (<= 255)
  std::optional<ap::adapter_mask> apm{};        // configured adapters
  std::optional<ap::domain_mask> aqm{};         // configured usage domains
  std::optional<ap::control_domain_mask> adm{}; // configured control domains
};

/// What a path of the model's sysfs is (host::sysfs_stat, host::sysfs_list).
enum class sysfs_kind : unsigned char { file, dir, symlink };

/// One node of the model's sysfs, as stat(2)/readlink(2) see it. `mode` is
/// the permission part of st_mode the kernel gives it: 0644 (RW), 0444 (RO)
/// or 0200 (WO) for an attribute, 0755 for a directory, 0777 for a symlink.
/// `target` is a symlink's target, relative to its directory as readlink(2)
/// prints it ("../../../devices/ap/card05/05.0004"); empty otherwise.
struct sysfs_entry {
  std::string name;
  sysfs_kind kind = sysfs_kind::file;
  unsigned mode = 0;
  std::string target;
  friend bool operator==(const sysfs_entry&, const sysfs_entry&) = default;
};

/// A loaded module and the pins held on it now (module_refcount: what
/// lsmod prints under "Used by"), host::modules.
struct module_pins {
  std::string name;
  unsigned pins = 0;
  friend bool operator==(const module_pins&, const module_pins&) = default;
};

/// A live guest and its reference count now, host::kvm_list.
struct guest_refs {
  std::string name;
  unsigned refs = 0;
  friend bool operator==(const guest_refs&, const guest_refs&) = default;
};

/// The invariants of check_invariants (header comment I1..I6; `model` is
/// the model's own bookkeeping: queue table back pointers, the usable
/// index, bus bindings).
enum class invariant : unsigned char { i1, i2, i3, i4, i5, i6, model };
inline constexpr std::array<invariant, 7> all_invariants{
    invariant::i1, invariant::i2, invariant::i3, invariant::i4,
    invariant::i5, invariant::i6, invariant::model};

/// A set of invariants (bit i: all_invariants[i]): what an operation could
/// break (host::check_changed).
class invariant_set {
 public:
  constexpr invariant_set() noexcept = default;
  constexpr invariant_set(std::initializer_list<invariant> members) noexcept {
    for (const invariant i : members) bits_ |= bit(i);
  }
  /// Every invariant.
  static constexpr invariant_set all() noexcept {
    invariant_set s;
    for (const invariant i : all_invariants) s.bits_ |= bit(i);
    return s;
  }
  [[nodiscard]] constexpr bool contains(invariant i) const noexcept { return (bits_ & bit(i)) != 0; }
  [[nodiscard]] constexpr bool empty() const noexcept { return bits_ == 0; }
  [[nodiscard]] constexpr std::uint8_t bits() const noexcept { return bits_; }
  static constexpr invariant_set from_bits(std::uint8_t bits) noexcept {
    invariant_set s;
    s.bits_ = static_cast<std::uint8_t>(bits & all().bits_);
    return s;
  }
  constexpr invariant_set& operator|=(invariant_set o) noexcept {
    bits_ = static_cast<std::uint8_t>(bits_ | o.bits_);
    return *this;
  }
  friend constexpr invariant_set operator|(invariant_set a, invariant_set b) noexcept { return a |= b; }
  friend constexpr bool operator==(invariant_set, invariant_set) noexcept = default;

 private:
  static constexpr std::uint8_t bit(invariant i) noexcept {
    return static_cast<std::uint8_t>(1u << static_cast<unsigned>(i));
  }
  std::uint8_t bits_ = 0;
};

/// The features attribute ([6.16]/[7.3] code).
inline constexpr std::string_view vfio_ap_features = "guest_matrix hotplug ap_config\n";

class host {
 public:
  /// Start state: apxa=1 na=255 nd=255, nothing configured, apmask/aqmask
  /// all ones; the `kvm` and `vfio_ap` modules loaded.
  host();
  ~host() = default;
  host(const host&) = delete;
  host& operator=(const host&) = delete;

  /// Back to the start state, exactly: what a new host would show (every
  /// sysfs node and attribute, the logs, guest and module counts, the
  /// invariants; vfio_ap_reset_test) and how it then behaves, without
  /// building one: the module registry stays (kvm and vfio_ap are reloaded
  /// only if something unloaded them). Every mdev, queue device and guest is
  /// dropped as the destructor drops them (an open mdev's guest reference
  /// and module pin included), without the driver's work (no ZAPQ, no log
  /// line). Not thread-safe: no other call may run on this host meanwhile,
  /// and nothing may hold a guest reference of its own (the VFIO side's are
  /// dropped here).
  void reset();

  /// A host's state at rest, copied out by save() to be put back by
  /// restore(): what sysfs shows and how the host then behaves (every mdev
  /// with its matrices, every queue device with its driver and reset state,
  /// the reservations, the configuration, the guests and their APCBs, the
  /// firmware's faults, the ZAPQ and kernel logs, which modules are
  /// loaded). Plain values, tied to no host: copyable, and one image may be
  /// restored into any number of hosts any number of times. A
  /// default-constructed image is a new host's state (restore is then
  /// reset()).
  class image;
  /// Copies this host's state into `out`, under every top-level lock (one
  /// consistent snapshot; thread-safe). EBUSY, `out` untouched, while an
  /// mdev is open or a guest has a reference other than its creator's:
  /// what VFIO holds of an open device (the guest reference, the pin of
  /// kvm, the PQAP hook) belongs to its file, which no copy can hold.
  std::error_code save(image& out) const;
  /// Back to the state `from` was saved from, exactly: as reset() and then
  /// the operations that built that state would leave it (every sysfs node
  /// and attribute, the logs, guest and module counts, the invariants, and
  /// the behaviour that follows: vfio_ap_reset_test, VfioApRestore), at the
  /// cost of a copy instead of those operations' work. Its footprint is
  /// every invariant (check_changed checks them all next). generation()
  /// moves. Not thread-safe, as reset(): no other call may run on this
  /// host meanwhile, and nothing may hold a guest reference of its own.
  void restore(const image& from);

  /// Write `value` (exactly the bytes a store function receives, newline
  /// included) to the attribute at absolute `path`. Unknown path: ENOENT;
  /// read-only attribute: EACCES (C1); otherwise the kernel's errno, and a
  /// failed write changes nothing. Thread-safe.
  std::error_code sysfs_write(std::string_view path, std::string_view value);

  /// Read an attribute; `out` receives exactly what show emits (untouched
  /// on error). Unknown path: ENOENT; write-only attribute: EACCES.
  /// Thread-safe.
  std::error_code sysfs_read(std::string_view path, std::string& out);

 private:
  struct sysfs_row;

 public:
  /// An attribute's path, looked up once: the row of the layout it names
  /// (symlinks on the way followed) and the card, queue and UUID its
  /// components bound. sysfs_write and sysfs_read through it behave exactly
  /// as through the path it was resolved from, now and after any change of
  /// the host (whether the card, queue or mdev exists is each show's and
  /// store's business, for a path as for this): only the lookup is not
  /// repeated (split, tree walk, symlinks), which is what a caller that
  /// writes one attribute many times (a fuzzer, a benchmark) would
  /// otherwise pay on every call. Owns what it bound; copyable; not tied to
  /// one host (the layout is the same for every host).
  class sysfs_attr {
   public:
    /// Resolves nothing: sysfs_write and sysfs_read through it return ENOENT.
    sysfs_attr() = default;

   private:
    friend class host;
    const sysfs_row* row_ = nullptr;
    std::optional<ap::apid> card_;
    std::optional<ap::apqn> queue_;
    std::array<char, 36> uuid_{};  // {uuid}: always 36 characters when bound
    bool has_uuid_ = false;
  };

  /// Looks `path` up as sysfs_write and sysfs_read do, once: ENOENT if it
  /// names no attribute of the layout (`attr` then untouched).
  static std::error_code sysfs_resolve(std::string_view path, sysfs_attr& attr);
  /// sysfs_write(path, value) for the path `attr` was resolved from.
  std::error_code sysfs_write(const sysfs_attr& attr, std::string_view value);
  /// sysfs_read(path, out) for the path `attr` was resolved from.
  std::error_code sysfs_read(const sysfs_attr& attr, std::string& out);

  /// The entries of directory `dir` (absolute, below /sys; symlinks on the
  /// way are followed, as opendir does), sorted by name, as they exist now:
  /// a queue's `status` only while it is bound to vfio_ap, one symlink per
  /// bound queue in bus/ap/drivers/vfio_ap, one directory per mdev, and so
  /// on (the layout: sysfs_table in this header). ENOENT if `dir` does not
  /// exist, ENOTDIR if it is a file; `out` is untouched on error.
  /// Thread-safe; one consistent snapshot (bus lock and guests_lock held).
  std::error_code sysfs_list(std::string_view dir, std::vector<sysfs_entry>& out) const;

  /// lstat(2) + readlink(2) of `path`: what it is now, with its mode and,
  /// for a symlink, its target; a final symlink is not followed, those on
  /// the way are. /sys itself is the directory "sys". ENOENT, ENOTDIR.
  /// Thread-safe, as sysfs_list.
  std::error_code sysfs_stat(std::string_view path, sysfs_entry& out) const;

  /// Whether the node at `path` (absolute, below /sys, no symlink on the
  /// way) is in the layout whatever the model's state: its row names no
  /// card, queue or mdev (`/sys/devices/vfio_ap/matrix/features` is,
  /// `.../matrix/UUID` and everything below it is not). A mounted sysfs may
  /// let the kernel cache such a name forever; any other name can vanish.
  /// False for a path not in the layout. Thread-safe (reads the table only).
  static bool sysfs_fixed(std::string_view path);

  /// The host AP configuration changes, then the AP bus rescans (§4.6).
  /// EINVAL (C5). Thread-safe.
  std::error_code qci(const qci_update& update);

  /// From now on every ZAPQ/TAPQ of `queue` answers response code `rc`; 0
  /// clears the fault. EINVAL for rc > 0xff. Thread-safe.
  std::error_code zapq_fault(ap::apqn queue, unsigned rc);

  /// A guest with a format-2 CRYCB and one reference held by its creator.
  /// EEXIST if the name is taken, EINVAL if empty. Thread-safe.
  std::error_code kvm_create(std::string_view name);
  /// The creator drops its reference. The guest lives, under its name, while
  /// an open mdev holds it (refs/crycb/pqap answer, create is EEXIST) and is
  /// freed with the last reference (C6). ENOENT if there is no live guest of
  /// that name or its creator already let go. Thread-safe.
  std::error_code kvm_destroy(std::string_view name);
  /// The guest's reference count (creator + one per open mdev). ENOENT.
  std::error_code kvm_refs(std::string_view name, unsigned& refs) const;
  /// Every live guest (as kvm_refs answers for it) with its reference
  /// count, sorted by name: one snapshot under the guest table's lock.
  /// Thread-safe.
  std::vector<guest_refs> kvm_list() const;
  /// The modules the host loaded, in load order (`kvm`, `vfio_ap`), with
  /// their pins now: `kvm` is pinned once per open mdev (VFIO's symbol_get
  /// of kvm_put_kvm) and for the length of an open; `vfio_ap` for the
  /// length of an apmask/aqmask veto check. A snapshot of each count; at
  /// rest (no operation running) it is exact. Thread-safe.
  std::vector<module_pins> modules() const;
  /// The guest's APCB masks in ap_config form ("0x..,0x..,0x..\n"). ENOENT.
  std::error_code kvm_crycb(std::string_view name, std::string& out) const;

  /// Opens mdev `uuid` for guest `kvm_name`: VFIO takes a guest reference
  /// (symbol_get kvm_get_kvm_safe), then set_kvm. EPERM when another mdev is
  /// open for the guest (its hook stays), ENOENT unknown mdev or guest,
  /// EBUSY already open, EINVAL guest dying (C3). A failed open holds no
  /// reference. Thread-safe.
  std::error_code vfio_open(std::string_view uuid, std::string_view kvm_name);
  /// Closes it: unset_kvm (hook cleared, masks cleared, queues reset), then
  /// kvm_put_kvm. ENOENT unknown mdev, EBADF not open (C3). Thread-safe.
  std::error_code vfio_close(std::string_view uuid);

  /// VFIO_DEVICE_RESET on the open mdev `uuid`: every queue of its table is
  /// reset (ZAPQ); EIO if a reset ended with a response code other than 0,
  /// EBADF if the mdev is not open, ENOENT if unknown. Thread-safe.
  std::error_code vfio_reset(std::string_view uuid);

  /// A vCPU of guest `kvm_name` executes PQAP(AQIC) with IR=0 for `queue`:
  /// through the guest's pqap_hook under pqap_hook_rwsem (read). `rc` gets
  /// 0x00 when the hook is set and the queue is in the hooked mdev's table,
  /// else 0x01. ENOENT if no such guest. Thread-safe.
  std::error_code pqap(std::string_view kvm_name, ap::apqn queue, unsigned& rc);

  /// I1..I6 and the model's bookkeeping (header comment): one line per
  /// violation, grouped by invariant in all_invariants order; empty = ok.
  /// Thread-safe (takes every top-level lock: a consistent snapshot).
  std::vector<std::string> check_invariants() const;
  /// Only the invariants in `which` (each alone, in the order given: what an
  /// operation could break), under the same locks as check_invariants().
  std::vector<std::string> check_invariants(std::span<const invariant> which) const;
  /// The incremental check: only the invariants that an operation which
  /// returned since the last check_changed() could have broken (its
  /// footprint, below), with check_invariants' functions, locks and lines;
  /// nothing at all when only operations that change no state ran. On a
  /// host whose invariants held at the previous check_changed() it reports
  /// every violation check_invariants() would (vfio_ap_invariants_test:
  /// IncrementalCheck*). Footprints, by what the invariants read:
  ///   all invariants  every sysfs store (sysfs_write of an attribute that
  ///                   has one, whatever it returns, except as below), qci,
  ///                   vfio_close, vfio_reset, reset
  ///   I5, I6          kvm_create, kvm_destroy (the guest table and the
  ///                   guests' counts), vfio_open (m->kvm, the hook, the
  ///                   guest's APCB and count: nothing else reads them)
  ///   none            every show (sysfs_read: a show gets `const host&`),
  ///                   sysfs_list/stat, kvm_refs, kvm_crycb, the logs and
  ///                   config (const), pqap (writes only the queue's
  ///                   saved_isc, which no invariant reads), zapq_fault
  ///                   (the firmware's fault table, read by no invariant),
  ///                   a sysfs store that failed on a value whose syntax it
  ///                   rejects (not a number, mask, UUID or device name,
  ///                   not an ap_config line): it stopped at that parse,
  ///                   before anything else (vfio_ap_invariants_test:
  ///                   VfioApIncrementalCheck.RejectedValueChangesNothing)
  /// Thread-safe; an operation still running may be checked now or next time.
  std::vector<std::string> check_changed() const;

  /// A count of the calls that may have changed this host's state, since it
  /// was built: every call with a footprint above (whatever it returned),
  /// and pqap, zapq_fault, clear_zapq_log and reset, which change state no
  /// invariant reads. It never goes back, not even at reset. Equal before
  /// and after a sequence of calls, those calls changed nothing: every
  /// sysfs node, attribute, log, guest and module count reads as before
  /// (vfio_ap_invariants_test: VfioApGeneration.*). Unequal, they may have
  /// (a failed store of a well-formed value counts). sysfs_fuzz leaves a
  /// host whose input changed nothing booted instead of booting it again.
  /// Thread-safe; relaxed: it orders nothing, so read it when the calls it
  /// should cover have returned.
  [[nodiscard]] std::uint64_t generation() const noexcept {
    return generation_.load(std::memory_order_relaxed);
  }

  /// Every ZAPQ issued since the last clear, in order; at most the last
  /// zapq_log_capacity (ap_hw.hpp: a ring, so memory stays flat). Thread-safe.
  std::vector<ap::apqn> zapq_log() const;
  void clear_zapq_log();
  /// The kernel log lines (dev_warn of verify_no_sharing, reset notices):
  /// the last kernel_log_capacity of them.
  std::vector<std::string> kernel_log() const;
  /// The host configuration as the AP bus last read it. Thread-safe.
  ap::host_config config() const;

 private:
  friend struct host_test_access;

  enum class bound_to : unsigned char { none, host_driver, vfio_ap };

  /// A UUID as sysfs names it: 36 characters, lowercase. Held in place, so
  /// that checking or looking one up allocates nothing.
  struct uuid_text {
    std::array<char, 36> chars{};
    [[nodiscard]] std::string_view view() const noexcept { return {chars.data(), chars.size()}; }
  };
  static std::optional<uuid_text> canonical_uuid(std::string_view text);

  // ---- the sysfs layout: one table (sysfs_table) --------------------------
  // Every node of the layout is one row: its path below /sys as a pattern
  // whose placeholder components are {card} ("cardXX"), {apqn} ("XX.YYYY")
  // and {uuid} (lowercase canonical), its kind and kernel mode, and for an
  // attribute its show and store (nullptr: not readable / not writable; the
  // mode's read and write bits say the same: vfio_ap_layout_test). A
  // directory exists when its row's `presence` holds for the names the path
  // bound; a symlink's target is a pattern expanded with them.
  struct sysfs_binding {
    std::optional<ap::apid> card;   // {card}
    std::optional<ap::apqn> queue;  // {apqn}
    std::string_view uuid;          // {uuid}
  };
  // A show gets a const host: reading an attribute changes nothing (check_changed).
  using sysfs_show = std::error_code (*)(const host&, const sysfs_binding&, std::string&);
  using sysfs_store = std::error_code (*)(host&, const sysfs_binding&, std::string_view);
  /// A store's first step on its value alone: the parse (kstrtoul, the
  /// mask, UUID or device-name syntax) that the store runs before it changes
  /// anything, and whose error it returns with nothing changed. sysfs_write
  /// notes no footprint for a store that failed on a value its parse
  /// rejects (check_changed; vfio_ap_invariants_test
  /// VfioApIncrementalCheck.RejectedValueChangesNothing proves it of every store).
  using sysfs_parse = std::error_code (*)(std::string_view);
  /// When a row's node exists, given what its path bound.
  enum class sysfs_presence : unsigned char {
    always,      // static
    card,        // {card} is a configured adapter (a card device)
    queue,       // {apqn} is a queue device (of {card}, if bound)
    vfio_queue,  // {apqn} is a queue device bound to vfio_ap
    mdev,        // {uuid} is an mdev
  };
  /// What a pattern component is: a literal name or one of the
  /// placeholders. Decided when the table is compiled (sysfs_pattern), so
  /// that a lookup or a listing compares no pattern text with a
  /// placeholder's spelling (under a fuzzer those compares of constants
  /// were words it learned and spent mutations on).
  enum class sysfs_part : unsigned char { literal, card, apqn, uuid };
  static constexpr sysfs_part sysfs_part_of(std::string_view pattern) noexcept {
    if (pattern == "{card}") return sysfs_part::card;
    if (pattern == "{apqn}") return sysfs_part::apqn;
    if (pattern == "{uuid}") return sysfs_part::uuid;
    return sysfs_part::literal;
  }
  static constexpr std::size_t sysfs_max_depth = 8;
  struct sysfs_pattern {
    std::array<std::string_view, sysfs_max_depth> part{};
    std::array<sysfs_part, sysfs_max_depth> kind{};  // sysfs_part_of(part[i])
    std::size_t depth = 0;
    constexpr sysfs_pattern(const char* literal) {  // NOLINT: implicit, from a literal
      std::string_view text(literal);
      while (!text.empty()) {
        const std::size_t slash = text.find('/');
        part[depth] = text.substr(0, slash);
        kind[depth] = sysfs_part_of(part[depth]);
        ++depth;
        text = slash == std::string_view::npos ? std::string_view{} : text.substr(slash + 1);
      }
    }
  };
  struct sysfs_row {
    sysfs_pattern path;
    sysfs_kind kind;
    unsigned mode;
    sysfs_show show = nullptr;
    sysfs_store store = nullptr;
    sysfs_parse parse = nullptr;  // a store's: its value's syntax (nullptr: none of its own)
    std::string_view target{};  // symlink: relative target pattern
    sysfs_presence presence = sysfs_presence::always;
  };
  struct sysfs_node {
    const sysfs_row* row = nullptr;
    sysfs_binding bound;
    std::string storage;  // the rewritten path when a symlink was followed
  };
  static std::span<const sysfs_row> sysfs_table();
  /// Whether `name` matches the placeholder `kind` (given what the path
  /// bound so far), binding it in `b`.
  static bool sysfs_match_placeholder(sysfs_part kind, std::string_view name, sysfs_binding& b);
  /// The row whose pattern matches `parts` (the first in table order if
  /// several did; none does in this layout): a walk down sysfs_tree, one
  /// component at a time, not a scan of the table.
  static const sysfs_row* sysfs_match(std::span<const std::string_view> parts, sysfs_binding& b);
  /// The table's patterns as a tree (a trie of path components): node 0 is
  /// /sys, a node's children are the patterns one component longer with its
  /// prefix; `row` is the row whose pattern ends there (-1: none). Built
  /// once from sysfs_table (vfio_ap_layout_test: every path the table
  /// names, and its aliases, resolves to the row a scan finds).
  struct sysfs_tree_node {
    std::string_view part;
    sysfs_part kind = sysfs_part::literal;  // the pattern's kind of `part`
    int row = -1;
    std::uint16_t first_child = 0;   // 0: none (node 0 is nobody's child)
    std::uint16_t next_sibling = 0;  // 0: none
  };
  static std::span<const sysfs_tree_node> sysfs_tree();
  static void sysfs_walk(std::span<const sysfs_tree_node> tree, std::uint16_t at,
                         std::span<const std::string_view> parts, const sysfs_binding& b,
                         int& best, sysfs_binding& best_bound);
  static std::string sysfs_expand(std::string_view pattern, const sysfs_binding& b);
  /// The attribute row `path` names, following symlinks by pattern only
  /// (existence is the show/store's business, as before the table): the
  /// read/write path. nullptr: not in the layout.
  static const sysfs_row* sysfs_attribute(std::string_view path, sysfs_node& node);
  /// sysfs_write's and sysfs_read's work once the row is known.
  std::error_code sysfs_store_row(const sysfs_row& row, const sysfs_binding& b,
                                  std::string_view value);
  std::error_code sysfs_show_row(const sysfs_row& row, const sysfs_binding& b,
                                 std::string& out) const;
  static sysfs_binding sysfs_attr_binding(const sysfs_attr& attr);
  /// The node at `path` with every component checked for existence;
  /// `follow` says whether a final symlink is followed (list) or not (stat). Needs the
  /// bus lock and guests_lock (b, g).
  enum class sysfs_follow : unsigned char { final_link, not_final_link };
  template <class Ctx>
  std::error_code sysfs_lookup(Ctx& g, std::string_view path, sysfs_follow follow,
                               sysfs_node& node) const;
  template <class Ctx>
  bool sysfs_present(Ctx& g, const sysfs_row& row, const sysfs_binding& b) const;
  template <std::error_code (matrix_dev::*Store)(ordo::unlocked&, std::string_view,
                                                 std::string_view)>
  static std::error_code store_on_mdev(host& h, const sysfs_binding& b, std::string_view value) {
    ordo::unlocked ctx;
    return (h.matrix_.*Store)(ctx, b.uuid, value);
  }
  template <matrix_dev::show_kind Kind>
  static std::error_code show_on_mdev(const host& h, const sysfs_binding& b, std::string& out) {
    ordo::unlocked ctx;
    return h.matrix_.show(ctx, b.uuid, Kind, out);
  }
  static sysfs_entry sysfs_entry_of(const sysfs_row& row, std::string name, const sysfs_binding& b);

  std::error_code store_mask(std::string_view value, bool adapters);
  std::error_code bind(std::string_view value);
  std::error_code unbind(std::string_view value);
  std::error_code remove_mdev(std::string_view uuid, std::string_view value);

  // One function per invariant (check_invariants holds every lock: md is
  // the mdevs guard at the end of that chain, g the guests guard).
  template <class Ctx> void check_i1(Ctx& md, std::vector<std::string>& broken) const;
  template <class Ctx> void check_i2(Ctx& md, std::vector<std::string>& broken) const;
  template <class Ctx> void check_i3(Ctx& md, std::vector<std::string>& broken) const;
  template <class Ctx> void check_i4(Ctx& md, std::vector<std::string>& broken) const;
  template <class Ctx> void check_i5_mdevs(Ctx& md, std::vector<std::string>& broken) const;
  template <class Ctx> void check_i6_mdevs(Ctx& md, std::vector<std::string>& broken) const;
  template <class Ctx> void check_model(Ctx& md, std::vector<std::string>& broken) const;
  /// Calls f(kvm*) once for every live guest: in the table (t) or held by
  /// an open mdev (v); the table's first, then the mdevs' in list order.
  /// Allocates nothing (it runs in every check).
  template <class Ctx, class F> void for_each_live_guest(Ctx& g, F&& f) const;
  /// The per-guest half of I5 (hooks: lines to i5) and I6 (APCBs: to i6).
  template <class Ctx>
  void check_guests(Ctx& g, bool hooks, bool apcbs, std::vector<std::string>& i5,
                    std::vector<std::string>& i6) const;

  // AP bus internals (bus_lock_ held in b).
  template <class Ctx>
  void attach(Ctx& b, ap::apqn q);
  template <class Ctx>
  void detach(Ctx& b, ap::apqn q);
  template <class Ctx>
  bool reserved(Ctx& b, ap::apqn q) {
    auto a = perms_.mutex.lock(b);
    return perms_.reserved(a, q);
  }
  template <class Ctx>
  void revise_bindings(Ctx& b);
  /// The queue device a bind/unbind value names, by its syntax alone.
  static std::optional<ap::apqn> device_name(std::string_view name);
  /// That device, if it exists (bus lock).
  std::optional<ap::apqn> find_device(std::string_view name) const;
  template <class Ctx>
  void close_device(Ctx& v, mdev& m);
  /// The live guest called `name`, or nullptr. Needs the table lock.
  template <class Ctx>
    requires ordo::holds<Ctx, kvm_table_level>
  kvm* find_guest(Ctx&, std::string_view name) const {
    const auto it = kvms_.find(name);
    if (it == kvms_.end() || it->second.memory->released()) return nullptr;
    return it->second.memory.get();
  }
  /// Frees the guests whose last reference is gone. Needs the table lock
  /// exclusively.
  template <class Ctx>
    requires ordo::holds<Ctx, ordo::exclusive<kvm_table_level>>
  void purge_guests(Ctx&) {
    std::erase_if(kvms_, [](const auto& entry) { return entry.second.memory->released(); });
  }
  /// A new guest `name` (not in the table) with its creator's reference:
  /// the count starts at one. Needs the table lock exclusively.
  template <class Ctx>
    requires ordo::holds<Ctx, ordo::exclusive<kvm_table_level>>
  kvm& add_guest(Ctx&, std::string_view name) {
    auto guest = std::make_unique<kvm>(std::string(name));
    guest_entry entry;
    entry.creator = ordo::adopt_ref(guest.get());
    entry.memory = std::move(guest);
    return *kvms_.emplace(std::string(name), std::move(entry)).first->second.memory;
  }
  /// kvm and vfio_ap loaded again if something unloaded them (reset, restore).
  void load_missing_modules() {
    if (modules_.find("kvm") == nullptr) (void)kvm_module_init(modules_);
    if (modules_.find("vfio_ap") == nullptr) (void)modules_.load("vfio_ap", [](ordo::module_loader&) {});
  }
  template <class Ctx>
  mdev* lookup_mdev(Ctx& v, std::string_view uuid) {
    auto g = matrix_.guests_lock.lock(v);
    return matrix_.find_mdev(g, uuid);
  }
  /// Whether a VFIO operation needs its device open (close, reset) or closed (open).
  enum class device_state { closed, open };
  /// The mdev whose device file a VFIO operation names (C3): ENOENT for a
  /// malformed or unknown UUID, EBUSY when it must be closed and is open,
  /// EBADF when it must be open and is not. Under vfio_lock_ (`v`).
  template <class Ctx>
  std::error_code find_device(Ctx& v, std::string_view uuid, device_state want, mdev*& out) {
    const std::optional<uuid_text> id = canonical_uuid(uuid);
    if (!id || uuid.size() != id->chars.size()) return errc(std::errc::no_such_file_or_directory);
    mdev* m = lookup_mdev(v, id->view());
    if (m == nullptr) return errc(std::errc::no_such_file_or_directory);
    if (want == device_state::closed && m->open) return errc(std::errc::device_or_resource_busy);
    if (want == device_state::open && !m->open) return errc(std::errc::bad_file_descriptor);
    out = m;
    return {};
  }

  // What an operation that returned could have broken since the last
  // check_changed (invariant_set bits). note_change at the end of each
  // operation that changes state; check_changed takes and clears it.
  mutable std::atomic<std::uint8_t> changed_{0};
  void note_change(invariant_set footprint) const noexcept {
    // Relaxed: partner is check_changed's exchange. An operation that returned
    // before check_changed() began is ordered before it (same thread, or the
    // caller's synchronization), and coherence makes the exchange read this
    // bit; the state the check then reads is ordered by the model's locks.
    changed_.fetch_or(footprint.bits(), std::memory_order_relaxed);
    if (!footprint.empty()) note_generation();
  }
  // generation(): one more operation that may have changed state.
  mutable std::atomic<std::uint64_t> generation_{0};
  void note_generation() const noexcept { generation_.fetch_add(1, std::memory_order_relaxed); }
  /// Notes `footprint` when the operation's scope ends, after its own lock
  /// guards (declared later) have released their locks.
  class change_note {
   public:
    change_note(const host& h, invariant_set footprint) noexcept : h_(h), footprint_(footprint) {}
    ~change_note() { h_.note_change(footprint_); }
    /// The operation changed nothing after all: note no footprint.
    void cancel() noexcept { footprint_ = {}; }
    change_note(const change_note&) = delete;
    change_note& operator=(const change_note&) = delete;

   private:
    const host& h_;
    invariant_set footprint_;
  };

  // Declaration order is destruction order reversed: the module registry
  // outlives every symbol_ref and guest reference.
  ordo::module_registry modules_;
  ordo::module* vfio_ap_module_ = nullptr;
  // The guest table: the memory of every guest not yet freed, and the
  // creator's reference until kvm_destroy. Declared before matrix_ so that
  // guests outlive the mdevs' references at destruction.
  struct guest_entry {
    std::unique_ptr<kvm> memory;
    ordo::ref<kvm> creator;
  };
  mutable kvm_table_mutex kvm_table_lock_;
  std::map<std::string, guest_entry, std::less<>> kvms_;  // kvm_table_lock_
  ap_hw hw_;
  ap_perms perms_;
  mutable ordo::ordered_mutex<vfio_level> vfio_lock_;
  mutable ordo::ordered_mutex<ap_bus_level> bus_lock_;
  ap::host_config qci_;                       // bus_lock_
  /// The AP bus's queue devices and their drivers, in APQN order: a sorted
  /// vector, one block that reset keeps (clear keeps the capacity), where
  /// a std::map allocated and freed a node per device (64 of each per
  /// sysfs_fuzz input: a tenth of its time under ASan). No reference or
  /// iterator is kept across an insertion or erasure, which move entries.
  class device_table {
   public:
    using entry = std::pair<ap::apqn, bound_to>;
    [[nodiscard]] auto begin() noexcept { return entries_.begin(); }
    [[nodiscard]] auto end() noexcept { return entries_.end(); }
    [[nodiscard]] auto begin() const noexcept { return entries_.begin(); }
    [[nodiscard]] auto end() const noexcept { return entries_.end(); }
    [[nodiscard]] auto find(ap::apqn q) const noexcept {
      const auto it = lower_bound(q);
      return it != entries_.end() && it->first == q ? it : entries_.end();
    }
    [[nodiscard]] bool contains(ap::apqn q) const noexcept { return find(q) != entries_.end(); }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    /// The driver of device q, inserted unbound if there is none.
    bound_to& operator[](ap::apqn q) {
      auto it = std::lower_bound(entries_.begin(), entries_.end(), q, key_less);
      if (it == entries_.end() || it->first != q) it = entries_.insert(it, entry{q, bound_to::none});
      return it->second;
    }
    /// Adds every APQN of `sorted` (ascending, none present) unbound: one
    /// merge, not one insertion each (a bus scan can add 65536).
    void add_unbound(const std::vector<ap::apqn>& sorted) {
      if (sorted.empty()) return;
      if (entries_.empty() || entries_.back().first < sorted.front()) {  // all after: append
        entries_.reserve(entries_.size() + sorted.size());
        for (ap::apqn q : sorted) entries_.push_back(entry{q, bound_to::none});
        return;
      }
      std::vector<entry> merged;
      merged.reserve(entries_.size() + sorted.size());
      auto in = sorted.begin();
      for (const entry& e : entries_) {
        for (; in != sorted.end() && *in < e.first; ++in) merged.push_back(entry{*in, bound_to::none});
        merged.push_back(e);
      }
      for (; in != sorted.end(); ++in) merged.push_back(entry{*in, bound_to::none});
      entries_.swap(merged);
    }
    /// Removes every device for which pred(apqn) holds, in one pass.
    template <class Pred>
    void erase_if(Pred pred) {
      std::erase_if(entries_, [&](const entry& e) { return pred(e.first); });
    }
    void clear() noexcept { entries_.clear(); }
    /// Exactly `sorted` (ascending, no APQN twice; host::restore).
    void assign(const std::vector<entry>& sorted) { entries_ = sorted; }
    [[nodiscard]] const std::vector<entry>& entries() const noexcept { return entries_; }

   private:
    static bool key_less(const entry& e, ap::apqn q) noexcept { return e.first < q; }
    [[nodiscard]] std::vector<entry>::const_iterator lower_bound(ap::apqn q) const noexcept {
      return std::lower_bound(entries_.begin(), entries_.end(), q, key_less);
    }
    std::vector<entry> entries_;
  };
  device_table devices_;  // bus_lock_: the queue devices
  matrix_dev matrix_;
};

// ===========================================================================
// Implementation

namespace detail {
inline ap::host_config initial_qci() {
  ap::host_config c;
  c.apxa = true;
  c.na = 255;
  c.nd = 255;
  return c;
}
inline std::error_code errno_code(int e) { return std::error_code(e, std::generic_category()); }
}  // namespace detail

class host::image {
 public:
  /// A new host's state.
  image() { matrix_.info = detail::initial_qci(); }

 private:
  friend class host;
  struct guest {
    std::string name;
    apcb_masks apcb;
    unsigned long apcb_updates = 0;
  };
  ap::host_config qci_ = detail::initial_qci();
  ap::adapter_mask perms_apm_ = ap::adapter_mask::all();
  ap::domain_mask perms_aqm_ = ap::domain_mask::all();
  std::vector<device_table::entry> devices_;
  ap_hw::saved_state hw_;
  matrix_dev::saved_state matrix_;
  std::vector<guest> guests_;  // by name, as the guest table
  bool kvm_loaded_ = true;
  bool vfio_ap_loaded_ = true;
};

// The member functions' definitions. By default they are inline here, in
// every translation unit that includes this header (the model is
// header-only). A build may compile them once instead: its translation units
// define ORDO_VFIO_AP_COMPILED=1 and see only the declarations above, and
// one of them defines ORDO_VFIO_AP_DEFINE before this header and gets the
// definitions, not inline (vfio_ap/src/host.cpp, the vfio_ap_model_compiled
// target: this repository's tests, simulator and replays, where a dozen
// translation units per preset each compiled the whole model again). Every
// translation unit of one program must agree on ORDO_VFIO_AP_COMPILED.
#if defined(ORDO_VFIO_AP_COMPILED)
#define ORDO_VFIO_AP_INLINE
#else
#define ORDO_VFIO_AP_INLINE inline
#endif
#if !defined(ORDO_VFIO_AP_COMPILED) || defined(ORDO_VFIO_AP_DEFINE)

ORDO_VFIO_AP_INLINE std::error_code host::save(image& out) const {
  image s;
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock_shared(ctx);
  auto v = vfio_lock_.lock(t);
  auto b = bus_lock_.lock(v);
  s.qci_ = qci_;
  s.devices_ = devices_.entries();
  {
    auto a = perms_.mutex.lock(b);
    s.perms_apm_ = perms_.apm;
    s.perms_aqm_ = perms_.aqm;
  }
  if (const std::error_code ec = matrix_.save(b, s.matrix_)) return ec;
  s.hw_ = hw_.save(b);
  for (const auto& [name, entry] : kvms_) {
    kvm* guest = find_guest(t, name);
    if (guest == nullptr) continue;  // released: gone at the next purge
    // No open mdev (matrix_.save), so the creator's is the only reference
    // the host knows of; any other is held outside it.
    if (!entry.creator || guest->refs() != 1) return errc(std::errc::device_or_resource_busy);
    auto kl = guest->lock.lock(b);
    s.guests_.push_back({name, guest->apcb(kl), guest->apcb_updates(kl)});
  }
  s.kvm_loaded_ = modules_.find("kvm") != nullptr;
  s.vfio_ap_loaded_ = modules_.find("vfio_ap") != nullptr;
  out = std::move(s);
  return {};
}

ORDO_VFIO_AP_INLINE void host::restore(const image& from) {
  {
    ordo::unlocked ctx;
    auto t = kvm_table_lock_.lock(ctx);
    auto v = vfio_lock_.lock(t);
    auto b = bus_lock_.lock(v);
    // In reset()'s order: the mdevs (their guest references and module
    // pins) before the guests.
    matrix_.restore(b, from.matrix_);
    devices_.assign(from.devices_);
    qci_ = from.qci_;
    {
      auto a = perms_.mutex.lock(b);
      perms_.apm = from.perms_apm_;
      perms_.aqm = from.perms_aqm_;
    }
    hw_.restore(b, from.hw_);
    // The guests, now that the dropped mdevs' references are gone: one the
    // image has, alive with only its creator's reference, is kept and takes
    // the saved APCB and count, its hook cleared (a dropped mdev that was
    // open left its own there, as reset() leaves it to the guest's
    // destruction); the others go, and the image's missing ones are made.
    const auto saved_guest = [&from](std::string_view name) -> const image::guest* {
      const auto it = std::lower_bound(
          from.guests_.begin(), from.guests_.end(), name,
          [](const image::guest& g, std::string_view n) { return g.name < n; });
      return it != from.guests_.end() && it->name == name ? &*it : nullptr;
    };
    std::erase_if(kvms_, [&](const auto& entry) {
      return saved_guest(entry.first) == nullptr || !entry.second.creator ||
             entry.second.memory->released() || entry.second.memory->refs() != 1;
    });
    for (const image::guest& saved : from.guests_) {
      const auto it = kvms_.find(saved.name);
      kvm& guest = it != kvms_.end() ? *it->second.memory : add_guest(t, saved.name);
      auto kl = guest.lock.lock(b);
      auto hook = guest.pqap_hook_rwsem.lock(kl);
      guest.clear_pqap_hook(hook);
      guest.restore_masks(kl, saved.apcb, saved.apcb_updates);
    }
  }
  // The modules as the image has them: reloaded as reset() does, then
  // unloaded if the saved host had let them go.
  load_missing_modules();
  if (!from.vfio_ap_loaded_) (void)modules_.try_unload("vfio_ap");
  if (!from.kvm_loaded_) (void)modules_.try_unload("kvm");
  vfio_ap_module_ = modules_.find("vfio_ap");
  // Relaxed, as note_change (the caller orders restore before any check).
  changed_.store(invariant_set::all().bits(), std::memory_order_relaxed);
  note_generation();
}

ORDO_VFIO_AP_INLINE host::host() : qci_(detail::initial_qci()), matrix_(hw_, perms_, qci_) {
  (void)kvm_module_init(modules_);
  (void)modules_.load("vfio_ap", [](ordo::module_loader&) {});
  vfio_ap_module_ = modules_.find("vfio_ap");
}

ORDO_VFIO_AP_INLINE void host::reset() {
  {
    ordo::unlocked ctx;
    auto t = kvm_table_lock_.lock(ctx);
    auto v = vfio_lock_.lock(t);
    auto b = bus_lock_.lock(v);
    // In the destructor's order: the mdevs (their guest references and module
    // pins) before the guests, the guests before the modules.
    matrix_.reset(b, detail::initial_qci());
    devices_.clear();
    qci_ = detail::initial_qci();
    {
      auto a = perms_.mutex.lock(b);
      perms_.apm = ap::adapter_mask::all();
      perms_.aqm = ap::domain_mask::all();
    }
    hw_.reset(b);
    kvms_.clear();
  }
  load_missing_modules();
  vfio_ap_module_ = modules_.find("vfio_ap");
  // A new host has nothing to check; relaxed: partner is check_changed's
  // exchange, as note_change (the caller orders reset before any check).
  changed_.store(0, std::memory_order_relaxed);
  note_generation();
}

// ---- paths ----------------------------------------------------------------

ORDO_VFIO_AP_INLINE std::optional<host::uuid_text> host::canonical_uuid(std::string_view text) {
  // uuid_is_valid: 36 characters, '-' at 8, 13, 18, 23, hex elsewhere.
  uuid_text out;
  if (text.size() < out.chars.size()) return std::nullopt;
  std::copy_n(text.begin(), out.chars.size(), out.chars.begin());
  for (std::size_t i = 0; i < out.chars.size(); ++i) {
    const char c = out.chars[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return std::nullopt;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    } else {
      out.chars[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

// ---- the sysfs table ------------------------------------------------------

ORDO_VFIO_AP_INLINE bool host::sysfs_match_placeholder(sysfs_part kind, std::string_view name,
                                          sysfs_binding& b) {
  if (kind == sysfs_part::card) {
    // "card%02x" of a card device.
    if (name.size() != 6 || name.substr(0, 4) != "card") return false;
    unsigned id = 0;
    for (const char c : name.substr(4)) {
      if (c >= '0' && c <= '9') id = id * 16 + static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') id = id * 16 + static_cast<unsigned>(c - 'a' + 10);
      else return false;
    }
    b.card = ap::apid(static_cast<std::uint8_t>(id));
    return true;
  }
  if (kind == sysfs_part::apqn) {
    const auto [q, ec] = ap::parse_apqn(name);
    if (ec || q.to_string() != name || (b.card && *b.card != q.card())) return false;
    b.queue = q;
    return true;
  }
  // {uuid}: sysfs names are lowercase. Each character's class (a dash, a
  // lowercase hex digit, anything else) against the class its position
  // needs, accumulated without a branch or a comparison per character
  // (under a fuzzer's comparison tracing each would be a callback).
  if (name.size() != 36) return false;
  static constexpr std::array<std::uint8_t, 256> char_class = [] {
    std::array<std::uint8_t, 256> t{};
    t['-'] = 1;
    for (char c = '0'; c <= '9'; ++c) t[static_cast<unsigned char>(c)] = 2;
    for (char c = 'a'; c <= 'f'; ++c) t[static_cast<unsigned char>(c)] = 2;
    return t;
  }();
  static constexpr std::array<std::uint8_t, 36> wanted = [] {
    std::array<std::uint8_t, 36> t{};
    for (std::size_t i = 0; i < 36; ++i) t[i] = (i == 8 || i == 13 || i == 18 || i == 23) ? 1 : 2;
    return t;
  }();
  unsigned mismatch = 0;
  for (std::size_t i = 0; i < 36; ++i) {
    mismatch |= char_class[static_cast<unsigned char>(name[i])] ^ wanted[i];
  }
  if (mismatch != 0) return false;
  b.uuid = name;
  return true;
}

ORDO_VFIO_AP_INLINE std::span<const host::sysfs_tree_node> host::sysfs_tree() {
  static const std::vector<sysfs_tree_node> tree = [] {
    std::vector<sysfs_tree_node> nodes(1);  // node 0: /sys
    const std::span<const sysfs_row> table = sysfs_table();
    for (std::size_t r = 0; r < table.size(); ++r) {
      const sysfs_pattern& path = table[r].path;
      std::uint16_t at = 0;
      for (std::size_t i = 0; i < path.depth; ++i) {
        std::uint16_t child = nodes[at].first_child;
        while (child != 0 && nodes[child].part != path.part[i]) child = nodes[child].next_sibling;
        if (child == 0) {  // a new component: appended as the last child
          child = static_cast<std::uint16_t>(nodes.size());
          nodes.push_back(sysfs_tree_node{path.part[i], path.kind[i]});
          std::uint16_t* link = &nodes[at].first_child;
          while (*link != 0) link = &nodes[*link].next_sibling;
          *link = child;
        }
        at = child;
      }
      if (nodes[at].row < 0) nodes[at].row = static_cast<int>(r);  // the first row wins
    }
    return nodes;
  }();
  return tree;
}

ORDO_VFIO_AP_INLINE void host::sysfs_walk(std::span<const sysfs_tree_node> tree, std::uint16_t at,
                             std::span<const std::string_view> parts, const sysfs_binding& b,
                             int& best, sysfs_binding& best_bound) {
  if (parts.empty()) {
    const int row = tree[at].row;
    if (row >= 0 && (best < 0 || row < best)) {
      best = row;
      best_bound = b;
    }
    return;
  }
  for (std::uint16_t c = tree[at].first_child; c != 0; c = tree[c].next_sibling) {
    if (tree[c].kind == sysfs_part::literal) {
      if (tree[c].part == parts.front()) sysfs_walk(tree, c, parts.subspan(1), b, best, best_bound);
      continue;
    }
    sysfs_binding bound = b;
    if (sysfs_match_placeholder(tree[c].kind, parts.front(), bound)) {
      sysfs_walk(tree, c, parts.subspan(1), bound, best, best_bound);
    }
  }
}

ORDO_VFIO_AP_INLINE const host::sysfs_row* host::sysfs_match(std::span<const std::string_view> parts,
                                                sysfs_binding& b) {
  // Every pattern that matches, not only the first path found: the row a
  // scan of the table in order would find (a literal and a placeholder of
  // one directory never both match a name in this layout, but the walk does
  // not rely on it).
  int best = -1;
  sysfs_binding bound;
  sysfs_walk(sysfs_tree(), 0, parts, sysfs_binding{}, best, bound);
  if (best < 0) return nullptr;
  b = bound;
  return &sysfs_table()[static_cast<std::size_t>(best)];
}

ORDO_VFIO_AP_INLINE std::string host::sysfs_expand(std::string_view pattern, const sysfs_binding& b) {
  std::string out;
  while (!pattern.empty()) {
    const std::size_t open = pattern.find('{');
    out += pattern.substr(0, open);
    if (open == std::string_view::npos) break;
    const std::size_t close = pattern.find('}', open);
    // The placeholder by its first letter: {card}, {apqn} or {uuid}, the
    // only ones a target has (LayoutLookup.SymlinkTargetsNameOnlyPlaceholders);
    // comparing the whole name with a constant taught the fuzzers
    // the constant's spelling, as in sysfs_part_of.
    switch (pattern[open + 1]) {
      case 'c':
        out += absl::StrFormat("card%02x", b.card ? b.card->value() : b.queue->card().value());
        break;
      case 'a': out += b.queue->to_string(); break;
      default: out += b.uuid; break;
    }
    pattern = pattern.substr(close + 1);
  }
  return out;
}

namespace detail {
// "/sys/a/b" as its components below /sys; false if not below /sys, too
// deep, or with an empty component ("//", a trailing '/').
template <std::size_t N>
bool split_sysfs_path(std::string_view path, std::array<std::string_view, N>& parts,
                      std::size_t& depth) {
  depth = 0;
  if (path.substr(0, 4) != "/sys") return false;
  path.remove_prefix(4);
  while (!path.empty()) {
    if (path.front() != '/' || depth == N) return false;
    path.remove_prefix(1);
    const std::size_t slash = path.find('/');
    const std::string_view part = path.substr(0, slash);
    if (part.empty()) return false;
    parts[depth++] = part;
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
  }
  return true;
}
// The path with the symlink at parts[link] replaced by its target (relative
// to the link's directory) followed by the rest of the parts.
template <std::size_t N>
std::string follow_sysfs_link(const std::array<std::string_view, N>& parts, std::size_t depth,
                              std::size_t link, std::string_view target) {
  std::vector<std::string_view> out(parts.begin(), parts.begin() + link);
  while (!target.empty()) {
    const std::size_t slash = target.find('/');
    const std::string_view part = target.substr(0, slash);
    if (part == "..") {
      if (!out.empty()) out.pop_back();
    } else {
      out.push_back(part);
    }
    target = slash == std::string_view::npos ? std::string_view{} : target.substr(slash + 1);
  }
  out.insert(out.end(), parts.begin() + link + 1, parts.begin() + depth);
  std::string path = "/sys";
  for (std::string_view part : out) path.append("/").append(part);
  return path;
}
}  // namespace detail

ORDO_VFIO_AP_INLINE const host::sysfs_row* host::sysfs_attribute(std::string_view path, sysfs_node& node) {
  std::array<std::string_view, 2 * sysfs_max_depth> parts;
  std::size_t depth = 0;
  for (int hops = 0; hops < 8; ++hops) {
    if (!detail::split_sysfs_path(path, parts, depth) || depth == 0) return nullptr;
    // The canonical path of an attribute matches one row.
    if (const sysfs_row* row = sysfs_match({parts.data(), depth}, node.bound)) {
      return row->kind == sysfs_kind::file ? row : nullptr;
    }
    // An alias: follow the first symlink on the way.
    std::size_t at = 0;
    const sysfs_row* link = nullptr;
    for (; at + 1 < depth; ++at) {
      link = sysfs_match({parts.data(), at + 1}, node.bound);
      if (link == nullptr || link->kind == sysfs_kind::file) return nullptr;
      if (link->kind == sysfs_kind::symlink) break;
    }
    if (at + 1 == depth) return nullptr;
    std::string next =
        detail::follow_sysfs_link(parts, depth, at, sysfs_expand(link->target, node.bound));
    node.storage = std::move(next);
    path = node.storage;
  }
  return nullptr;
}

template <class Ctx>
bool host::sysfs_present(Ctx& g, const sysfs_row& row, const sysfs_binding& b) const {
  switch (row.presence) {
    case sysfs_presence::always: return true;
    case sysfs_presence::card: {
      const ap::ap_matrix limits(qci_);
      return qci_.apm.test(*b.card) && *b.card <= limits.apm_max;
    }
    case sysfs_presence::queue: return devices_.contains(*b.queue);
    case sysfs_presence::vfio_queue: {
      const auto it = devices_.find(*b.queue);
      return it != devices_.end() && it->second == bound_to::vfio_ap;
    }
    case sysfs_presence::mdev: return matrix_.find_mdev(g, b.uuid) != nullptr;
  }
  return false;
}

template <class Ctx>
std::error_code host::sysfs_lookup(Ctx& g, std::string_view path, sysfs_follow follow,
                                   sysfs_node& node) const {
  std::array<std::string_view, 2 * sysfs_max_depth> parts;
  std::size_t depth = 0;
  for (int hops = 0; hops < 8; ++hops) {
    if (!detail::split_sysfs_path(path, parts, depth)) {
      return errc(std::errc::no_such_file_or_directory);
    }
    if (depth == 0) {
      node.row = sysfs_match({}, node.bound);  // /sys itself
      return {};
    }
    std::string next;
    for (std::size_t i = 0; i < depth && next.empty(); ++i) {
      const sysfs_row* row = sysfs_match({parts.data(), i + 1}, node.bound);
      if (row == nullptr || !sysfs_present(g, *row, node.bound)) {
        return errc(std::errc::no_such_file_or_directory);
      }
      const bool last = i + 1 == depth;
      if (row->kind == sysfs_kind::file && !last) return errc(std::errc::not_a_directory);
      if (row->kind == sysfs_kind::symlink && (!last || follow == sysfs_follow::final_link)) {
        next = detail::follow_sysfs_link(parts, depth, i, sysfs_expand(row->target, node.bound));
      } else if (last) {
        node.row = row;
        return {};
      }
    }
    node.storage = std::move(next);
    path = node.storage;
  }
  return errc(std::errc::too_many_symbolic_link_levels);
}

ORDO_VFIO_AP_INLINE sysfs_entry host::sysfs_entry_of(const sysfs_row& row, std::string name,
                                        const sysfs_binding& b) {
  sysfs_entry e;
  e.name = std::move(name);
  e.kind = row.kind;
  e.mode = row.mode;
  if (row.kind == sysfs_kind::symlink) e.target = sysfs_expand(row.target, b);
  return e;
}

ORDO_VFIO_AP_INLINE bool host::sysfs_fixed(std::string_view path) {
  std::array<std::string_view, 2 * sysfs_max_depth> parts;
  std::size_t depth = 0;
  if (!detail::split_sysfs_path(path, parts, depth)) return false;
  sysfs_binding bound;
  const sysfs_row* row = sysfs_match({parts.data(), depth}, bound);
  if (row == nullptr) return false;
  for (std::size_t i = 0; i < row->path.depth; ++i) {
    if (!row->path.part[i].empty() && row->path.part[i].front() == '{') return false;
  }
  return true;
}

ORDO_VFIO_AP_INLINE std::error_code host::sysfs_stat(std::string_view path, sysfs_entry& out) const {
  ordo::unlocked ctx;
  auto b = bus_lock_.lock(ctx);
  auto g = matrix_.guests_lock.lock(b);
  sysfs_node node;
  if (auto ec = sysfs_lookup(g, path, sysfs_follow::not_final_link, node)) return ec;
  const std::size_t depth = node.row->path.depth;
  std::string name = depth == 0 ? std::string("sys") : std::string(path.substr(path.rfind('/') + 1));
  out = sysfs_entry_of(*node.row, std::move(name), node.bound);
  return {};
}

ORDO_VFIO_AP_INLINE std::error_code host::sysfs_list(std::string_view dir, std::vector<sysfs_entry>& out) const {
  ordo::unlocked ctx;
  auto b = bus_lock_.lock(ctx);
  auto g = matrix_.guests_lock.lock(b);
  sysfs_node node;
  if (auto ec = sysfs_lookup(g, dir, sysfs_follow::final_link, node)) return ec;
  if (node.row->kind != sysfs_kind::dir) return errc(std::errc::not_a_directory);
  const sysfs_row& parent = *node.row;
  const std::size_t depth = parent.path.depth;
  std::vector<sysfs_entry> entries;
  const auto add = [&](const sysfs_row& row, const sysfs_binding& bound, std::string name) {
    if (sysfs_present(g, row, bound)) entries.push_back(sysfs_entry_of(row, std::move(name), bound));
  };
  for (const sysfs_row& row : sysfs_table()) {
    if (row.path.depth != depth + 1 ||
        !std::equal(parent.path.part.begin(), parent.path.part.begin() + depth,
                    row.path.part.begin())) {
      continue;
    }
    const std::string_view leaf = row.path.part[depth];
    const sysfs_part kind = row.path.kind[depth];
    sysfs_binding bound = node.bound;
    if (kind == sysfs_part::card) {
      const ap::ap_matrix limits(qci_);
      for (ap::apid a : qci_.apm.up_to(limits.apm_max)) {
        bound.card = a;
        add(row, bound, absl::StrFormat("card%02x", a.value()));
      }
    } else if (kind == sysfs_part::apqn) {
      for (const auto& [q, driver] : devices_) {
        if (node.bound.card && q.card() != *node.bound.card) continue;
        bound.queue = q;
        add(row, bound, q.to_string());
      }
    } else if (kind == sysfs_part::uuid) {
      for (const auto& m : matrix_.mdev_list(g)) {
        bound.uuid = m->uuid();
        add(row, bound, m->uuid());
      }
    } else {
      add(row, bound, std::string(leaf));
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const sysfs_entry& x, const sysfs_entry& y) { return x.name < y.name; });
  out = std::move(entries);
  return {};
}

ORDO_VFIO_AP_INLINE std::span<const host::sysfs_row> host::sysfs_table() {
  using k = sysfs_kind;
  using p = sysfs_presence;
  constexpr unsigned dir = 0755, link = 0777, ro = 0444, wo = 0200, rw = 0644;
  // Shows and stores: each is the attribute's kernel function.
  constexpr sysfs_show show_apmask = [](const host& h, const sysfs_binding&, std::string& out) {
    ordo::unlocked ctx;
    auto a = h.perms_.mutex.lock(ctx);
    out = h.perms_.apm.to_string() + "\n";
    return std::error_code{};
  };
  constexpr sysfs_show show_aqmask = [](const host& h, const sysfs_binding&, std::string& out) {
    ordo::unlocked ctx;
    auto a = h.perms_.mutex.lock(ctx);
    out = h.perms_.aqm.to_string() + "\n";
    return std::error_code{};
  };
  constexpr sysfs_store store_apmask = [](host& h, const sysfs_binding&, std::string_view v) {
    return h.store_mask(v, true);
  };
  constexpr sysfs_store store_aqmask = [](host& h, const sysfs_binding&, std::string_view v) {
    return h.store_mask(v, false);
  };
  constexpr sysfs_store store_bind = [](host& h, const sysfs_binding&, std::string_view v) {
    return h.bind(v);
  };
  constexpr sysfs_store store_unbind = [](host& h, const sysfs_binding&, std::string_view v) {
    return h.unbind(v);
  };
  constexpr sysfs_show show_status = [](const host& h, const sysfs_binding& b, std::string& out) {
    ordo::unlocked ctx;
    return h.matrix_.show_status(ctx, *b.queue, out);
  };
  constexpr sysfs_show show_features = [](const host&, const sysfs_binding&, std::string& out) {
    out = std::string(vfio_ap_features);
    return std::error_code{};
  };
  constexpr sysfs_store store_create = [](host& h, const sysfs_binding&, std::string_view v) {
    const std::optional<uuid_text> uuid = canonical_uuid(v);
    if (!uuid) return errc(std::errc::invalid_argument);
    ordo::unlocked ctx;
    return h.matrix_.create_mdev(ctx, std::string(uuid->view()));
  };
  constexpr sysfs_show show_available = [](const host& h, const sysfs_binding&, std::string& out) {
    ordo::unlocked ctx;
    auto g = h.matrix_.guests_lock.lock(ctx);
    out = absl::StrFormat("%u\n", max_mdev_instances - h.matrix_.instances(g));
    return std::error_code{};
  };
  constexpr sysfs_show show_name = [](const host&, const sysfs_binding&, std::string& out) {
    out = "VFIO AP Passthrough Device\n";
    return std::error_code{};
  };
  constexpr sysfs_show show_device_api = [](const host&, const sysfs_binding&, std::string& out) {
    out = "vfio-ap\n";
    return std::error_code{};
  };
  constexpr sysfs_store store_remove = [](host& h, const sysfs_binding& b, std::string_view v) {
    return h.remove_mdev(b.uuid, v);
  };
  // The parses: each is the first step of its stores on the value (see
  // sysfs_parse), the same function on the same bytes.
  constexpr sysfs_parse parse_mask = [](std::string_view v) {
    // ap_parse_bitmap_str: whether it fails does not depend on the current
    // mask, which a '+'/'-' edit starts from (store_mask).
    return ap::adapter_mask::parse_update(v, ap::adapter_mask{}).error;
  };
  constexpr sysfs_parse parse_device = [](std::string_view v) {
    return device_name(v) ? std::error_code{} : errc(std::errc::no_such_device);  // bind, unbind
  };
  constexpr sysfs_parse parse_uuid = [](std::string_view v) {
    return canonical_uuid(v) ? std::error_code{} : errc(std::errc::invalid_argument);  // create
  };
  constexpr sysfs_parse parse_number = [](std::string_view v) {
    return ap::parse_ulong(v).error;  // remove; the first step of parse_id (assign_*, unassign_*)
  };
  constexpr sysfs_parse parse_ap_config = [](std::string_view v) {
    return ap::parse_ap_config(v).error;
  };
  static constexpr sysfs_row table[] = {
      {"", k::dir, dir},
      {"bus", k::dir, dir},
      {"bus/ap", k::dir, dir},
      {"bus/ap/apmask", k::file, rw, show_apmask, store_apmask, parse_mask},
      {"bus/ap/aqmask", k::file, rw, show_aqmask, store_aqmask, parse_mask},
      {"bus/ap/devices", k::dir, dir},
      {"bus/ap/devices/{card}", k::symlink, link, nullptr, nullptr, nullptr, "../../../devices/ap/{card}", p::card},
      {"bus/ap/devices/{apqn}", k::symlink, link, nullptr, nullptr, nullptr, "../../../devices/ap/{card}/{apqn}", p::queue},
      {"bus/ap/drivers", k::dir, dir},
      {"bus/ap/drivers/vfio_ap", k::dir, dir},
      {"bus/ap/drivers/vfio_ap/bind", k::file, wo, nullptr, store_bind, parse_device},
      {"bus/ap/drivers/vfio_ap/unbind", k::file, wo, nullptr, store_unbind, parse_device},
      {"bus/ap/drivers/vfio_ap/{apqn}", k::symlink, link, nullptr, nullptr, nullptr, "../../../../devices/ap/{card}/{apqn}", p::vfio_queue},
      {"bus/matrix", k::dir, dir},
      {"bus/matrix/devices", k::dir, dir},
      {"bus/matrix/devices/matrix", k::symlink, link, nullptr, nullptr, nullptr, "../../../devices/vfio_ap/matrix"},
      {"bus/mdev", k::dir, dir},
      {"bus/mdev/devices", k::dir, dir},
      {"bus/mdev/devices/{uuid}", k::symlink, link, nullptr, nullptr, nullptr, "../../../devices/vfio_ap/matrix/{uuid}", p::mdev},
      {"class", k::dir, dir},
      {"class/mdev_bus", k::dir, dir},
      {"class/mdev_bus/matrix", k::symlink, link, nullptr, nullptr, nullptr, "../../devices/vfio_ap/matrix"},
      {"devices", k::dir, dir},
      {"devices/ap", k::dir, dir},
      {"devices/ap/{card}", k::dir, dir, nullptr, nullptr, nullptr, {}, p::card},
      {"devices/ap/{card}/{apqn}", k::dir, dir, nullptr, nullptr, nullptr, {}, p::queue},
      {"devices/ap/{card}/{apqn}/status", k::file, ro, show_status, nullptr, nullptr, {}, p::vfio_queue},
      {"devices/vfio_ap", k::dir, dir},
      {"devices/vfio_ap/matrix", k::dir, dir},
      {"devices/vfio_ap/matrix/features", k::file, ro, show_features},
      {"devices/vfio_ap/matrix/mdev_supported_types", k::dir, dir},
      {"devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough", k::dir, dir},
      {"devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create", k::file, wo, nullptr, store_create, parse_uuid},
      {"devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/available_instances", k::file, ro, show_available},
      {"devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/name", k::file, ro, show_name},
      {"devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/device_api", k::file, ro, show_device_api},
      {"devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/devices", k::dir, dir},
      {"devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/devices/{uuid}", k::symlink, link, nullptr, nullptr, nullptr, "../../../{uuid}", p::mdev},
      {"devices/vfio_ap/matrix/{uuid}", k::dir, dir, nullptr, nullptr, nullptr, {}, p::mdev},
      {"devices/vfio_ap/matrix/{uuid}/assign_adapter", k::file, wo, nullptr, &store_on_mdev<&matrix_dev::assign_adapter>, parse_number},
      {"devices/vfio_ap/matrix/{uuid}/unassign_adapter", k::file, wo, nullptr, &store_on_mdev<&matrix_dev::unassign_adapter>, parse_number},
      {"devices/vfio_ap/matrix/{uuid}/assign_domain", k::file, wo, nullptr, &store_on_mdev<&matrix_dev::assign_domain>, parse_number},
      {"devices/vfio_ap/matrix/{uuid}/unassign_domain", k::file, wo, nullptr, &store_on_mdev<&matrix_dev::unassign_domain>, parse_number},
      {"devices/vfio_ap/matrix/{uuid}/assign_control_domain", k::file, wo, nullptr, &store_on_mdev<&matrix_dev::assign_control_domain>, parse_number},
      {"devices/vfio_ap/matrix/{uuid}/unassign_control_domain", k::file, wo, nullptr, &store_on_mdev<&matrix_dev::unassign_control_domain>, parse_number},
      {"devices/vfio_ap/matrix/{uuid}/control_domains", k::file, ro, &show_on_mdev<matrix_dev::show_kind::control_domains>},
      {"devices/vfio_ap/matrix/{uuid}/matrix", k::file, ro, &show_on_mdev<matrix_dev::show_kind::matrix>},
      {"devices/vfio_ap/matrix/{uuid}/guest_matrix", k::file, ro, &show_on_mdev<matrix_dev::show_kind::guest_matrix>},
      {"devices/vfio_ap/matrix/{uuid}/ap_config", k::file, rw, &show_on_mdev<matrix_dev::show_kind::ap_config>, &store_on_mdev<&matrix_dev::store_ap_config>, parse_ap_config},
      {"devices/vfio_ap/matrix/{uuid}/remove", k::file, wo, nullptr, store_remove, parse_number},
      {"devices/vfio_ap/matrix/{uuid}/mdev_type", k::symlink, link, nullptr, nullptr, nullptr, "../mdev_supported_types/vfio_ap-passthrough"},
  };
  return table;
}

// ---- sysfs ----------------------------------------------------------------

ORDO_VFIO_AP_INLINE std::error_code host::sysfs_write(std::string_view path, std::string_view value) {
  sysfs_node node;
  const sysfs_row* row = sysfs_attribute(path, node);
  if (row == nullptr) return errc(std::errc::no_such_file_or_directory);
  return sysfs_store_row(*row, node.bound, value);
}

ORDO_VFIO_AP_INLINE std::error_code host::sysfs_read(std::string_view path, std::string& out) {
  sysfs_node node;
  const sysfs_row* row = sysfs_attribute(path, node);
  if (row == nullptr) return errc(std::errc::no_such_file_or_directory);
  return sysfs_show_row(*row, node.bound, out);
}

ORDO_VFIO_AP_INLINE std::error_code host::sysfs_resolve(std::string_view path, sysfs_attr& attr) {
  sysfs_node node;
  const sysfs_row* row = sysfs_attribute(path, node);
  if (row == nullptr) return errc(std::errc::no_such_file_or_directory);
  attr.row_ = row;
  attr.card_ = node.bound.card;
  attr.queue_ = node.bound.queue;
  attr.has_uuid_ = node.bound.uuid.size() == attr.uuid_.size();  // a bound {uuid} has 36
  if (attr.has_uuid_) std::copy(node.bound.uuid.begin(), node.bound.uuid.end(), attr.uuid_.begin());
  return {};
}

ORDO_VFIO_AP_INLINE host::sysfs_binding host::sysfs_attr_binding(const sysfs_attr& attr) {
  sysfs_binding b;
  b.card = attr.card_;
  b.queue = attr.queue_;
  if (attr.has_uuid_) b.uuid = std::string_view(attr.uuid_.data(), attr.uuid_.size());
  return b;
}

ORDO_VFIO_AP_INLINE std::error_code host::sysfs_write(const sysfs_attr& attr, std::string_view value) {
  if (attr.row_ == nullptr) return errc(std::errc::no_such_file_or_directory);
  return sysfs_store_row(*attr.row_, sysfs_attr_binding(attr), value);
}

ORDO_VFIO_AP_INLINE std::error_code host::sysfs_read(const sysfs_attr& attr, std::string& out) {
  if (attr.row_ == nullptr) return errc(std::errc::no_such_file_or_directory);
  return sysfs_show_row(*attr.row_, sysfs_attr_binding(attr), out);
}

ORDO_VFIO_AP_INLINE std::error_code host::sysfs_store_row(const sysfs_row& row, const sysfs_binding& b,
                                             std::string_view value) {
  if (row.store == nullptr) return errc(std::errc::permission_denied);  // C1
  // Every invariant, even if the store fails, unless it failed on a value
  // its parse rejects: then it stopped at that parse (sysfs_parse).
  change_note note(*this, invariant_set::all());
  const std::error_code ec = row.store(*this, b, value);
  if (ec && row.parse != nullptr && row.parse(value)) note.cancel();
  return ec;
}

ORDO_VFIO_AP_INLINE std::error_code host::sysfs_show_row(const sysfs_row& row, const sysfs_binding& b,
                                            std::string& out) const {
  if (row.show == nullptr) return errc(std::errc::permission_denied);  // C1
  std::string text;
  const std::error_code ec = row.show(*this, b, text);
  if (!ec) out = std::move(text);
  return ec;
}

// ---- AP bus ---------------------------------------------------------------

ORDO_VFIO_AP_INLINE std::optional<ap::apqn> host::device_name(std::string_view name) {
  // bus_find_device_by_name: sysfs_streq (one trailing newline ignored)
  // against "xx.yyyy", the only form a queue device's name has.
  if (!name.empty() && name.back() == '\n') name.remove_suffix(1);
  auto [q, ec] = ap::parse_apqn(name);
  if (ec || q.to_string() != name) return std::nullopt;
  return q;
}

ORDO_VFIO_AP_INLINE std::optional<ap::apqn> host::find_device(std::string_view name) const {
  const std::optional<ap::apqn> q = device_name(name);
  if (!q || !devices_.contains(*q)) return std::nullopt;
  return q;
}

template <class Ctx>
void host::attach(Ctx& b, ap::apqn q) {
  // ap_device_probe: a reserved queue only binds to the default driver.
  if (reserved(b, q)) {
    devices_[q] = bound_to::host_driver;
    return;
  }
  devices_[q] = bound_to::vfio_ap;
  matrix_.probe_queue(b, q);
}

template <class Ctx>
void host::detach(Ctx& b, ap::apqn q) {
  if (devices_[q] == bound_to::vfio_ap) matrix_.remove_queue(b, q);
  devices_[q] = bound_to::none;
}

template <class Ctx>
void host::revise_bindings(Ctx& b) {
  for (auto& [q, driver] : devices_) {
    const bool host_reserved = reserved(b, q);
    if (host_reserved && driver == bound_to::host_driver) continue;
    if (!host_reserved && driver == bound_to::vfio_ap) continue;
    detach(b, q);
    attach(b, q);
  }
}

ORDO_VFIO_AP_INLINE std::error_code host::store_mask(std::string_view value, bool adapters) {
  ordo::unlocked ctx;
  auto b = bus_lock_.lock(ctx);
  bool changed = false;
  {
    auto a = perms_.mutex.lock(b);
    std::error_code veto;
    if (adapters) {
      auto [mask, ec] = ap::adapter_mask::parse_update(value, perms_.apm);
      if (ec) return ec;
      changed = !(mask == perms_.apm);
      const ap::adapter_mask newly_reserved = mask.andnot(perms_.apm);
      if (!newly_reserved.empty() && ordo::try_module_get(vfio_ap_module_)) {
        veto = matrix_.in_use(a, newly_reserved, perms_.aqm);
        ordo::module_put(vfio_ap_module_);
      }
      if (veto) return errc(std::errc::device_or_resource_busy);
      perms_.apm = mask;
    } else {
      auto [mask, ec] = ap::domain_mask::parse_update(value, perms_.aqm);
      if (ec) return ec;
      changed = !(mask == perms_.aqm);
      const ap::domain_mask newly_reserved = mask.andnot(perms_.aqm);
      if (!newly_reserved.empty() && ordo::try_module_get(vfio_ap_module_)) {
        veto = matrix_.in_use(a, perms_.apm, newly_reserved);
        ordo::module_put(vfio_ap_module_);
      }
      if (veto) return errc(std::errc::device_or_resource_busy);
      perms_.aqm = mask;
    }
  }
  if (changed) revise_bindings(b);
  return {};
}

ORDO_VFIO_AP_INLINE std::error_code host::bind(std::string_view value) {
  ordo::unlocked ctx;
  auto b = bus_lock_.lock(ctx);
  const std::optional<ap::apqn> q = find_device(value);
  if (!q) return errc(std::errc::no_such_device);
  if (devices_[*q] != bound_to::none) return errc(std::errc::device_or_resource_busy);
  if (reserved(b, *q)) return errc(std::errc::no_such_device);  // probe rejects
  devices_[*q] = bound_to::vfio_ap;
  matrix_.probe_queue(b, *q);
  return {};
}

ORDO_VFIO_AP_INLINE std::error_code host::unbind(std::string_view value) {
  ordo::unlocked ctx;
  auto b = bus_lock_.lock(ctx);
  const std::optional<ap::apqn> q = find_device(value);
  if (!q || devices_[*q] != bound_to::vfio_ap) return errc(std::errc::no_such_device);
  detach(b, *q);
  return {};
}

ORDO_VFIO_AP_INLINE std::error_code host::qci(const qci_update& update) {
  const change_note note(*this, invariant_set::all());
  ordo::unlocked ctx;
  auto b = bus_lock_.lock(ctx);
  ap::host_config cur = qci_;
  if (update.apxa) cur.apxa = *update.apxa;
  if (update.na) {
    if (*update.na > 255) return errc(std::errc::invalid_argument);
    cur.na = static_cast<std::uint8_t>(*update.na);
  }
  if (update.nd) {
    if (*update.nd > 255) return errc(std::errc::invalid_argument);
    cur.nd = static_cast<std::uint8_t>(*update.nd);
  }
  if (update.apm) cur.apm = *update.apm;
  if (update.aqm) cur.aqm = *update.aqm;
  if (update.adm) cur.adm = *update.adm;
  const ap::ap_matrix limits(cur);
  if (cur.apm.any_above(limits.apm_max) || cur.aqm.any_above(limits.aqm_max) ||
      cur.adm.any_above(limits.adm_max)) {
    return errc(std::errc::invalid_argument);
  }
  const ap::host_config prev = qci_;
  const bool changed = !(cur == prev);
  qci_ = cur;
  if (changed) matrix_.on_cfg_changed(b, cur, prev);
  // ap_scan_bus: queue devices for configured APQNs below the maxima.
  std::vector<ap::apqn> gone;
  for (const auto& [q, driver] : devices_) {
    if (!cur.apm.test(q.card()) || !cur.aqm.test(q.queue()) || q.card() > limits.apm_max ||
        q.queue() > limits.aqm_max) {
      gone.push_back(q);
    }
  }
  for (ap::apqn q : gone) detach(b, q);
  if (!gone.empty()) {  // `gone` is ascending: a binary search each
    devices_.erase_if([&](ap::apqn q) { return std::binary_search(gone.begin(), gone.end(), q); });
  }
  // The new devices appear unbound, then each is probed, in APQN order
  // (probing reads no other device's entry).
  // Every device left is configured and below the maxima: the scan adds
  // the rest of those APQNs.
  std::size_t n_apids = 0;
  std::size_t n_apqis = 0;
  for ([[maybe_unused]] ap::apid a : cur.apm.up_to(limits.apm_max)) ++n_apids;
  for ([[maybe_unused]] ap::apqi d : cur.aqm.up_to(limits.aqm_max)) ++n_apqis;
  std::vector<ap::apqn> added;
  const std::size_t scanned = n_apids * n_apqis;
  added.reserve(scanned > devices_.size() ? scanned - devices_.size() : 0);
  for (ap::apid a : cur.apm.up_to(limits.apm_max)) {
    for (ap::apqi d : cur.aqm.up_to(limits.aqm_max)) {
      const ap::apqn q(a, d);
      if (!devices_.contains(q)) added.push_back(q);
    }
  }
  devices_.add_unbound(added);
  for (ap::apqn q : added) attach(b, q);
  if (changed) matrix_.on_scan_complete(b);
  return {};
}

ORDO_VFIO_AP_INLINE std::error_code host::zapq_fault(ap::apqn queue, unsigned rc) {
  if (rc > 0xff) return errc(std::errc::invalid_argument);
  ordo::unlocked ctx;
  hw_.set_fault(ctx, queue, rc);
  note_generation();
  return {};
}

// ---- mdev remove ----------------------------------------------------------

template <class Ctx>
void host::close_device(Ctx& v, mdev& m) {
  matrix_.unset_kvm(v, m);
  m.open = false;
  ordo::symbol_ref<kvm_put_kvm_fn> put = std::move(m.vfio_put_kvm);
  put(std::move(m.vfio_kvm));  // vfio_device_put_kvm
}  // symbol_put(kvm_put_kvm)

ORDO_VFIO_AP_INLINE std::error_code host::remove_mdev(std::string_view uuid, std::string_view value) {
  ordo::unlocked ctx;
  auto v = vfio_lock_.lock(ctx);
  mdev* m = lookup_mdev(v, uuid);
  if (m == nullptr) return errc(std::errc::no_such_file_or_directory);
  auto [val, ec] = ap::parse_ulong(value);
  if (ec) return ec;
  if (val == 0) return {};
  if (m->open) {
    matrix_.request(v, *m);  // C2: user space releases at once
    close_device(v, *m);
  }
  matrix_.remove_mdev(v, *m);
  return {};
}

// ---- guests and VFIO --------------------------------------------------------

ORDO_VFIO_AP_INLINE std::error_code host::kvm_create(std::string_view name) {
  const change_note note(*this, {invariant::i5, invariant::i6});
  if (name.empty()) return errc(std::errc::invalid_argument);
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock(ctx);
  purge_guests(t);
  if (kvms_.contains(name)) return errc(std::errc::file_exists);  // alive, maybe destroyed
  (void)add_guest(t, name);
  return {};
}

ORDO_VFIO_AP_INLINE std::error_code host::kvm_destroy(std::string_view name) {
  const change_note note(*this, {invariant::i5, invariant::i6});
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock(ctx);
  purge_guests(t);
  const auto it = kvms_.find(name);
  if (it == kvms_.end() || !it->second.creator) return errc(std::errc::no_such_file_or_directory);
  it->second.creator.reset();  // the guest lives on while an mdev holds it
  purge_guests(t);
  return {};
}

ORDO_VFIO_AP_INLINE std::error_code host::kvm_refs(std::string_view name, unsigned& refs) const {
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock_shared(ctx);
  const kvm* guest = find_guest(t, name);
  if (guest == nullptr) return errc(std::errc::no_such_file_or_directory);
  refs = guest->refs();
  return {};
}

ORDO_VFIO_AP_INLINE std::vector<guest_refs> host::kvm_list() const {
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock_shared(ctx);
  std::vector<guest_refs> out;
  for (const auto& [name, entry] : kvms_) {
    if (find_guest(t, name) != nullptr) out.push_back({name, entry.memory->refs()});
  }
  return out;
}

ORDO_VFIO_AP_INLINE std::vector<module_pins> host::modules() const {
  std::vector<module_pins> out;
  for (const char* name : {"kvm", "vfio_ap"}) {
    if (const ordo::module* m = modules_.find(name)) out.push_back({name, m->refcount()});
  }
  return out;
}

ORDO_VFIO_AP_INLINE std::error_code host::kvm_crycb(std::string_view name, std::string& out) const {
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock_shared(ctx);  // keeps the memory valid
  kvm* guest = find_guest(t, name);
  if (guest == nullptr) return errc(std::errc::no_such_file_or_directory);
  auto kl = guest->lock.lock(t);
  out = guest->apcb(kl).to_string();
  return {};
}

ORDO_VFIO_AP_INLINE std::error_code host::vfio_open(std::string_view uuid, std::string_view kvm_name) {
  const change_note note(*this, {invariant::i5, invariant::i6});
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock_shared(ctx);
  auto v = vfio_lock_.lock(t);
  mdev* m = nullptr;
  if (std::error_code ec = find_device(v, uuid, device_state::closed, m)) return ec;
  kvm* found = find_guest(t, kvm_name);
  if (found == nullptr) return errc(std::errc::no_such_file_or_directory);
  // vfio_device_get_kvm_safe: symbol_get both, get, symbol_put the getter.
  ordo::symbol_ref<kvm_put_kvm_fn> put = ordo::symbol_get<kvm_put_kvm_fn>(modules_, "kvm_put_kvm");
  if (!put) return put.error();
  ordo::ref<kvm> guest;
  {
    ordo::symbol_ref<kvm_get_kvm_safe_fn> get =
        ordo::symbol_get<kvm_get_kvm_safe_fn>(modules_, "kvm_get_kvm_safe");
    if (!get) return get.error();
    guest = get(found);  // empty if the last reference went meanwhile
  }
  if (!guest) return errc(std::errc::invalid_argument);  // open_device: no kvm
  if (std::error_code ec = matrix_.set_kvm(v, *m, *guest)) {
    put(std::move(guest));  // a failed open holds no reference
    return ec;
  }
  m->open = true;
  m->vfio_kvm = std::move(guest);
  m->vfio_put_kvm = std::move(put);
  return {};
}

ORDO_VFIO_AP_INLINE std::error_code host::vfio_close(std::string_view uuid) {
  const change_note note(*this, invariant_set::all());
  ordo::unlocked ctx;
  auto v = vfio_lock_.lock(ctx);
  mdev* m = nullptr;
  if (std::error_code ec = find_device(v, uuid, device_state::open, m)) return ec;
  close_device(v, *m);
  return {};
}

ORDO_VFIO_AP_INLINE std::error_code host::vfio_reset(std::string_view uuid) {
  const change_note note(*this, invariant_set::all());
  ordo::unlocked ctx;
  auto v = vfio_lock_.lock(ctx);
  mdev* m = nullptr;
  if (std::error_code ec = find_device(v, uuid, device_state::open, m)) return ec;
  return matrix_.reset_device(v, *m);
}

ORDO_VFIO_AP_INLINE std::error_code host::pqap(std::string_view kvm_name, ap::apqn queue, unsigned& rc) {
  ordo::unlocked ctx;
  // The vCPU runs inside a live guest: the table, held shared, keeps it.
  auto t = kvm_table_lock_.lock_shared(ctx);
  kvm* guest = find_guest(t, kvm_name);
  if (guest == nullptr) return errc(std::errc::no_such_file_or_directory);
  // priv.c handle_pqap: down_read(pqap_hook_rwsem), call the hook if set.
  pqap_context r = guest->pqap_hook_rwsem.lock_shared(t);
  pqap_request request{queue};
  rc = guest->call_pqap_hook(r, &r, request).value_or(ap_response_q_not_avail);
  note_generation();  // the hook may have set the queue's saved_isc
  return {};
}

// ---- observation ------------------------------------------------------------

ORDO_VFIO_AP_INLINE std::vector<ap::apqn> host::zapq_log() const {
  ordo::unlocked ctx;
  return hw_.zapq_log(ctx);
}
ORDO_VFIO_AP_INLINE void host::clear_zapq_log() {
  ordo::unlocked ctx;
  hw_.clear_zapq_log(ctx);
  note_generation();
}
ORDO_VFIO_AP_INLINE std::vector<std::string> host::kernel_log() const {
  ordo::unlocked ctx;
  return hw_.kernel_log(ctx);
}
ORDO_VFIO_AP_INLINE ap::host_config host::config() const {
  ordo::unlocked ctx;
  auto b = bus_lock_.lock(ctx);
  return qci_;
}

// ---- invariants (one function each) -------------------------------------------

template <class Ctx>
ORDO_NO_COVERAGE void host::check_i1(Ctx& md, std::vector<std::string>& broken) const {
  const auto& mdevs = matrix_.mdev_list(md);
  for (std::size_t i = 0; i < mdevs.size(); ++i) {
    const mdev& m = *mdevs[i];
    for (std::size_t j = i + 1; j < mdevs.size(); ++j) {
      const mdev& o = *mdevs[j];
      const ap::adapter_mask shared_apm = m.matrix.apm & o.matrix.apm;
      const ap::domain_mask shared_aqm = m.matrix.aqm & o.matrix.aqm;
      if (!shared_apm.empty() && !shared_aqm.empty()) {
        broken.push_back(absl::StrFormat(
            "I1: queue %s is in the matrix of mdev %s and of mdev %s",
            ap::apqn(*shared_apm.first(), *shared_aqm.first()).to_string(), m.uuid(), o.uuid()));
      }
    }
  }
}

template <class Ctx>
ORDO_NO_COVERAGE void host::check_i2(Ctx& md, std::vector<std::string>& broken) const {
  for (const auto& m : matrix_.mdev_list(md)) {
    const ap::adapter_mask res_apm = m->matrix.apm & perms_.apm;
    const ap::domain_mask res_aqm = m->matrix.aqm & perms_.aqm;
    if (!res_apm.empty() && !res_aqm.empty()) {
      broken.push_back(absl::StrFormat("I2: queue %s of mdev %s is reserved for the host",
                                       ap::apqn(*res_apm.first(), *res_aqm.first()).to_string(),
                                       m->uuid()));
    }
  }
}

template <class Ctx>
ORDO_NO_COVERAGE void host::check_i3(Ctx& md, std::vector<std::string>& broken) const {
  if (hw_.ledger_clean(md)) return;  // nothing pending, no ZAPQ outside: no line
  const ap_hw::snapshot hw = hw_.state(md);
  for (ap::apqn q : hw.pending) {
    broken.push_back(absl::StrFormat(
        "I3: queue %s left a guest's APCB while configured and was not reset", q.to_string()));
  }
  for (ap::apqn q : hw.zapq_outside) {
    broken.push_back(absl::StrFormat(
        "I3: queue %s was reset while outside the host configuration", q.to_string()));
  }
}

template <class Ctx>
ORDO_NO_COVERAGE void host::check_i4(Ctx& md, std::vector<std::string>& broken) const {
  const ap::host_config& info = matrix_.info(md);
  for (const auto& mp : matrix_.mdev_list(md)) {
    const mdev& m = *mp;
    if (!m.shadow.apm.is_subset_of(m.matrix.apm & info.apm) ||
        !m.shadow.aqm.is_subset_of(m.matrix.aqm & info.aqm)) {
      broken.push_back(absl::StrFormat(
          "I4: shadow APCB of mdev %s is not within its matrix and the host configuration",
          m.uuid()));
    }
    if (!(m.shadow.adm == (m.matrix.adm & info.adm))) {
      broken.push_back(absl::StrFormat(
          "I4: shadow control domains of mdev %s differ from matrix & host configuration",
          m.uuid()));
    }
    for (ap::apid ap_id : m.shadow.apm) {
      for (ap::apqi aq_id : m.shadow.aqm) {
        if (!m.qtable.contains(ap::apqn(ap_id, aq_id))) {
          broken.push_back(absl::StrFormat(
              "I4: queue %s is in the shadow APCB of mdev %s but not bound to it",
              ap::apqn(ap_id, aq_id).to_string(), m.uuid()));
        }
      }
    }
  }
}

template <class Ctx>
ORDO_NO_COVERAGE void host::check_i5_mdevs(Ctx& md, std::vector<std::string>& broken) const {
  const auto& mdevs = matrix_.mdev_list(md);
  for (std::size_t i = 0; i < mdevs.size(); ++i) {
    const mdev& m = *mdevs[i];
    for (std::size_t j = i + 1; j < mdevs.size(); ++j) {
      if (m.guest != nullptr && mdevs[j]->guest == m.guest) {
        broken.push_back(absl::StrFormat("I5: mdevs %s and %s are attached to guest %s",
                                         m.uuid(), mdevs[j]->uuid(), m.guest->name()));
      }
    }
  }
}

template <class Ctx>
ORDO_NO_COVERAGE void host::check_i6_mdevs(Ctx& md, std::vector<std::string>& broken) const {
  const auto& mdevs = matrix_.mdev_list(md);
  for (const auto& mp : mdevs) {
    const mdev& m = *mp;
    // VFIO side (vfio_lock held)
    if (m.open != (m.guest != nullptr) || (m.guest != nullptr && m.vfio_kvm.get() != m.guest)) {
      broken.push_back(absl::StrFormat(
          "I6: mdev %s is %s but %s a guest", m.uuid(), m.open ? "open" : "closed",
          m.guest != nullptr ? "attached to" : "not attached to"));
    }
  }
  // Reference counts.
  for (const auto& [name, entry] : kvms_) {
    const kvm* guest = entry.memory.get();
    if (guest->released()) continue;
    unsigned opens = 0;
    for (const auto& m : mdevs) {
      if (m->vfio_kvm.get() == guest) ++opens;
    }
    const unsigned expected = (entry.creator ? 1u : 0u) + opens;
    if (guest->refs() != expected) {
      broken.push_back(absl::StrFormat("I6: guest %s holds %u references, expected %u", name,
                                       guest->refs(), expected));
    }
  }
}

template <class Ctx>
ORDO_NO_COVERAGE void host::check_model(Ctx& md, std::vector<std::string>& broken) const {
  const auto& queues = matrix_.queues(md);
  for (const auto& mp : matrix_.mdev_list(md)) {
    const mdev& m = *mp;
    // M2 (queue table back pointers), M1 (the usable index). The index must
    // be exactly { (a, q) : (a, q) in qtable and passable }: each entry's bit
    // agrees with its queue, and the index has no bit besides those (its
    // weight is the number of passable entries; its slots lead to its rows).
    bool usable_stale = !m.usable.consistent();
    std::size_t passable = 0;
    for (const auto& [q, queue] : m.qtable) {
      const auto probed = queues.find(q);  // inline here: no coverage callbacks
      if (queue->matrix_mdev != &m || !m.matrix.contains(q) || probed == queues.end() ||
          probed->second.get() != queue) {
        broken.push_back(absl::StrFormat("model: queue table entry %s of mdev %s is stale",
                                         q.to_string(), m.uuid()));
      }
      if (queue->passable()) ++passable;
      if (m.usable.test(q) != queue->passable()) usable_stale = true;
    }
    if (!usable_stale) usable_stale = m.usable.weight() != passable;
    if (usable_stale) {
      broken.push_back(absl::StrFormat("model: usable index of mdev %s is stale", m.uuid()));
    }
  }
  // Bus bindings: D = devices bound to vfio_ap, Q = vfio_ap queues. D \ Q is
  // found by one pass over the devices; Q \ D is empty iff |Q| = |D n Q|
  // (Q's keys are distinct), so the per-queue lookups run only when it is not.
  std::size_t bound = 0;
  std::vector<ap::apqn> unprobed;
  for (const auto& [q, driver] : devices_) {
    if (driver != bound_to::vfio_ap) continue;
    ++bound;
    if (!queues.contains(q)) unprobed.push_back(q);
  }
  if (queues.size() != bound - unprobed.size()) {
    for (const auto& [q, queue] : queues) {
      const auto dev = devices_.find(q);
      if (dev == devices_.end() || dev->second != bound_to::vfio_ap) {
        broken.push_back(absl::StrFormat("model: vfio_ap queue %s has no device bound to vfio_ap",
                                         q.to_string()));
      }
    }
  }
  for (ap::apqn q : unprobed) {
    broken.push_back(absl::StrFormat("model: device %s is bound to vfio_ap but not probed",
                                     q.to_string()));
  }
}

template <class Ctx, class F>
ORDO_NO_COVERAGE void host::for_each_live_guest(Ctx& g, F&& f) const {
  // Alive: in the table (t) or held by an open mdev (v).
  for (const auto& [name, entry] : kvms_) {
    if (!entry.memory->released()) f(entry.memory.get());
  }
  const auto& mdevs = matrix_.mdev_list(g);
  for (std::size_t i = 0; i < mdevs.size(); ++i) {
    kvm* held = mdevs[i]->vfio_kvm.get();
    if (held == nullptr) continue;
    bool seen = false;  // in the table, or held by an earlier mdev
    for (const auto& [name, entry] : kvms_) {
      seen = seen || (!entry.memory->released() && entry.memory.get() == held);
    }
    for (std::size_t j = 0; j < i; ++j) seen = seen || mdevs[j]->vfio_kvm.get() == held;
    if (!seen) f(held);
  }
}

template <class Ctx>
ORDO_NO_COVERAGE void host::check_guests(Ctx& g, bool hooks, bool apcbs, std::vector<std::string>& i5,
                        std::vector<std::string>& i6) const {
  // I5 (hooks) and/or I6 (APCBs), one guest at a time (kvm->lock, rwsem,
  // mdevs). The lambda is a function of its own, which the enclosing
  // function's attribute does not reach.
  for_each_live_guest(g, [&](kvm* guest) ORDO_NO_COVERAGE {
    auto kl = guest->lock.lock(g);
    auto h = guest->pqap_hook_rwsem.lock_shared(kl);
    auto md = matrix_.mdevs_lock.lock(h);
    const mdev* attached = nullptr;
    for (const auto& m : matrix_.mdev_list(md)) {
      if (m->guest == guest) attached = m.get();
    }
    if (hooks) {
      pqap_request identify{ap::apqn{}, true};
      const bool hooked = guest->call_pqap_hook(md, nullptr, identify).has_value();
      if (attached == nullptr && hooked) {
        i5.push_back(absl::StrFormat("I5: guest %s has a PQAP hook but no mdev attached",
                                     guest->name()));
      } else if (attached != nullptr && (!hooked || identify.owner != attached)) {
        i5.push_back(absl::StrFormat(
            "I5: the PQAP hook of guest %s does not belong to its mdev %s", guest->name(),
            attached->uuid()));
      }
    }
    if (!apcbs) return;
    if (attached == nullptr) {
      if (!guest->apcb_is(md, {}, {}, {})) {
        i6.push_back(absl::StrFormat("I6: guest %s has no mdev but a non-empty APCB",
                                     guest->name()));
      }
    } else {
      const ap::ap_matrix& shadow = attached->shadow;
      if (!guest->apcb_is(md, shadow.apm, shadow.aqm, shadow.adm)) {
        i6.push_back(absl::StrFormat(
            "I6: the APCB of guest %s differs from the shadow of mdev %s", guest->name(),
            attached->uuid()));
      }
    }
  });
}

ORDO_NO_COVERAGE ORDO_VFIO_AP_INLINE std::vector<std::string> host::check_invariants(
    std::span<const invariant> which) const {
  // Each invariant's lines in its own list, joined in the order of `which`;
  // one pass under the mdevs lock for what reads only mdev state, one pass
  // over the guests for the rest of I5 and I6.
  std::array<std::vector<std::string>, all_invariants.size()> lines;
  const auto at = [&lines](invariant i) -> std::vector<std::string>& {
    return lines[static_cast<std::size_t>(i)];
  };
  invariant_set wanted;
  for (const invariant i : which) wanted |= invariant_set{i};
  {
    ordo::unlocked ctx;
    auto t = kvm_table_lock_.lock_shared(ctx);
    auto v = vfio_lock_.lock(t);
    auto b = bus_lock_.lock(v);
    auto a = perms_.mutex.lock(b);
    auto g = matrix_.guests_lock.lock(a);
    {
      auto md = matrix_.mdevs_lock.lock(g);
      if (wanted.contains(invariant::i1)) check_i1(md, at(invariant::i1));
      if (wanted.contains(invariant::i2)) check_i2(md, at(invariant::i2));
      if (wanted.contains(invariant::i3)) check_i3(md, at(invariant::i3));
      if (wanted.contains(invariant::i4)) check_i4(md, at(invariant::i4));
      if (wanted.contains(invariant::i5)) check_i5_mdevs(md, at(invariant::i5));
      if (wanted.contains(invariant::i6)) check_i6_mdevs(md, at(invariant::i6));
      if (wanted.contains(invariant::model)) check_model(md, at(invariant::model));
    }
    if (wanted.contains(invariant::i5) || wanted.contains(invariant::i6)) {
      check_guests(g, wanted.contains(invariant::i5), wanted.contains(invariant::i6),
                   at(invariant::i5), at(invariant::i6));
    }
  }
  std::vector<std::string> broken;
  for (const invariant i : which) broken.insert(broken.end(), at(i).begin(), at(i).end());
  return broken;
}

ORDO_NO_COVERAGE ORDO_VFIO_AP_INLINE std::vector<std::string> host::check_changed() const {
  // Relaxed: partner is note_change's fetch_or (see there).
  const invariant_set changed = invariant_set::from_bits(changed_.exchange(0, std::memory_order_relaxed));
  if (changed.empty()) return {};
  std::array<invariant, all_invariants.size()> which{};
  std::size_t n = 0;
  for (const invariant i : all_invariants) {
    if (changed.contains(i)) which[n++] = i;
  }
  return check_invariants(std::span<const invariant>(which.data(), n));
}

ORDO_VFIO_AP_INLINE std::vector<std::string> host::check_invariants() const {
  return check_invariants(all_invariants);
}


#endif  // definitions
}  // namespace ordo::vfio_ap

#endif  // ORDO_VFIO_AP_HOST_HPP
