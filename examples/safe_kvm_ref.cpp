// examples/safe_kvm_ref.cpp — vfio's vfio_device_get_kvm_safe /
// vfio_device_put_kvm pattern with ordo::symbol_get and ordo::ref.
//
// vfio must not link to kvm, yet a device that uses a guest must hold a
// reference on its struct kvm, and the final put of that reference runs
// kvm_destroy_vm, which is code of the kvm module. So vfio:
//   1. symbol_gets kvm_put_kvm (pins kvm),
//   2. symbol_gets kvm_get_kvm_safe, calls it (an empty ref if the VM is
//      already dying), and puts the getter at once,
//   3. keeps kvm_put_kvm, and with it the pin on kvm, for as long as it holds
//      the KVM reference; vfio_device_put_kvm calls it and only then puts it.
// Meanwhile another thread unloads kvm: try_unload fails with EBUSY and
// changes nothing; the waiting unload blocks new pins at once and completes
// only after the device let go, so kvm_destroy_vm never runs after kvm's exit.
#include <atomic>
#include <cstdio>
#include <system_error>
#include <thread>

#include "ordo/module.hpp"
#include "ordo/ref.hpp"

namespace {

// The event log: each event gets a sequence number, to check the order.
std::atomic<int> sequence{0};
std::atomic<int> at_vm_destroyed{0};
std::atomic<int> at_kvm_exit{0};
std::atomic<int> at_device_released{0};
std::atomic<int> at_unload_returned{0};
int stamp() { return sequence.fetch_add(1) + 1; }

// ---- the kvm module --------------------------------------------------------
bool kvm_module_loaded = false;  // kvm's own state: set by init, cleared by exit

struct kvm : ordo::kref<kvm> {
  int vm_fd = 3;

 private:
  friend class ordo::kref<kvm>;
  // kvm_destroy_vm: module code, so it must run while kvm is loaded.
  void kref_release() noexcept {
    if (!kvm_module_loaded) std::fprintf(stderr, "kvm_destroy_vm after kvm's exit!\n");
    at_vm_destroyed.store(stamp());
    delete this;
  }
};

ordo::ref<kvm> kvm_get_kvm_safe(kvm* k) { return ordo::get_safe(k); }
void kvm_put_kvm(ordo::ref<kvm> k) { k.reset(); }  // the put is the ref's destructor

std::error_code load_kvm(ordo::module_registry& modules) {
  return modules.load("kvm", [](ordo::module_loader& kvm_mod) -> std::error_code {
    kvm_module_loaded = true;
    if (auto ec = kvm_mod.export_symbol("kvm_get_kvm_safe", &kvm_get_kvm_safe)) return ec;
    if (auto ec = kvm_mod.export_symbol("kvm_put_kvm", &kvm_put_kvm)) return ec;
    kvm_mod.on_exit([] {
      kvm_module_loaded = false;
      at_kvm_exit.store(stamp());
    });
    return {};
  });
}

// ---- vfio (does not link to kvm: everything goes through symbol_get) -------
using put_kvm_fn = void(ordo::ref<kvm>);
using get_kvm_safe_fn = ordo::ref<kvm>(kvm*);

struct vfio_device {
  ordo::ref<kvm> kvm_ref;                 // the device's KVM reference
  ordo::symbol_ref<put_kvm_fn> put_kvm;   // kept, pinned, while kvm_ref is held
};

// vfio_device_get_kvm_safe: false (nothing held) if kvm is not loaded or the
// VM is dying.
bool vfio_device_get_kvm_safe(const ordo::module_registry& modules, vfio_device& device,
                              kvm* k) {
  auto put = ordo::symbol_get<put_kvm_fn>(modules, "kvm_put_kvm");
  if (!put) return false;
  auto get = ordo::symbol_get<get_kvm_safe_fn>(modules, "kvm_get_kvm_safe");
  if (!get) return false;  // `put` is symbol_put by its destructor
  ordo::ref<kvm> ref = get(k);
  get.reset();  // symbol_put(kvm_get_kvm_safe): the getter is not kept
  if (!ref) return false;
  device.put_kvm = std::move(put);
  device.kvm_ref = std::move(ref);
  return true;
}

// vfio_device_put_kvm: the put runs through kvm's own function, then the pin
// on kvm is dropped.
void vfio_device_put_kvm(vfio_device& device) {
  if (!device.kvm_ref) return;
  device.put_kvm(std::move(device.kvm_ref));
  at_device_released.store(stamp());  // the KVM reference is gone; last, the pin
  device.put_kvm.reset();  // symbol_put(kvm_put_kvm): now kvm may finish unloading
}

std::atomic<int> failures{0};
void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  ordo::module_registry modules;
  check(!load_kvm(modules), "kvm loads");

  // Userspace creates a VM; its file holds the first reference.
  ordo::ref<kvm> vm_file = ordo::make_ref<kvm>();
  kvm* guest = vm_file.get();

  vfio_device device;
  check(vfio_device_get_kvm_safe(modules, device, guest), "device gets the KVM reference");
  check(guest->kref_read() == 2, "VM file + device hold the VM");
  check(modules.find("kvm")->refcount() == 1, "only kvm_put_kvm stays pinned");

  // rmmod kvm without waiting: busy, and nothing changed.
  check(modules.try_unload("kvm") == std::errc::device_or_resource_busy, "try_unload is EBUSY");
  check(modules.find("kvm")->state() == ordo::module_state::live, "kvm still live");

  vm_file.reset();  // userspace closes the VM: the device's reference remains
  check(at_vm_destroyed.load() == 0, "VM alive while the device holds it");

  // rmmod kvm, waiting, on another thread, while the device is still in use.
  std::thread rmmod([&modules] {
    check(!modules.unload("kvm"), "unload succeeds once the device let go");
    at_unload_returned.store(stamp());
  });
  ordo::module* kvm_mod = modules.find("kvm");
  while (kvm_mod != nullptr && kvm_mod->state() == ordo::module_state::live) std::this_thread::yield();

  // New users are refused at once, while the old one still works.
  vfio_device late;
  check(!vfio_device_get_kvm_safe(modules, late, guest), "no new KVM user while kvm is going");
  check(device.kvm_ref->vm_fd == 3, "the device still uses its VM");
  check(at_kvm_exit.load() == 0, "kvm's exit waits for the device");

  vfio_device_put_kvm(device);  // the final put: kvm_destroy_vm, then symbol_put
  rmmod.join();

  check(at_vm_destroyed.load() != 0, "VM destroyed");
  check(at_vm_destroyed.load() < at_kvm_exit.load(), "VM destroyed before kvm's exit");
  check(at_kvm_exit.load() < at_unload_returned.load(), "unload returned after exit");
  check(at_device_released.load() < at_unload_returned.load(),
        "unload completed only after the device let go");
  check(modules.find("kvm") == nullptr, "kvm is gone");
  check(ordo::symbol_get<put_kvm_fn>(modules, "kvm_put_kvm").error() ==
            std::errc::no_such_file_or_directory,
        "kvm_put_kvm is gone with kvm");

  if (failures != 0) return 1;
  std::printf("safe_kvm_ref: VM destroyed (event %d) before kvm exit (%d); unload returned (%d) "
              "after the device let go (%d)\n",
              at_vm_destroyed.load(), at_kvm_exit.load(), at_unload_returned.load(),
              at_device_released.load());
  return 0;
}
