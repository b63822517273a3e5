// ordo-compile-fail: ordo: assert_held: a required level is not .definitely. held.*exclusive<ordo::vfio_ap::kvm_level
//
// kvm_arch_crypto_set_masks: "caller must hold kvm->lock". The update locks
// take kvm->lock with lock_if (only when the mdev is attached), so their
// context holds kvm_level only maybe: set_masks refuses it. The twin, like
// update_guest_apcb, asserts the guest's own lock first
// (lockdep_assert_held(&kvm->lock)), which checks the instance and makes
// the level definite.
#include <vfio_ap/kvm.hpp>

#include <memory>

int main(int argc, char**) {
  auto guest = std::make_unique<ordo::vfio_ap::kvm>("g");
  ordo::unlocked ctx;
  auto kv = ordo::lock_if(argc > 0 ? &guest->lock : nullptr, ctx);
#ifdef ORDO_COMPILE_FAIL
  guest->set_masks(kv, {}, {}, {});
#else
  auto kl = guest->lock.assert_held(kv);
  guest->set_masks(kl, {}, {}, {});
#endif
  return 0;
}
