// vfio_ap/kvm.hpp — a simulated KVM guest as vfio_ap sees it: a
// reference-counted object with kvm->lock, the CRYCB's APCB masks and the
// PQAP interception hook; and the `kvm` module that exports
// kvm_get_kvm_safe / kvm_put_kvm to the VFIO side.
//
// What it is
//   struct kvm (include/linux/kvm_host.h) reduced to what vfio-ap touches
//   (docs/vfio-ap-model.md §1.7):
//     - a kref: the creator holds one reference, and VFIO holds one for
//       every device opened for the guest (vfio_device_get_kvm_safe, §4.2
//       [6.16] reference behaviour);
//     - kvm->lock (ordered_mutex<kvm_level>), which kvm_arch_crypto_set_masks
//       and _clear_masks demand ("caller must hold kvm->lock"): here through
//       ordo::holds, so a call without it does not compile;
//     - arch.crypto: crycbd (always format 2, APXA), the APCB1 masks, and
//       pqap_hook_rwsem + pqap_hook, the hook the PQAP intercept calls.
//   The kvm module (kvm_module_init) exports, by name and exact type,
//     "kvm_get_kvm_safe": ordo::ref<kvm>(kvm*)   empty when the guest is dying
//     "kvm_put_kvm":      void(ordo::ref<kvm>)
//   which the VFIO side obtains with ordo::symbol_get, as vfio_main.c does.
//
// When not to use it
//   Outside the vfio_ap model.
//
// Thread-safety contract
//   The count is thread-safe. The APCB masks need this guest's kvm->lock
//   (held, exclusive, by the ctx argument: the level by its type, the
//   instance by a runtime check). pqap_hook is published and cleared with
//   pqap_hook_rwsem held for writing, and read/called with it held shared.
//
// Memory ordering (happens-before)
//   O1  Writes to the masks under kvm->lock happen-before every later
//       reader that takes kvm->lock (ordered_mutex O1).
//   O2  A hook published under pqap_hook_rwsem (write) is seen by every
//       intercept that takes the rwsem shared afterwards; a hook cleared
//       under it is called by no intercept after the writer unlocks: the
//       rwsem is the protection (the kernel's, reference §5 row 5).
//
// Invariants
//   K1  refs == 1 (creator, until kvm_destroy) + number of open mdevs.
//   K2  pqap_hook is empty or points at the hook of the one mdev whose
//       ->kvm is this guest (I5 of the model, checked by the host).
//
// Misuse
//   compile error  set_masks/clear_masks/apcb/apcb_updates through a context
//                  whose type does not show kvm->lock definitely held
//                  exclusively (ordo::exclusive<kvm_level>; a lock_if's
//                  "maybe" is refused until kvm->lock.assert_held(ctx)).
//   runtime report the same calls with another guest's kvm->lock held: the
//                  types prove the level (a lock class), not the instance,
//                  so kvm->lock.assert_held checks it (lockdep report
//                  not_held; through kvm->lock's own guard in every build,
//                  through a later lock with the validator on).
//                  A put without a reference (refcount report).
//
// Example
//   auto k = ordo::make_ref<kvm>("guest1");
//   ordo::unlocked ctx;
//   auto kl = k->lock.lock(ctx);
//   std::string cb = k->apcb(kl).to_string();     // "0x...,0x...,0x...\n"
#ifndef ORDO_VFIO_AP_KVM_HPP
#define ORDO_VFIO_AP_KVM_HPP

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "ordo/ap.hpp"
#include "ordo/hook.hpp"
#include "ordo/module.hpp"
#include "ordo/ordered_mutex.hpp"
#include "ordo/ref.hpp"
#include "vfio_ap/levels.hpp"

