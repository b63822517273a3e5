// The model's declared test hook (host.hpp: `friend struct host_test_access`),
// in one place for every model test: what the public API does not show
// (module reference counts, the guest's APCB write count) and the corruptions
// the invariant tests make, each under the model's own locks.
#ifndef ORDO_VFIO_AP_TESTS_HOST_TEST_ACCESS_HPP
#define ORDO_VFIO_AP_TESTS_HOST_TEST_ACCESS_HPP

#include <cstdint>
#include <string_view>
#include <system_error>

#include <vfio_ap/host.hpp>

namespace ordo::vfio_ap {

struct host_test_access {
  /// The reference count of module `name` (its pins); all ones when unknown.
  static std::uint32_t module_refs(const host& h, std::string_view name) {
    const ordo::module* m = h.modules_.find(name);
    return m == nullptr ? 0xffffffffu : m->refcount();
  }
  /// try_unload of module `name` (EBUSY while pinned).
  static std::error_code try_unload(host& h, std::string_view name) {
    return h.modules_.try_unload(name);
  }
  /// How many times the guest's APCB masks were written (set or clear); all
  /// ones when there is no such guest.
  static unsigned long apcb_updates(host& h, std::string_view name) {
    ordo::unlocked ctx;
    auto t = h.kvm_table_lock_.lock_shared(ctx);
    kvm* guest = h.find_guest(t, name);
    if (guest == nullptr) return ~0ul;
    auto kl = guest->lock.lock(t);
    return guest->apcb_updates(kl);
  }
  /// Runs f(mdev&) under guests_lock and mdevs_lock.
  template <class F>
  static void with_mdev(host& h, std::string_view uuid, F&& f) {
    ordo::unlocked ctx;
    auto g = h.matrix_.guests_lock.lock(ctx);
    mdev* m = h.matrix_.find_mdev(g, uuid);
    auto md = h.matrix_.mdevs_lock.lock(g);
    f(*m);
  }
  /// Reserves every APQN for the host behind the in-use veto's back.
  static void reserve_everything(host& h) {
    ordo::unlocked ctx;
    auto a = h.perms_.mutex.lock(ctx);
    h.perms_.apm = ap::adapter_mask::all();
    h.perms_.aqm = ap::domain_mask::all();
  }
  /// A ZAPQ the driver did not ask for.
  static unsigned zapq(host& h, ap::apqn q) {
    ordo::unlocked ctx;
    return h.hw_.zapq(ctx, q);
  }
  /// Drops the ledger's record of the queue's last reset.
  static void forget_a_reset(host& h, ap::apqn q) {
    ordo::unlocked ctx;
    h.hw_.corrupt_ledger(ctx, q);
  }
  /// The guest named `name` (nullptr when unknown).
  static kvm* guest(host& h, std::string_view name) {
    ordo::unlocked ctx;
    auto t = h.kvm_table_lock_.lock(ctx);
    return h.find_guest(t, name);
  }
  /// Clears the guest's PQAP hook behind its mdev's back.
  static void clear_hook(host& h, std::string_view name) {
    kvm* k = guest(h, name);
    ordo::unlocked ctx;
    auto kl = k->lock.lock(ctx);
    auto w = k->pqap_hook_rwsem.lock(kl);
    k->clear_pqap_hook(w);
  }
  /// Clears the guest's APCB masks behind its mdev's back.
  static void clear_masks(host& h, std::string_view name) {
    kvm* k = guest(h, name);
    ordo::unlocked ctx;
    auto kl = k->lock.lock(ctx);
    k->clear_masks(kl);
  }
};

}  // namespace ordo::vfio_ap

#endif  // ORDO_VFIO_AP_TESTS_HOST_TEST_ACCESS_HPP
