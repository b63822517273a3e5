// The PQAP intercept hook of vfio-ap (docs/vfio-ap-model.md §1.7, §4.2, §4.3,
// §4.9), written with ordo::hook_ptr<..., ordo::rcu_protect>.
//
// KVM owns kvm->arch.crypto.pqap_hook; the vfio_ap mdev embeds the hook (its
// handle_pqap bound to itself) and publishes it when the guest opens the
// device. vCPU threads call through it on every intercepted PQAP(AQIC). When
// the device is closed, clear() returns only after every call that could see
// the hook has finished, so the mdev can be freed at once: no rwsem on the
// intercept path, no module pin, no use-after-free.
//
// A second mdev trying to attach to the same guest gets EPERM and the
// published hook is left alone (the 6.16 set_kvm bug overwrote it).
#include <ordo/hook.hpp>

#include <atomic>
#include <cstdint>
#include <chrono>
#include <cstdio>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr int response_ok = 0x00;
constexpr int response_q_not_avail = 0x01;

struct kvm_vcpu {
  int id;
};

using pqap_signature = int(kvm_vcpu&, std::uint16_t apqn);

struct kvm {
  ordo::hook_ptr<pqap_signature, ordo::rcu_protect> pqap_hook;
};

struct matrix_mdev {
  explicit matrix_mdev(std::set<std::uint16_t> assigned) : queues(std::move(assigned)) {}

  // handle_pqap: an APQN not in the mdev's queue table answers Q_NOT_AVAIL.
  int handle_pqap(kvm_vcpu&, std::uint16_t apqn) {
    handled.fetch_add(1, std::memory_order_relaxed);
    return queues.contains(apqn) ? response_ok : response_q_not_avail;
  }

  const std::set<std::uint16_t> queues;  // immutable while the hook is published
  std::atomic<long> handled{0};
  ordo::hook<pqap_signature> pqap_hook =
      ordo::hook<pqap_signature>::bind<&matrix_mdev::handle_pqap>(*this);
};

}  // namespace

int main() {
  kvm guest;
  auto* mdev = new matrix_mdev({0x0105, 0x0106});

  // open_device -> set_kvm
  if (auto error = guest.pqap_hook.publish(mdev->pqap_hook)) {
    std::printf("attach failed: %s\n", error.message().c_str());
    return 1;
  }
  matrix_mdev other({0x0200});
  const std::error_code second = guest.pqap_hook.publish(other.pqap_hook);
  std::printf("second mdev attaching to the same guest: %s (hook unchanged: %s)\n",
              second.message().c_str(), second ? "yes" : "no");

  // vCPUs intercept PQAP until the device goes away.
  std::atomic<bool> closing{false};
  std::atomic<long> ok{0}, not_avail{0}, no_hook{0}, late_hook{0};
  std::vector<std::thread> vcpus;
  for (int id = 0; id < 2; ++id) {
    vcpus.emplace_back([&, id] {
      kvm_vcpu vcpu{id};
      for (std::uint16_t i = 0; !closing.load(); ++i) {
        const std::uint16_t apqn = (i % 3 == 0) ? 0x0300 : 0x0105;
        std::optional<int> response = guest.pqap_hook.call(vcpu, apqn);
        if (!response) {
          no_hook.fetch_add(1, std::memory_order_relaxed);  // kernel: rc 01, CC 3
        } else if (*response == response_ok) {
          ok.fetch_add(1, std::memory_order_relaxed);
        } else {
          not_avail.fetch_add(1, std::memory_order_relaxed);
        }
      }
      // `closing` is set after clear() returned: this call finds no hook.
      if (guest.pqap_hook.call(vcpu, 0x0105).has_value()) late_hook.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));

  // close_device -> unset_kvm: clear the hook, then free the mdev at once.
  auto cleared = guest.pqap_hook.clear();
  const long handled_by_mdev = mdev->handled.load();
  delete mdev;  // safe: no call through its hook is running any more
  closing = true;
  for (auto& t : vcpus) t.join();

  std::printf("detached hook was the mdev's: %s\n",
              cleared.previous != nullptr && !cleared.error ? "yes" : "no");
  const bool consistent = ok.load() + not_avail.load() == handled_by_mdev;
  std::printf("intercepts handled by the mdev: %s\n", handled_by_mdev > 0 ? "some" : "none");
  std::printf("every handled intercept completed before clear() returned: %s\n",
              consistent ? "yes" : "no");
  std::printf("calls after close that still found a hook: %ld\n", late_hook.load());
  return consistent && late_hook.load() == 0 ? 0 : 1;
}
