// ordo-compile-fail: holds<.*exclusive<.*hook_level
//
// History §5 row 5 — "[PATCH 1/2] s390/vfio-ap: r/w lock for PQAP
// interception handler function pointer" (Tony Krowiak, 2021-07-19): the
// intercept reads kvm->arch.crypto.pqap_hook under pqap_hook_rwsem taken for
// reading; set_kvm and unset_kvm change it only with the rwsem taken for
// writing, so no vCPU can be inside the hook of an mdev being torn down when
// unset_kvm clears it (seed 000 is the earlier WRITE_ONCE discussion).
//
// In ordo the model's kvm::clear_pqap_hook demands
// ordo::holds<Ctx, ordo::exclusive<hook_level>>: clearing the hook with the
// rwsem held shared (the reader side the intercept uses) does not compile.
// The valid twin takes it for writing, inside the [7.3] update-lock chain.
#include "ordo/ordered_mutex.hpp"
#include "ordo/ref.hpp"
#include "vfio_ap/kvm.hpp"
#include "vfio_ap/levels.hpp"

namespace vfio = ordo::vfio_ap;

ordo::ordered_mutex<vfio::guests_level> guests_lock;

void unset_kvm(vfio::kvm& guest) {
  ordo::unlocked ctx;
  auto g = guests_lock.lock(ctx);
  auto k = guest.lock.lock(g);
#ifdef ORDO_COMPILE_FAIL
  auto h = guest.pqap_hook_rwsem.lock_shared(k);
#else
  auto h = guest.pqap_hook_rwsem.lock(k);
#endif
  guest.clear_pqap_hook(h);
}

int main() {
  auto guest = ordo::make_ref<vfio::kvm>("g");
  unset_kvm(*guest);
  return 0;
}