namespace ordo::vfio_ap {

class mdev;
class kvm;

/// The host's guest table lock (held shared while a vCPU runs PQAP).
using kvm_table_mutex = ordo::ordered_shared_mutex<kvm_table_level>;
using kvm_table_shared_guard =
    decltype(std::declval<kvm_table_mutex&>().lock_shared(std::declval<ordo::unlocked&>()));
/// The intercept's context: the guest table and pqap_hook_rwsem held shared.
using pqap_hook_rwsem_type = ordo::ordered_shared_mutex<hook_level>;
using pqap_context = decltype(std::declval<pqap_hook_rwsem_type&>().lock_shared(
    std::declval<kvm_table_shared_guard&>()));

/// AP response codes the model uses (asm/ap.h).
inline constexpr unsigned ap_response_normal = 0x00;
inline constexpr unsigned ap_response_q_not_avail = 0x01;
inline constexpr unsigned ap_response_reset_in_progress = 0x02;
inline constexpr unsigned ap_response_deconfigured = 0x03;
inline constexpr unsigned ap_response_checkstopped = 0x04;
inline constexpr unsigned ap_response_busy = 0x05;
inline constexpr unsigned ap_response_state_change_in_progress = 0x0a;
inline constexpr unsigned ap_response_assoc_secret_not_unique = 0x35;  // association failures:
inline constexpr unsigned ap_response_assoc_failed = 0x36;             // the reset is re-issued

/// What the PQAP intercept hands to the hook: the APQN of PQAP(AQIC) with
/// IR=0. `identify` asks the hook only to name its owner (the invariant
/// checker's way to read the published pointer); then no lock is taken.
struct pqap_request {
  ap::apqn apqn;
  bool identify = false;
  const mdev* owner = nullptr;  // set by an identify call
};

/// The hook's signature: the intercept's context (null for identify) and
/// the request; returns the AP response code.
using pqap_hook_sig = unsigned(pqap_context*, pqap_request&);
/// struct crypto_hook: handle_pqap bound to its mdev (the owner embeds it).
using crypto_hook = ordo::hook<pqap_hook_sig>;
/// kvm->arch.crypto.pqap_hook. Protection: pqap_hook_rwsem (an ordered
/// lock in the vfio_ap chain, not the hook_ptr's own), hence unprotected.
using pqap_hook_ptr = ordo::hook_ptr<pqap_hook_sig, ordo::unprotected>;

/// The APCB masks of a CRYCB (format 2: apcb1, 256 ids each).
struct apcb_masks {
  ap::adapter_mask apm;
  ap::domain_mask aqm;
  ap::control_domain_mask adm;
  /// ap_config form: "0x<64>,0x<64>,0x<64>\n".
  [[nodiscard]] std::string to_string() const { return ap::format_ap_config(apm, aqm, adm); }
  friend bool operator==(const apcb_masks&, const apcb_masks&) = default;
};

class kvm : public ordo::kref<kvm> {
 public:
  explicit kvm(std::string name) : name_(std::move(name)) {}

  /// True once the last reference was dropped (kvm_destroy_vm ran). The
  /// memory stays valid until its owner (the host's guest table) frees it.
  /// Thread-safe. Ordering: acquire, partner: the release store of
  /// kref_release, which runs after every put (ref.hpp O1).
  [[nodiscard]] bool released() const noexcept {
    return released_.load(std::memory_order_acquire);
  }

  /// The guest's name. Thread-safe (immutable).
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// The number of references (kref_read). A snapshot. Thread-safe.
  [[nodiscard]] unsigned refs() const noexcept { return kref_read(); }
  /// kvm->arch.crypto.crycbd: non-zero (a CRYCB exists, format 2). Immutable.
  [[nodiscard]] std::uint32_t crycbd() const noexcept { return crycbd_; }

  /// kvm_arch_crypto_set_masks: the guest's APCB becomes (apm, aqm, adm).
  /// Needs this guest's kvm->lock held exclusively: ctx's type must show
  /// kvm_level definitely held ("ordo: assert_held: ..." otherwise; a
  /// lock_if context is upgraded with lock.assert_held first), and
  /// lock.assert_held(ctx) checks that the lock held is this guest's.
  template <ordo::lock_context Ctx>
  void set_masks(Ctx& ctx, const ap::adapter_mask& apm, const ap::domain_mask& aqm,
                 const ap::control_domain_mask& adm) {
    assert_own_lock(ctx);
    apcb_ = {apm, aqm, adm};
    ++apcb_updates_;
  }
  /// kvm_arch_crypto_clear_masks. Needs this guest's kvm->lock, as set_masks.
  template <ordo::lock_context Ctx>
  void clear_masks(Ctx& ctx) {
    assert_own_lock(ctx);
    apcb_ = {};
    ++apcb_updates_;
  }
  /// host::restore: the APCB and its write count as a saved guest had them.
  template <ordo::lock_context Ctx>
  void restore_masks(Ctx& ctx, const apcb_masks& masks, unsigned long updates) {
    assert_own_lock(ctx);
    apcb_ = masks;
    apcb_updates_ = updates;
  }
  /// The APCB masks now (a copy: a reference would outlive the lock, which
  /// Clang's -Wthread-safety reports). Needs this guest's kvm->lock, as
  /// set_masks.
  template <ordo::lock_context Ctx>
  [[nodiscard]] apcb_masks apcb(Ctx& ctx) const {
    assert_own_lock(ctx);
    return apcb_;
  }
  /// Whether the APCB holds exactly these masks, compared in place (the
  /// invariant check's I6 runs after every fuzz record; a copy of the three
  /// masks was a third of its time under ASan).
  template <ordo::lock_context Ctx>
  [[nodiscard]] bool apcb_is(Ctx& ctx, const ap::adapter_mask& apm, const ap::domain_mask& aqm,
                             const ap::control_domain_mask& adm) const {
    assert_own_lock(ctx);
    return apcb_.apm == apm && apcb_.aqm == aqm && apcb_.adm == adm;
  }
  /// How many times the masks were written (set or clear). Needs this
  /// guest's kvm->lock, as set_masks.
  template <ordo::lock_context Ctx>
  [[nodiscard]] unsigned long apcb_updates(Ctx& ctx) const {
    assert_own_lock(ctx);
    return apcb_updates_;
  }

