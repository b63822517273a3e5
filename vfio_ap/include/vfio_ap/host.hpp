// vfio_ap/host.hpp — one simulated s390 host: the AP bus, the vfio_ap
// matrix device with its mediated devices, and KVM guests, driven through the
// sysfs files and events the Linux kernel offers.
//
// What it is
//   The reference model of drivers/s390/crypto/vfio_ap (docs/vfio-ap-model.md)
//   behind the interface the simulator (vfio_ap/sim, docs/vfio-ap-sim.md)
//   drives:
//     sysfs_write / sysfs_read   every attribute of §2 by absolute path
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
//   Paths (also reachable through the /sys/bus/matrix/devices/matrix,
//   /sys/bus/mdev/devices/UUID and /sys/devices/ap/cardXX/XX.YYYY aliases):
//     /sys/bus/ap/apmask, aqmask                          RW
//     /sys/bus/ap/drivers/vfio_ap/bind, unbind            WO
//     /sys/bus/ap/devices/XX.YYYY/status                  RO (bound to vfio_ap)
//     /sys/devices/vfio_ap/matrix/features                RO
//     .../matrix/mdev_supported_types/vfio_ap-passthrough/
//         create (WO), available_instances, name, device_api (RO)
//     .../matrix/UUID/ assign_adapter, unassign_adapter, assign_domain,
//         unassign_domain, assign_control_domain, unassign_control_domain,
//         remove (WO); matrix, guest_matrix, control_domains (RO);
//         ap_config (RW)
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
#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
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

  /// Write `value` (exactly the bytes a store function receives, newline
  /// included) to the attribute at absolute `path`. Unknown path: ENOENT;
  /// read-only attribute: EACCES (C1); otherwise the kernel's errno, and a
  /// failed write changes nothing. Thread-safe.
  std::error_code sysfs_write(std::string_view path, std::string_view value);

  /// Read an attribute; `out` receives exactly what show emits (untouched
  /// on error). Unknown path: ENOENT; write-only attribute: EACCES.
  /// Thread-safe.
  std::error_code sysfs_read(std::string_view path, std::string& out);

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
  std::error_code kvm_refs(std::string_view name, unsigned& refs);
  /// The guest's APCB masks in ap_config form ("0x..,0x..,0x..\n"). ENOENT.
  std::error_code kvm_crycb(std::string_view name, std::string& out);

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

  /// I1..I6 (header comment): one line per broken invariant; empty = ok.
  /// Thread-safe (takes every top-level lock: a consistent snapshot).
  std::vector<std::string> check_invariants() const;

  /// Every ZAPQ issued since the last clear, in order. Thread-safe.
  std::vector<ap::apqn> zapq_log() const;
  void clear_zapq_log();
  /// The kernel log lines (dev_warn of verify_no_sharing, reset notices).
  std::vector<std::string> kernel_log() const;
  /// The host configuration as the AP bus last read it. Thread-safe.
  ap::host_config config() const;

 private:
  friend struct host_test_access;

  enum class bound_to : unsigned char { none, host_driver, vfio_ap };

  enum class attr {
    none, apmask, aqmask, bind, unbind, status, features, create, available_instances, type_name,
    device_api, assign_adapter, unassign_adapter, assign_domain, unassign_domain,
    assign_control_domain, unassign_control_domain, control_domains, matrix, guest_matrix,
    ap_config, remove
  };
  struct target {
    attr what = attr::none;
    std::string uuid;   // mdev attributes
    ap::apqn queue;     // status
  };

  static std::optional<std::string> canonical_uuid(std::string_view text);
  static target resolve(std::string_view path);
  static bool readable(attr a);
  static bool writable(attr a);

  std::error_code store_mask(std::string_view value, bool adapters);
  std::error_code bind(std::string_view value);
  std::error_code unbind(std::string_view value);
  std::error_code remove_mdev(std::string_view uuid, std::string_view value);

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
  template <class Ctx>
  mdev* lookup_mdev(Ctx& v, std::string_view uuid) {
    auto g = matrix_.guests_lock.lock(v);
    return matrix_.find_mdev(g, uuid);
  }

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
  std::map<ap::apqn, bound_to> devices_;      // bus_lock_: the queue devices
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

