// ordo/vfio_ap/host.hpp — one simulated s390 host: the AP bus, the vfio_ap
// matrix device with its mediated devices, and KVM guests, driven through the
// same sysfs files and events the Linux kernel offers.
//
// FIRST VERSION (API only): every operation still answers ENOSYS. The
// signatures and their documented semantics are final; the model behind them
// lands in the following commits.
#ifndef ORDO_VFIO_AP_HOST_HPP
#define ORDO_VFIO_AP_HOST_HPP

#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "ordo/ap.hpp"

namespace ordo::vfio_ap {

// A change of the host's AP configuration (what PQAP(QCI) reports). Fields
// left empty keep their current value.
struct qci_update {
  std::optional<bool> apxa;                   // APXA facility (N bit)
  std::optional<unsigned> na, nd;             // highest APID / APQI (<= 255)
  std::optional<ap::adapter_mask> apm;        // configured adapters
  std::optional<ap::domain_mask> aqm;         // configured usage domains
  std::optional<ap::control_domain_mask> adm; // configured control domains
};

class host {
 public:
  host();
  ~host();
  host(const host&) = delete;
  host& operator=(const host&) = delete;

  // Write `value` (exactly the bytes a store function receives, newline
  // included) to the sysfs attribute at absolute `path`. Unknown path:
  // ENOENT. Read-only attribute: EACCES (kernfs refuses to open it for
  // writing). Otherwise the kernel's errno. Thread-safe.
  std::error_code sysfs_write(std::string_view path, std::string_view value);

  // Read an attribute; `out` receives exactly what the show function emits.
  // Unknown path: ENOENT; write-only attribute: EACCES. Thread-safe.
  std::error_code sysfs_read(std::string_view path, std::string& out);

  // Change the host AP configuration, then rescan the AP bus as the kernel
  // does. EINVAL (nothing changes) for na/nd > 255 or an id above the
  // maximum. Thread-safe.
  std::error_code qci(const qci_update& update);

  // From now on every ZAPQ of `queue` answers response code `rc`; rc 0 clears
  // the fault. EINVAL for rc > 0xff. Thread-safe.
  std::error_code zapq_fault(ap::apqn queue, unsigned rc);

  // Guests. kvm_create: EEXIST if the name is taken, EINVAL if empty.
  // kvm_destroy: drop the creator's reference (ENOENT if unknown).
  std::error_code kvm_create(std::string_view name);
  std::error_code kvm_destroy(std::string_view name);
  // The guest's reference count (creator + one per open mdev). ENOENT.
  std::error_code kvm_refs(std::string_view name, unsigned& refs);
  // The guest's CRYCB APCB masks in ap_config form ("0x..,0x..,0x..\n").
  std::error_code kvm_crycb(std::string_view name, std::string& out);

  // Open / close the mdev `uuid` for guest `kvm_name` (set_kvm / unset_kvm).
  std::error_code vfio_open(std::string_view uuid, std::string_view kvm_name);
  std::error_code vfio_close(std::string_view uuid);

  // A vCPU of guest `kvm_name` executes PQAP(AQIC) with IR=0 for `queue`;
  // `rc` receives the AP response code (0x00 or 0x01). ENOENT if no guest.
  std::error_code pqap(std::string_view kvm_name, ap::apqn queue, unsigned& rc);

  // I1..I6 of vfio-ap-reference.md §7: one line per broken invariant.
  std::vector<std::string> check_invariants() const;

  // Every ZAPQ issued since the last clear, in order (superset).
  std::vector<ap::apqn> zapq_log() const;
  void clear_zapq_log();
  ap::host_config config() const;
};

// ---- temporary definitions (replaced by the model) -----------------------
inline host::host() = default;
inline host::~host() = default;
inline std::error_code host::sysfs_write(std::string_view, std::string_view) {
  return std::make_error_code(std::errc::function_not_supported);
}
inline std::error_code host::sysfs_read(std::string_view, std::string&) {
  return std::make_error_code(std::errc::function_not_supported);
}
inline std::error_code host::qci(const qci_update&) {
  return std::make_error_code(std::errc::function_not_supported);
}
inline std::error_code host::zapq_fault(ap::apqn, unsigned) {
  return std::make_error_code(std::errc::function_not_supported);
}
inline std::error_code host::kvm_create(std::string_view) {
  return std::make_error_code(std::errc::function_not_supported);
}
inline std::error_code host::kvm_destroy(std::string_view) {
  return std::make_error_code(std::errc::function_not_supported);
}
inline std::error_code host::kvm_refs(std::string_view, unsigned&) {
  return std::make_error_code(std::errc::function_not_supported);
}
inline std::error_code host::kvm_crycb(std::string_view, std::string&) {
  return std::make_error_code(std::errc::function_not_supported);
}
inline std::error_code host::vfio_open(std::string_view, std::string_view) {
  return std::make_error_code(std::errc::function_not_supported);
}
inline std::error_code host::vfio_close(std::string_view) {
  return std::make_error_code(std::errc::function_not_supported);
}
inline std::error_code host::pqap(std::string_view, ap::apqn, unsigned&) {
  return std::make_error_code(std::errc::function_not_supported);
}
inline std::vector<std::string> host::check_invariants() const { return {}; }
inline std::vector<ap::apqn> host::zapq_log() const { return {}; }
inline void host::clear_zapq_log() {}
inline ap::host_config host::config() const { return {}; }

}  // namespace ordo::vfio_ap

#endif  // ORDO_VFIO_AP_HOST_HPP