  /// kvm->lock.
  mutable ordo::ordered_mutex<kvm_level> lock;
  /// kvm->arch.crypto.pqap_hook_rwsem.
  mutable pqap_hook_rwsem_type pqap_hook_rwsem;

  /// Publishes `hook` (set_kvm): EPERM, and nothing changes, when a hook is
  /// already set (hook_ptr I2). Needs the rwsem held for writing.
  template <class Ctx>
    requires ordo::holds<Ctx, ordo::exclusive<hook_level>>
  [[nodiscard]] std::error_code publish_pqap_hook(Ctx& ctx, crypto_hook& hook) {
    (void)ctx;
    return pqap_hook_.publish(hook);
  }
  /// Clears the hook (unset_kvm). Needs the rwsem held for writing.
  template <class Ctx>
    requires ordo::holds<Ctx, ordo::exclusive<hook_level>>
  void clear_pqap_hook(Ctx& ctx) {
    (void)ctx;
    (void)pqap_hook_.clear();
  }
  /// Calls through the hook: empty when none is set. Needs the rwsem (either
  /// mode), which keeps the hook and its mdev alive during the call.
  template <class Ctx>
    requires ordo::holds<Ctx, hook_level>
  std::optional<unsigned> call_pqap_hook(Ctx& ctx, pqap_context* intercept,
                                         pqap_request& request) const {
    (void)ctx;
    return pqap_hook_.call(intercept, request);
  }

 private:
  friend class ordo::kref<kvm>;
  // "caller must hold kvm->lock": the type proves a kvm->lock held
  // exclusively (some guest's: a level is a lock class), the runtime check
  // that it is this guest's (ordered_mutex.hpp, "What a context's type
  // proves": in every build through kvm->lock's own guard, with the
  // validator through a lock taken after it).
  // For Clang's thread-safety analysis it asserts kvm->lock held, so the
  // accessors' reads and writes of apcb_ are checked against it.
  template <class Ctx>
  void assert_own_lock(const Ctx& ctx) const ABSL_ASSERT_EXCLUSIVE_LOCK(lock) {
    ordo::assert_held<ordo::exclusive<kvm_level>>(ctx);
    (void)lock.assert_held(ctx);
  }

  // The final put: the VM is destroyed. Its memory belongs to the guest
  // table, which unlinks and frees released guests under its exclusive lock
  // (so a lookup under the shared lock never sees freed memory).
  void kref_release() noexcept {
    released_.store(true, std::memory_order_release);  // partner: released()
  }

  std::string name_;
  std::atomic<bool> released_{false};
  std::uint32_t crycbd_ = 0x2;  // format 2 (APXA)
  // Guarded by this guest's kvm->lock; every access is in an accessor that
  // first runs assert_own_lock, so Clang's -Wthread-safety checks them.
  apcb_masks apcb_ ABSL_GUARDED_BY(lock);
  unsigned long apcb_updates_ ABSL_GUARDED_BY(lock) = 0;
  pqap_hook_ptr pqap_hook_;  // changed with pqap_hook_rwsem held for writing
};

// ---------------------------------------------------------------------------
// The kvm module's exports.

/// kvm_get_kvm_safe: a reference, or an empty one when the guest is dying.
inline ordo::ref<kvm> kvm_get_kvm_safe(kvm* guest) { return ordo::get_safe(guest); }
/// kvm_put_kvm: drops the reference (the last one frees the guest).
inline void kvm_put_kvm(ordo::ref<kvm> guest) { guest.reset(); }

using kvm_get_kvm_safe_fn = ordo::ref<kvm>(kvm*);
using kvm_put_kvm_fn = void(ordo::ref<kvm>);

/// Loads the `kvm` module into `modules`: exports kvm_get_kvm_safe and
/// kvm_put_kvm. Errors of module_registry::load (EEXIST if loaded).
inline std::error_code kvm_module_init(ordo::module_registry& modules) {
  return modules.load("kvm", [](ordo::module_loader& kvm_module) -> std::error_code {
    if (auto ec = kvm_module.export_symbol("kvm_get_kvm_safe", &kvm_get_kvm_safe)) return ec;
    return kvm_module.export_symbol("kvm_put_kvm", &kvm_put_kvm);
  });
}

}  // namespace ordo::vfio_ap

#endif  // ORDO_VFIO_AP_KVM_HPP