inline host::host() : qci_(detail::initial_qci()), matrix_(hw_, perms_, qci_) {
  (void)kvm_module_init(modules_);
  (void)modules_.load("vfio_ap", [](ordo::module_loader&) {});
  vfio_ap_module_ = modules_.find("vfio_ap");
}

// ---- paths ----------------------------------------------------------------

inline std::optional<std::string> host::canonical_uuid(std::string_view text) {
  // uuid_is_valid: 36 characters, '-' at 8, 13, 18, 23, hex elsewhere.
  if (text.size() < 36) return std::nullopt;
  std::string out(text.substr(0, 36));
  for (std::size_t i = 0; i < 36; ++i) {
    const char c = out[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return std::nullopt;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    } else {
      out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

inline host::target host::resolve(std::string_view path) {
  target t;
  constexpr std::string_view bus_ap = "/sys/bus/ap/";
  constexpr std::string_view matrix_dir = "/sys/devices/vfio_ap/matrix/";
  constexpr std::string_view matrix_alias = "/sys/bus/matrix/devices/matrix/";
  constexpr std::string_view mdev_bus = "/sys/bus/mdev/devices/";
  constexpr std::string_view ap_devices = "/sys/devices/ap/";
  const auto starts = [&](std::string_view prefix) { return path.substr(0, prefix.size()) == prefix; };
  const auto queue_status = [&](std::string_view rest) {
    // "XX.YYYY/status" with the exact device name.
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos || rest.substr(slash) != "/status") return;
    const std::string_view name = rest.substr(0, slash);
    auto [q, ec] = ap::parse_apqn(name);
    if (ec || q.to_string() != name) return;
    t.what = attr::status;
    t.queue = q;
  };
  if (starts(bus_ap)) {
    const std::string_view rest = path.substr(bus_ap.size());
    if (rest == "apmask") t.what = attr::apmask;
    else if (rest == "aqmask") t.what = attr::aqmask;
    else if (rest == "drivers/vfio_ap/bind") t.what = attr::bind;
    else if (rest == "drivers/vfio_ap/unbind") t.what = attr::unbind;
    else if (rest.substr(0, 8) == "devices/") queue_status(rest.substr(8));
    return t;
  }
  if (starts(ap_devices)) {
    // /sys/devices/ap/cardXX/XX.YYYY/status
    const std::string_view rest = path.substr(ap_devices.size());
    if (rest.size() > 7 && rest.substr(0, 4) == "card" && rest[6] == '/' &&
        rest.substr(4, 2) == rest.substr(7, 2)) {
      queue_status(rest.substr(7));
    }
    return t;
  }
  std::string_view rest;
  if (starts(matrix_dir)) {
    rest = path.substr(matrix_dir.size());
  } else if (starts(matrix_alias)) {
    rest = path.substr(matrix_alias.size());
  } else if (starts(mdev_bus)) {
    rest = path.substr(mdev_bus.size());
    if (rest.size() < 37 || rest[36] != '/') return t;  // only UUID/attr
  } else {
    return t;
  }
  if (rest == "features") {
    t.what = attr::features;
    return t;
  }
  constexpr std::string_view type_dir = "mdev_supported_types/vfio_ap-passthrough/";
  if (rest.substr(0, type_dir.size()) == type_dir) {
    const std::string_view name = rest.substr(type_dir.size());
    if (name == "create") t.what = attr::create;
    else if (name == "available_instances") t.what = attr::available_instances;
    else if (name == "name") t.what = attr::type_name;
    else if (name == "device_api") t.what = attr::device_api;
    return t;
  }
  if (rest.size() < 38 || rest[36] != '/') return t;
  const std::string_view dir = rest.substr(0, 36);
  const std::optional<std::string> uuid = canonical_uuid(dir);
  if (!uuid || *uuid != dir) return t;  // sysfs names are lowercase
  const std::string_view name = rest.substr(37);
  static constexpr std::pair<std::string_view, attr> mdev_attrs[] = {
      {"assign_adapter", attr::assign_adapter},
      {"unassign_adapter", attr::unassign_adapter},
      {"assign_domain", attr::assign_domain},
      {"unassign_domain", attr::unassign_domain},
      {"assign_control_domain", attr::assign_control_domain},
      {"unassign_control_domain", attr::unassign_control_domain},
      {"control_domains", attr::control_domains},
      {"matrix", attr::matrix},
      {"guest_matrix", attr::guest_matrix},
      {"ap_config", attr::ap_config},
      {"remove", attr::remove},
  };
  for (const auto& [attr_name, a] : mdev_attrs) {
    if (name == attr_name) {
      t.what = a;
      t.uuid = std::string(dir);
    }
  }
  return t;
}

inline bool host::readable(attr a) {
  switch (a) {
    case attr::apmask: case attr::aqmask: case attr::status: case attr::features:
    case attr::available_instances: case attr::type_name: case attr::device_api:
    case attr::control_domains: case attr::matrix: case attr::guest_matrix: case attr::ap_config:
      return true;
    default:
      return false;
  }
}

inline bool host::writable(attr a) {
  switch (a) {
    case attr::apmask: case attr::aqmask: case attr::bind: case attr::unbind: case attr::create:
    case attr::assign_adapter: case attr::unassign_adapter: case attr::assign_domain:
    case attr::unassign_domain: case attr::assign_control_domain:
    case attr::unassign_control_domain: case attr::ap_config: case attr::remove:
      return true;
    default:
      return false;
  }
}

// ---- sysfs ----------------------------------------------------------------

inline std::error_code host::sysfs_write(std::string_view path, std::string_view value) {
  const target t = resolve(path);
  if (t.what == attr::none) return errc(std::errc::no_such_file_or_directory);
  if (!writable(t.what)) return errc(std::errc::permission_denied);
  ordo::unlocked ctx;
  switch (t.what) {
    case attr::apmask: return store_mask(value, true);
    case attr::aqmask: return store_mask(value, false);
    case attr::bind: return bind(value);
    case attr::unbind: return unbind(value);
    case attr::create: {
      const std::optional<std::string> uuid = canonical_uuid(value);
      if (!uuid) return errc(std::errc::invalid_argument);
      return matrix_.create_mdev(ctx, *uuid);
    }
    case attr::assign_adapter: return matrix_.assign_adapter(ctx, t.uuid, value);
    case attr::unassign_adapter: return matrix_.unassign_adapter(ctx, t.uuid, value);
    case attr::assign_domain: return matrix_.assign_domain(ctx, t.uuid, value);
    case attr::unassign_domain: return matrix_.unassign_domain(ctx, t.uuid, value);
    case attr::assign_control_domain: return matrix_.assign_control_domain(ctx, t.uuid, value);
    case attr::unassign_control_domain:
      return matrix_.unassign_control_domain(ctx, t.uuid, value);
    case attr::ap_config: return matrix_.store_ap_config(ctx, t.uuid, value);
    case attr::remove: return remove_mdev(t.uuid, value);
    default: return errc(std::errc::permission_denied);
  }
}

inline std::error_code host::sysfs_read(std::string_view path, std::string& out) {
  const target t = resolve(path);
  if (t.what == attr::none) return errc(std::errc::no_such_file_or_directory);
  if (!readable(t.what)) return errc(std::errc::permission_denied);
  ordo::unlocked ctx;
  std::string text;
  std::error_code ec;
  switch (t.what) {
    case attr::apmask:
    case attr::aqmask: {
      auto a = perms_.mutex.lock(ctx);
      text = (t.what == attr::apmask ? perms_.apm.to_string() : perms_.aqm.to_string()) + "\n";
      break;
    }
    case attr::status: ec = matrix_.show_status(ctx, t.queue, text); break;
    case attr::features: text = std::string(vfio_ap_features); break;
    case attr::available_instances: {
      auto g = matrix_.guests_lock.lock(ctx);
      text = absl::StrFormat("%u\n", max_mdev_instances - matrix_.instances(g));
      break;
    }
    case attr::type_name: text = "VFIO AP Passthrough Device\n"; break;
    case attr::device_api: text = "vfio-ap\n"; break;
    case attr::control_domains:
      ec = matrix_.show(ctx, t.uuid, matrix_dev::show_kind::control_domains, text);
      break;
    case attr::matrix: ec = matrix_.show(ctx, t.uuid, matrix_dev::show_kind::matrix, text); break;
    case attr::guest_matrix:
      ec = matrix_.show(ctx, t.uuid, matrix_dev::show_kind::guest_matrix, text);
      break;
    case attr::ap_config:
      ec = matrix_.show(ctx, t.uuid, matrix_dev::show_kind::ap_config, text);
      break;
    default: return errc(std::errc::permission_denied);
  }
  if (!ec) out = std::move(text);
  return ec;
}

// ---- AP bus ---------------------------------------------------------------

inline std::optional<ap::apqn> host::find_device(std::string_view name) const {
  // bus_find_device_by_name: sysfs_streq (one trailing newline ignored).
  if (!name.empty() && name.back() == '\n') name.remove_suffix(1);
  auto [q, ec] = ap::parse_apqn(name);
  if (ec || q.to_string() != name || !devices_.contains(q)) return std::nullopt;
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

inline std::error_code host::store_mask(std::string_view value, bool adapters) {
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

inline std::error_code host::bind(std::string_view value) {
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

inline std::error_code host::unbind(std::string_view value) {
  ordo::unlocked ctx;
  auto b = bus_lock_.lock(ctx);
  const std::optional<ap::apqn> q = find_device(value);
  if (!q || devices_[*q] != bound_to::vfio_ap) return errc(std::errc::no_such_device);
  detach(b, *q);
  return {};
}

inline std::error_code host::qci(const qci_update& update) {
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
  for (ap::apqn q : gone) {
    detach(b, q);
    devices_.erase(q);
  }
  for (ap::apid a : cur.apm.up_to(limits.apm_max)) {
    for (ap::apqi d : cur.aqm.up_to(limits.aqm_max)) {
      const ap::apqn q(a, d);
      if (devices_.contains(q)) continue;
      devices_[q] = bound_to::none;
      attach(b, q);
    }
  }
  if (changed) matrix_.on_scan_complete(b);
  return {};
}

inline std::error_code host::zapq_fault(ap::apqn queue, unsigned rc) {
  if (rc > 0xff) return errc(std::errc::invalid_argument);
  ordo::unlocked ctx;
  hw_.set_fault(ctx, queue, rc);
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

inline std::error_code host::remove_mdev(std::string_view uuid, std::string_view value) {
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

inline std::error_code host::kvm_create(std::string_view name) {
  if (name.empty()) return errc(std::errc::invalid_argument);
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock(ctx);
  purge_guests(t);
  if (kvms_.contains(name)) return errc(std::errc::file_exists);  // alive, maybe destroyed
  auto guest = std::make_unique<kvm>(std::string(name));
  guest_entry entry;
  entry.creator = ordo::adopt_ref(guest.get());  // the count starts at one
  entry.memory = std::move(guest);
  kvms_.emplace(std::string(name), std::move(entry));
  return {};
}

inline std::error_code host::kvm_destroy(std::string_view name) {
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock(ctx);
  purge_guests(t);
  const auto it = kvms_.find(name);
  if (it == kvms_.end() || !it->second.creator) return errc(std::errc::no_such_file_or_directory);
  it->second.creator.reset();  // the guest lives on while an mdev holds it
  purge_guests(t);
  return {};
}

inline std::error_code host::kvm_refs(std::string_view name, unsigned& refs) {
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock_shared(ctx);
  const kvm* guest = find_guest(t, name);
  if (guest == nullptr) return errc(std::errc::no_such_file_or_directory);
  refs = guest->refs();
  return {};
}

inline std::error_code host::kvm_crycb(std::string_view name, std::string& out) {
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock_shared(ctx);  // keeps the memory valid
  kvm* guest = find_guest(t, name);
  if (guest == nullptr) return errc(std::errc::no_such_file_or_directory);
  auto kl = guest->lock.lock(t);
  out = guest->apcb(kl).to_string();
  return {};
}

inline std::error_code host::vfio_open(std::string_view uuid, std::string_view kvm_name) {
  const std::optional<std::string> id = canonical_uuid(uuid);
  if (!id || id->size() != uuid.size()) return errc(std::errc::no_such_file_or_directory);
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock_shared(ctx);
  auto v = vfio_lock_.lock(t);
  mdev* m = lookup_mdev(v, *id);
  if (m == nullptr) return errc(std::errc::no_such_file_or_directory);
  if (m->open) return errc(std::errc::device_or_resource_busy);
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

inline std::error_code host::vfio_close(std::string_view uuid) {
  const std::optional<std::string> id = canonical_uuid(uuid);
  if (!id || id->size() != uuid.size()) return errc(std::errc::no_such_file_or_directory);
  ordo::unlocked ctx;
  auto v = vfio_lock_.lock(ctx);
  mdev* m = lookup_mdev(v, *id);
  if (m == nullptr) return errc(std::errc::no_such_file_or_directory);
  if (!m->open) return errc(std::errc::bad_file_descriptor);
  close_device(v, *m);
  return {};
}

inline std::error_code host::vfio_reset(std::string_view uuid) {
  const std::optional<std::string> id = canonical_uuid(uuid);
  if (!id || id->size() != uuid.size()) return errc(std::errc::no_such_file_or_directory);
  ordo::unlocked ctx;
  auto v = vfio_lock_.lock(ctx);
  mdev* m = lookup_mdev(v, *id);
  if (m == nullptr) return errc(std::errc::no_such_file_or_directory);
  if (!m->open) return errc(std::errc::bad_file_descriptor);
  return matrix_.reset_device(v, *m);
}

inline std::error_code host::pqap(std::string_view kvm_name, ap::apqn queue, unsigned& rc) {
  ordo::unlocked ctx;
  // The vCPU runs inside a live guest: the table, held shared, keeps it.
  auto t = kvm_table_lock_.lock_shared(ctx);
  kvm* guest = find_guest(t, kvm_name);
  if (guest == nullptr) return errc(std::errc::no_such_file_or_directory);
  // priv.c handle_pqap: down_read(pqap_hook_rwsem), call the hook if set.
  pqap_context r = guest->pqap_hook_rwsem.lock_shared(t);
  pqap_request request{queue};
  rc = guest->call_pqap_hook(r, &r, request).value_or(ap_response_q_not_avail);
  return {};
}

// ---- observation ------------------------------------------------------------

inline std::vector<ap::apqn> host::zapq_log() const {
  ordo::unlocked ctx;
  return hw_.zapq_log(ctx);
}
inline void host::clear_zapq_log() {
  ordo::unlocked ctx;
  hw_.clear_zapq_log(ctx);
}
inline std::vector<std::string> host::kernel_log() const {
  ordo::unlocked ctx;
  return hw_.kernel_log(ctx);
}
inline ap::host_config host::config() const {
  ordo::unlocked ctx;
  auto b = bus_lock_.lock(ctx);
  return qci_;
}

inline std::vector<std::string> host::check_invariants() const {
  std::vector<std::string> broken;
  ordo::unlocked ctx;
  auto t = kvm_table_lock_.lock_shared(ctx);
  auto v = vfio_lock_.lock(t);
  auto b = bus_lock_.lock(v);
  auto a = perms_.mutex.lock(b);
  auto g = matrix_.guests_lock.lock(a);
  const auto& mdevs = matrix_.mdev_list(g);
  const ap::host_config& info = matrix_.info(g);
  std::vector<kvm*> guests;  // alive: in the table (t) or held by an open mdev (v)
  {
    auto md = matrix_.mdevs_lock.lock(g);
    for (std::size_t i = 0; i < mdevs.size(); ++i) {
      const mdev& m = *mdevs[i];
      // I1
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
      // I2
      const ap::adapter_mask res_apm = m.matrix.apm & perms_.apm;
      const ap::domain_mask res_aqm = m.matrix.aqm & perms_.aqm;
      if (!res_apm.empty() && !res_aqm.empty()) {
        broken.push_back(absl::StrFormat("I2: queue %s of mdev %s is reserved for the host",
                                         ap::apqn(*res_apm.first(), *res_aqm.first()).to_string(),
                                         m.uuid()));
      }
      // I4
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
      // The model's bookkeeping (M1, M2).
      std::array<ap::domain_mask, ap::max_ids> usable{};
      for (const auto& [q, queue] : m.qtable) {
        if (queue->matrix_mdev != &m || !m.matrix.contains(q) ||
            matrix_.find_queue(md, q) != queue) {
          broken.push_back(absl::StrFormat("model: queue table entry %s of mdev %s is stale",
                                           q.to_string(), m.uuid()));
        }
        if (queue->passable()) usable[q.card().value()].set(q.queue());
      }
      if (usable != m.usable) {
        broken.push_back(absl::StrFormat("model: usable index of mdev %s is stale", m.uuid()));
      }
      // I6 (VFIO side; vfio_lock held)
      if (m.open != (m.guest != nullptr) || (m.guest != nullptr && m.vfio_kvm.get() != m.guest)) {
        broken.push_back(absl::StrFormat(
            "I6: mdev %s is %s but %s a guest", m.uuid(), m.open ? "open" : "closed",
            m.guest != nullptr ? "attached to" : "not attached to"));
      }
      // I5
      for (std::size_t j = i + 1; j < mdevs.size(); ++j) {
        if (m.guest != nullptr && mdevs[j]->guest == m.guest) {
          broken.push_back(absl::StrFormat("I5: mdevs %s and %s are attached to guest %s",
                                           m.uuid(), mdevs[j]->uuid(), m.guest->name()));
        }
      }
    }
    for (const auto& [q, queue] : matrix_.queues(md)) {
      const auto dev = devices_.find(q);
      if (dev == devices_.end() || dev->second != bound_to::vfio_ap) {
        broken.push_back(absl::StrFormat("model: vfio_ap queue %s has no device bound to vfio_ap",
                                         q.to_string()));
      }
    }
    for (const auto& [q, driver] : devices_) {
      if (driver == bound_to::vfio_ap && matrix_.find_queue(md, q) == nullptr) {
        broken.push_back(absl::StrFormat("model: device %s is bound to vfio_ap but not probed",
                                         q.to_string()));
      }
    }
    // I3 ledger.
    const ap_hw::snapshot hw = hw_.state(md);
    for (ap::apqn q : hw.pending) {
      broken.push_back(absl::StrFormat(
          "I3: queue %s left a guest's APCB while configured and was not reset", q.to_string()));
    }
    for (ap::apqn q : hw.zapq_outside) {
      broken.push_back(absl::StrFormat(
          "I3: queue %s was reset while outside the host configuration", q.to_string()));
    }
    // I6 reference counts.
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
      guests.push_back(entry.memory.get());
    }
    for (const auto& m : mdevs) {
      if (m->vfio_kvm && std::find(guests.begin(), guests.end(), m->vfio_kvm.get()) == guests.end()) {
        guests.push_back(m->vfio_kvm.get());
      }
    }
  }
  // I5 / I6: hooks and APCBs, one guest at a time (kvm->lock, rwsem, mdevs).
  for (kvm* guest : guests) {
    auto kl = guest->lock.lock(g);
    auto h = guest->pqap_hook_rwsem.lock_shared(kl);
    auto md = matrix_.mdevs_lock.lock(h);
    const mdev* attached = nullptr;
    for (const auto& m : mdevs) {
      if (m->guest == guest) attached = m.get();
    }
    pqap_request identify{ap::apqn{}, true};
    const bool hooked = guest->call_pqap_hook(md, nullptr, identify).has_value();
    if (attached == nullptr) {
      if (hooked) {
        broken.push_back(absl::StrFormat("I5: guest %s has a PQAP hook but no mdev attached",
                                         guest->name()));
      }
      if (!(guest->apcb(md) == apcb_masks{})) {
        broken.push_back(absl::StrFormat("I6: guest %s has no mdev but a non-empty APCB",
                                         guest->name()));
      }
      continue;
    }
    if (!hooked || identify.owner != attached) {
      broken.push_back(absl::StrFormat(
          "I5: the PQAP hook of guest %s does not belong to its mdev %s", guest->name(),
          attached->uuid()));
    }
    const apcb_masks shadow{attached->shadow.apm, attached->shadow.aqm, attached->shadow.adm};
    if (!(guest->apcb(md) == shadow)) {
      broken.push_back(absl::StrFormat("I6: the APCB of guest %s differs from the shadow of mdev %s",
                                       guest->name(), attached->uuid()));
    }
  }
  return broken;
}

}  // namespace ordo::vfio_ap

#endif  // ORDO_VFIO_AP_HOST_HPP
