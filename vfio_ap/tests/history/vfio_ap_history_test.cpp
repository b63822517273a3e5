// The vfio-ap history suite: one test per row of docs/vfio-ap-model.md §5
// (rows 1-13) and the virtio-ccw teardown lesson (seeds/004), each showing
// what the ordo model (vfio_ap/include/vfio_ap/host.hpp) does with that bug.
//
// Bugs that were a lock order or a lock held across a wait are compile-fail
// cases in tests/history/compile_fail/ (rows 3, 6, 7, 13); this file holds the
// runtime ones: leaks, missing resets, hooks called during teardown,
// unfiltered APQNs, wrong errors. Every test names the kernel commit or patch
// it stands for, and checks an observable that the bug would change (the
// expected values come from the reference, not from what the model prints).
// The concurrent tests are meant for the tsan and asan presets, with the
// lockdep validator on (it aborts on a report).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ordo/ap.hpp"
#include "ordo/ref.hpp"
#include "vfio_ap/host.hpp"
#include "../host_test_access.hpp"

#include "../../../examples/ccw_teardown.hpp"
#include "expect_ok.hpp"

namespace {

namespace ap = ordo::ap;
using ordo::vfio_ap::host;
using ordo::vfio_ap::qci_update;

constexpr std::string_view kMatrix = "/sys/devices/vfio_ap/matrix/";
constexpr std::string_view kCreate =
    "/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create";
constexpr std::string_view kInstances =
    "/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/available_instances";
constexpr std::string_view kApmask = "/sys/bus/ap/apmask";
constexpr std::string_view kAqmask = "/sys/bus/ap/aqmask";
constexpr std::string_view kBind = "/sys/bus/ap/drivers/vfio_ap/bind";
constexpr std::string_view kUnbind = "/sys/bus/ap/drivers/vfio_ap/unbind";

constexpr const char* kA = "a1a2a3a4-0000-4000-8000-00000000000a";
constexpr const char* kB = "a1a2a3a4-0000-4000-8000-00000000000b";

const std::string kEmptyCrycb = ap::format_ap_config({}, {}, {});

ap::apqn q(unsigned card, unsigned dom) {
  return ap::apqn(ap::apid(static_cast<std::uint8_t>(card)), ap::apqi(static_cast<std::uint8_t>(dom)));
}

template <class Mask, class Id, class... N>
Mask mask_of(N... ids) {
  Mask m;
  (m.set(Id(static_cast<std::uint8_t>(ids))), ...);
  return m;
}
template <class... N>
ap::adapter_mask apm(N... ids) {
  return mask_of<ap::adapter_mask, ap::apid>(ids...);
}
template <class... N>
ap::domain_mask aqm(N... ids) {
  return mask_of<ap::domain_mask, ap::apqi>(ids...);
}
template <class... N>
ap::control_domain_mask adm(N... ids) {
  return mask_of<ap::control_domain_mask, ap::cdom>(ids...);
}

std::string attr(std::string_view uuid, std::string_view name) {
  return std::string(kMatrix) + std::string(uuid) + "/" + std::string(name);
}
std::string status_path(ap::apqn queue) {
  return "/sys/bus/ap/devices/" + queue.to_string() + "/status";
}

class History : public ::testing::Test {
 protected:
  host h;

  // A write that must succeed.
  void ok(std::string_view path, std::string_view value) {
    const auto ec = h.sysfs_write(path, value);
    ASSERT_OK(ec) << path << " <- " << value << ": " << ec.message();
  }
  std::error_code write(std::string_view path, std::string_view value) {
    return h.sysfs_write(path, value);
  }
  std::string read(std::string_view path) {
    std::string out;
    const auto ec = h.sysfs_read(path, out);
    EXPECT_OK(ec) << path << ": " << ec.message();
    return out;
  }
  unsigned refs(std::string_view guest) {
    unsigned n = 0;
    const auto ec = h.kvm_refs(guest, n);
    EXPECT_OK(ec) << "kvm_refs " << guest << ": " << ec.message();
    return n;
  }
  std::string crycb(std::string_view guest) {
    std::string out;
    const auto ec = h.kvm_crycb(guest, out);
    EXPECT_OK(ec) << "kvm_crycb " << guest << ": " << ec.message();
    return out;
  }
  unsigned pqap(std::string_view guest, ap::apqn queue) {
    unsigned rc = 0xff;
    const auto ec = h.pqap(guest, queue, rc);
    EXPECT_OK(ec) << "pqap " << guest << " " << queue << ": " << ec.message();
    return rc;
  }
  bool zapqd(ap::apqn queue) {
    for (const auto& z : h.zapq_log()) {
      if (z == queue) return true;
    }
    return false;
  }
  void expect_invariants() {
    const auto broken = h.check_invariants();
    std::string all;
    for (const auto& b : broken) all += b + "\n";
    EXPECT_TRUE(broken.empty()) << all;
  }
  void create(std::string_view uuid) { ok(kCreate, std::string(uuid) + "\n"); }
  // Host configuration and no reservation for the host drivers.
  void host_config(const ap::adapter_mask& a, const ap::domain_mask& d,
                   const ap::control_domain_mask& c) {
    ASSERT_OK(h.qci(qci_update{.apm = a, .aqm = d, .adm = c}));
    ok(kApmask, "0x0\n");
    ok(kAqmask, "0x0\n");
  }
};

// ---------------------------------------------------------------------------
// Rows 1 and 2: the KVM reference.
//
// 258287c994de "s390: vfio-ap: implement mediated device open callback"
// (2018) took kvm_get_kvm() on SET_KVM and on SET_KVM(NULL) only cleared the
// pointer: one leaked guest per open. f21916ec4826 "s390/vfio-ap: clean up
// vfio_ap resources when KVM pointer invalidated" (Fixes: 258287c994de) added
// unset_kvm, which reverses every attach step: hook, masks, queue resets,
// kvm_put_kvm. Invariant I6.
TEST_F(History, Row01_02_CloseDropsTheKvmReferenceAndReversesAttach) {
  host_config(apm(1), aqm(1), adm(1));
  create(kA);
  ok(attr(kA, "assign_adapter"), "1\n");
  ok(attr(kA, "assign_domain"), "1\n");
  ok(attr(kA, "assign_control_domain"), "1\n");
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_EQ(refs("g"), 1u);
  const std::uint32_t kvm_module_refs = ordo::vfio_ap::host_test_access::module_refs(h, "kvm");

  for (int round = 0; round < 3; ++round) {
    ASSERT_OK(h.vfio_open(kA, "g"));
    EXPECT_EQ(refs("g"), 2u) << "open takes exactly one reference";
    EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(1), aqm(1), adm(1)));
    EXPECT_EQ(pqap("g", q(1, 1)), 0x00u);
    h.clear_zapq_log();
    ASSERT_OK(h.vfio_close(kA));
    EXPECT_EQ(refs("g"), 1u) << "round " << round << ": close must drop the reference (f21916ec4826)";
    EXPECT_EQ(ordo::vfio_ap::host_test_access::module_refs(h, "kvm"), kvm_module_refs)
        << "close must symbol_put kvm_put_kvm (vfio_device_put_kvm)";
    EXPECT_EQ(crycb("g"), kEmptyCrycb) << "masks cleared on detach";
    EXPECT_EQ(pqap("g", q(1, 1)), 0x01u) << "hook cleared on detach";
    EXPECT_TRUE(zapqd(q(1, 1))) << "detach resets every linked queue (I6)";
    // Detach changes neither the matrix nor the shadow (§4.3).
    EXPECT_EQ(read(attr(kA, "guest_matrix")), "01.0001\n");
    expect_invariants();
  }

}

// Rows 1 and 2, continued: the VFIO reference alone keeps the guest alive.
// The creator lets go while the mdev is open: the guest lives on (refs 1,
// docs/vfio-ap-sim.md "kvm destroy": freed when no reference is left;
// tests/scripts/kvm.sim) and dies with the close.
TEST_F(History, Row01_02_GuestOutlivesItsCreatorWhileOpen) {
  host_config(apm(1), aqm(1), adm(1));
  create(kA);
  ok(attr(kA, "assign_adapter"), "1\n");
  ok(attr(kA, "assign_domain"), "1\n");
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(kA, "g"));
  ASSERT_OK(h.kvm_destroy("g"));
  EXPECT_EQ(refs("g"), 1u) << "the open mdev's reference keeps the guest";
  EXPECT_EQ(pqap("g", q(1, 1)), 0x00u) << "the guest still runs with its mdev";
  ASSERT_OK(h.vfio_close(kA));
  unsigned n = 0;
  EXPECT_EQ(h.kvm_refs("g", n), std::errc::no_such_file_or_directory) << "the last put frees the guest";
  expect_invariants();
}

// ---------------------------------------------------------------------------
// Row 4: "s390/vfio-ap: fix memory leak in mdev remove callback" (v1-v5,
// May-Jun 2021; stable 5.12.15). Remove returned -EBUSY while kvm_busy || kvm,
// but a remove callback cannot veto: the mdev went away and matrix_mdev
// leaked. The fix: remove always resets the queues and frees. The model's
// remove of an open mdev runs request, close, remove (host.hpp C2): it must
// succeed, drop the guest reference, reset the queues and free the UUID. ASan
// reports a leaked mdev at exit.
TEST_F(History, Row04_RemoveAlwaysReleases) {
  host_config(apm(1, 2), aqm(1, 2), adm(1));
  const std::string before = read(kInstances);
  create(kA);
  ok(attr(kA, "ap_config"),
     ap::format_ap_config(apm(1, 2), aqm(1, 2), adm(1)));
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(kA, "g"));
  ASSERT_EQ(refs("g"), 2u);
  h.clear_zapq_log();

  EXPECT_OK(write(attr(kA, "remove"), "1\n")) << "remove of an mdev in use must not be vetoed";
  EXPECT_EQ(refs("g"), 1u) << "the mdev's guest reference is released";
  EXPECT_EQ(crycb("g"), kEmptyCrycb);
  EXPECT_EQ(pqap("g", q(1, 1)), 0x01u);
  for (auto queue : {q(1, 1), q(1, 2), q(2, 1), q(2, 2)}) {
    EXPECT_TRUE(zapqd(queue)) << queue << " left the guest without a reset";
    EXPECT_EQ(read(status_path(queue)), "unassigned\n") << queue;
  }
  std::string out;
  EXPECT_EQ(h.sysfs_read(attr(kA, "matrix"), out), std::errc::no_such_file_or_directory);
  EXPECT_EQ(read(kInstances), before) << "the instance is given back";
  // The queues are free for another mdev, and the UUID for a new one.
  create(kB);
  EXPECT_OK(write(attr(kB, "ap_config"), ap::format_ap_config(apm(1, 2), aqm(1, 2), adm(1))));
  create(kA);
  expect_invariants();
}

// ---------------------------------------------------------------------------
// Row 5: "[PATCH 1/2] s390/vfio-ap: r/w lock for PQAP interception handler
// function pointer" (Tony Krowiak, 2021-07-19). The intercept read
// kvm->arch.crypto.pqap_hook with no lock while unset_kvm cleared it: a vCPU
// could call the hook of an mdev being torn down. In ordo the hook is read
// and called under pqap_hook_rwsem (shared) and cleared under it (write), so
// once vfio_close or remove returned no PQAP runs the old hook. vCPU threads
// race close and remove here; under tsan a hook call without the rwsem is a
// data race with unset_kvm, under asan a call into a removed mdev is a
// use-after-free.
TEST_F(History, Row05_PqapNeverCallsTheHookOfATornDownMdev) {
  host_config(apm(1), aqm(1, 2), adm(1));
  ASSERT_OK(h.kvm_create("g"));
  std::atomic<bool> stop{false};
  std::atomic<unsigned long> calls{0}, hits{0}, bad{0};
  std::vector<std::thread> vcpus;
  for (int i = 0; i < 2; ++i) {
    vcpus.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        unsigned rc = 0xff;
        if (h.pqap("g", q(1, 1 + (calls.load(std::memory_order_relaxed) & 1)), rc) ||
            (rc != 0x00 && rc != 0x01)) {
          bad.fetch_add(1, std::memory_order_relaxed);
        }
        if (rc == 0x00) hits.fetch_add(1, std::memory_order_relaxed);
        calls.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  const char* uuids[] = {kA, kB};
  for (int round = 0; round < 40; ++round) {
    const char* u = uuids[round % 2];
    create(u);
    ok(attr(u, "assign_adapter"), "1\n");
    ok(attr(u, "assign_domain"), "1\n");
    ok(attr(u, "assign_domain"), "2\n");
    ASSERT_OK(h.vfio_open(u, "g"));
    // Let the vCPUs intercept while the mdev is attached, then tear it down
    // while they keep going.
    const unsigned long seen = calls.load();
    for (int spin = 0; spin < 100000 && calls.load() < seen + 4; ++spin) std::this_thread::yield();
    if (round % 4 == 0) {
      // Torn down by remove while open (request, close, remove).
      ok(attr(u, "remove"), "1\n");
    } else {
      ASSERT_OK(h.vfio_close(u));
      // After close returned, the hook is gone: no PQAP may reach the mdev.
      unsigned rc = 0xff;
      ASSERT_OK(h.pqap("g", q(1, 1), rc));
      EXPECT_EQ(rc, 0x01u) << "round " << round << ": hook still called after close";
      ok(attr(u, "remove"), "1\n");
    }
    unsigned rc = 0xff;
    ASSERT_OK(h.pqap("g", q(1, 2), rc));
    EXPECT_EQ(rc, 0x01u) << "round " << round << ": hook still called after remove";
  }
  stop = true;
  for (auto& t : vcpus) t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(calls.load(), 0u);
  EXPECT_GT(hits.load(), 0u) << "no PQAP ever reached an attached mdev: the race was not exercised";
  EXPECT_EQ(refs("g"), 1u);
  expect_invariants();
}

// ---------------------------------------------------------------------------
// Row 7 (runtime half; the order itself is compile_fail/history_07_*): the
// 2022 dynamic-configuration series. Before it, assign and unassign returned
// -EBUSY while a guest ran; since "allow hot plug/unplug of AP devices when
// assigned/unassigned" they plug into the running guest, and "implement
// in-use callback for vfio_ap driver" vetoes apmask/aqmask changes that would
// take an mdev's queue (EBUSY, I2). The ABBA deadlock it fixed (assign holding
// guests_lock and wanting ap_perms_mutex, apmask_store the reverse) is run
// here too: assign and apmask writers in parallel must finish, and the
// validator must stay silent.
TEST_F(History, Row07_HotPlugWhileRunningAndInUseVeto) {
  host_config(apm(1, 2, 3), aqm(1, 2), adm(1));
  create(kA);
  ok(attr(kA, "assign_domain"), "1\n");
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(kA, "g"));
  EXPECT_OK(write(attr(kA, "assign_adapter"), "1\n")) << "no -EBUSY while the guest runs";
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(1), aqm(1), {})) << "hot plugged";
  EXPECT_OK(write(attr(kA, "unassign_adapter"), "1\n"));
  EXPECT_EQ(crycb("g"), ap::format_ap_config({}, aqm(1), {})) << "hot unplugged";
  ok(attr(kA, "assign_adapter"), "1\n");

  // A queue is reserved when its adapter is in apmask and its domain in
  // aqmask: with every domain reserved, reserving adapter 1 takes 01.0001.
  ok(kAqmask, "0x" + std::string(64, 'f') + "\n");
  const std::string apmask = read(kApmask);
  EXPECT_EQ(write(kApmask, "+1\n"), std::errc::device_or_resource_busy);
  EXPECT_EQ(read(kApmask), apmask) << "a vetoed apmask write changes nothing";
  ok(kAqmask, "0x0\n");
  ok(kApmask, "+1\n");  // no domain reserved: no queue taken
  const std::string aqmask = read(kAqmask);
  EXPECT_EQ(write(kAqmask, "+1\n"), std::errc::device_or_resource_busy);
  EXPECT_EQ(read(kAqmask), aqmask) << "a vetoed aqmask write changes nothing";
  ok(kApmask, "-1\n");

  std::atomic<bool> stop{false};
  std::thread assigner([&] {
    for (int i = 0; i < 150; ++i) {
      (void)h.sysfs_write(attr(kA, "assign_adapter"), "2\n");
      (void)h.sysfs_write(attr(kA, "unassign_adapter"), "2\n");
    }
    stop = true;
  });
  std::thread masker([&] {
    while (!stop.load()) {
      (void)h.sysfs_write(kApmask, "+2\n");  // EBUSY while 2 is assigned
      (void)h.sysfs_write(kApmask, "-2\n");
      (void)h.sysfs_write(kAqmask, "+2\n");
      (void)h.sysfs_write(kAqmask, "-2\n");
    }
  });
  assigner.join();
  masker.join();
  expect_invariants();
  ASSERT_OK(h.vfio_close(kA));
  EXPECT_EQ(refs("g"), 1u);
}

// ---------------------------------------------------------------------------
// Row 8: Dec 2023 series "reset queues removed from guest's AP configuration"
// (merged 6.8): "always filter entire AP matrix" (Fixes: 48cae940c31d
// "refresh guest's APCB by filtering AP resources assigned to mdev"). The
// scenario of its cover letter: adapters 0x14, 0x16, domains 4, 5, 6; 16.0005
// unbound; filtering only the re-assigned domain 4 (14.0004 and 16.0004,
// both bound) gave the guest 16.0005, which is not bound to vfio_ap.
// I-bind: the guest only sees APQNs bound to vfio_ap.
TEST_F(History, Row08_UnboundApqnNeverReachesTheGuest) {
  host_config(apm(0x14, 0x16), aqm(4, 5, 6), adm(4));
  create(kA);
  ok(attr(kA, "assign_adapter"), "0x14\n");
  ok(attr(kA, "assign_adapter"), "0x16\n");
  for (const char* d : {"4\n", "5\n", "6\n"}) ok(attr(kA, "assign_domain"), d);
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(kA, "g"));
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(0x14, 0x16), aqm(4, 5, 6), {}));

  ok(attr(kA, "unassign_domain"), "4\n");
  ok(kUnbind, "16.0005\n");
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(0x14), aqm(5, 6), {}));
  ok(attr(kA, "assign_domain"), "4\n");
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(0x14), aqm(4, 5, 6), {}))
      << "16.0005 is not bound: adapter 0x16 must stay out (48cae940c31d filtered only domain 4)";
  EXPECT_EQ(read(attr(kA, "guest_matrix")), "14.0004\n14.0005\n14.0006\n");
  EXPECT_EQ(pqap("g", q(0x16, 5)), 0x01u);
  ok(kBind, "16.0005\n");
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(0x14, 0x16), aqm(4, 5, 6), {}));
  expect_invariants();
  ASSERT_OK(h.vfio_close(kA));
}

// Row 8: "reset queues filtered from the guest's AP config", "reset queues
// associated with adapter for queue unbound from driver" and "do not reset
// queue removed from host config" (same series). I3: every queue that leaves
// the guest while in the host configuration is reset (ZAPQ); queues outside
// the host configuration never are (the ZAPQ would fail with rc 01).
TEST_F(History, Row08_QueuesLeavingTheGuestAreResetDeconfiguredOnesAreNot) {
  host_config(apm(1, 2, 3), aqm(1, 2), adm(1));
  create(kA);
  ok(attr(kA, "ap_config"), ap::format_ap_config(apm(1, 2, 3), aqm(1, 2), adm(1)));
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(kA, "g"));

  // Unbinding one queue unplugs its whole adapter: all of {2} x shadow.aqm
  // are reset, the unbound one included.
  h.clear_zapq_log();
  ok(kUnbind, "02.0001\n");
  EXPECT_TRUE(zapqd(q(2, 1)));
  EXPECT_TRUE(zapqd(q(2, 2))) << "the adapter's other queue left the guest too";
  EXPECT_FALSE(zapqd(q(1, 1)));
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(1, 3), aqm(1, 2), adm(1)));

  // Unassigning a domain resets exactly the guest's queues of that domain.
  h.clear_zapq_log();
  ok(attr(kA, "unassign_domain"), "2\n");
  EXPECT_TRUE(zapqd(q(1, 2)));
  EXPECT_TRUE(zapqd(q(3, 2)));
  EXPECT_FALSE(zapqd(q(1, 1)));
  EXPECT_FALSE(zapqd(q(2, 2))) << "02.0002 was no longer in the guest";

  // Adapter 3 leaves the host configuration: out of the guest, not reset.
  h.clear_zapq_log();
  ASSERT_OK(h.qci(qci_update{.apm = apm(1, 2)}));
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(1), aqm(1), adm(1)));
  EXPECT_FALSE(zapqd(q(3, 1))) << "a queue outside the host config is never reset";
  expect_invariants();
  ASSERT_OK(h.vfio_close(kA));
  expect_invariants();
}

// Row 8 with an injected reset failure: a queue whose ZAPQ ends with a
// response code other than 0, 3 or 4 is not passable (§3.3 _queue_passable)
// and keeps its adapter out of the guest until a good reset.
TEST_F(History, Row08_FailedResetKeepsTheQueueOut) {
  host_config(apm(1, 2), aqm(1), adm(1));
  create(kA);
  ok(attr(kA, "ap_config"), ap::format_ap_config(apm(1, 2), aqm(1), {}));
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(kA, "g"));
  ASSERT_OK(h.zapq_fault(q(2, 1), 0x06));
  ok(attr(kA, "unassign_adapter"), "2\n");  // reset answers 06
  ok(attr(kA, "assign_adapter"), "2\n");
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(1), aqm(1), {}))
      << "02.0001's last reset failed: it is not passable";
  expect_invariants();
  ASSERT_OK(h.zapq_fault(q(2, 1), 0));
  ASSERT_OK(h.vfio_close(kA));
  expect_invariants();
}

// ---------------------------------------------------------------------------
// Row 9: "s390/vfio-ap: unpin pages on gisc registration failure" (2023/24
// stable): vfio_ap_irq_enable pinned the NIB page, and when the GISC
// registration failed it returned rc 06 without unpinning: a pin leak.
// The model has no AQIC path (its PQAP is IR=0 only, host.hpp), so this is
// ordo's resource pairing on its own: the pin is an ordo::ref to the page,
// held by the queue's IRQ state only on success; every early return drops
// it. The test fails if the pin outlives a failed enable.
namespace irq {
struct page : ordo::kref<page> {
  unsigned pins() const { return kref_read() - 1; }  // the owner holds one
};
struct queue_irq {
  ordo::ref<page> nib;  // the pinned NIB page while interrupts are on
};
// vfio_ap_irq_enable: pin, register the GISC, AQIC. rc 06 on failure.
unsigned irq_enable(queue_irq& q, const ordo::ref<page>& nib_page, bool gisc_ok, bool aqic_ok) {
  ordo::ref<page> pin = nib_page.clone();  // vfio_pin_pages
  if (!gisc_ok) return 0x06;               // kvm_s390_gisc_register failed
  if (!aqic_ok) return 0x06;               // AQIC failed
  q.nib = std::move(pin);                  // kept only on success
  return 0x00;
}
void irq_disable(queue_irq& q) { q.nib.reset(); }  // vfio_unpin_pages
}  // namespace irq

TEST(HistoryRow09, PinIsDroppedOnGiscRegistrationFailure) {
  auto nib = ordo::make_ref<irq::page>();
  irq::queue_irq q;
  EXPECT_EQ(irq::irq_enable(q, nib, /*gisc_ok=*/false, true), 0x06u);
  EXPECT_EQ(nib->pins(), 0u) << "pin leaked on GISC failure";
  EXPECT_EQ(irq::irq_enable(q, nib, true, /*aqic_ok=*/false), 0x06u);
  EXPECT_EQ(nib->pins(), 0u);
  EXPECT_EQ(irq::irq_enable(q, nib, true, true), 0x00u);
  EXPECT_EQ(nib->pins(), 1u);
  irq::irq_disable(q);
  EXPECT_EQ(nib->pins(), 0u);
}

// ---------------------------------------------------------------------------
// Row 10: "s390/vfio-ap: lock mdev object when handling mdev remove request"
// (Feb 2025, Fixes: 2e3d8d71e285 "wire in the vfio_device_ops request
// callback"). vfio_ap_mdev_request touched the mdev (and cleared the guest's
// masks) without a lock. The model reaches request through remove of an open
// mdev (host.hpp C2); here it races assign/unassign on the same mdev and a
// status reader. Under tsan an unlocked request is a data race; afterwards
// the guest's masks are clear and its reference is back.
TEST_F(History, Row10_RequestRunsUnderTheUpdateLocks) {
  host_config(apm(1, 2), aqm(1), adm(1));
  ASSERT_OK(h.kvm_create("g"));
  for (int round = 0; round < 20; ++round) {
    create(kA);
    ok(attr(kA, "assign_domain"), "1\n");
    ok(attr(kA, "assign_adapter"), "1\n");
    ASSERT_OK(h.vfio_open(kA, "g"));
    std::atomic<bool> removed{false};
    std::thread admin([&] {
      while (!removed.load()) {
        (void)h.sysfs_write(attr(kA, "assign_adapter"), "2\n");
        (void)h.sysfs_write(attr(kA, "unassign_adapter"), "2\n");
        std::string s;
        (void)h.sysfs_read(status_path(q(1, 1)), s);
      }
    });
    ok(attr(kA, "remove"), "1\n");
    removed = true;
    admin.join();
    EXPECT_EQ(crycb("g"), kEmptyCrycb) << "round " << round;
    EXPECT_EQ(refs("g"), 1u) << "round " << round;
  }
  expect_invariants();
}

// ---------------------------------------------------------------------------
// Row 11: ap_config (Jason J. Herne, 2024/25) and features. "If the given
// state cannot be set then no changes are made" (§2.9): a malformed or
// conflicting write is refused with the kernel's errno and the matrix is
// untouched; features is the [6.16]/[7.3] string.
TEST_F(History, Row11_ApConfigIsAllOrNothingAndFeatures) {
  EXPECT_EQ(read(std::string(kMatrix) + "features"), "guest_matrix hotplug ap_config\n");
  host_config(apm(1, 2), aqm(1, 2), adm(1, 2));
  create(kA);
  create(kB);
  const std::string a_cfg = ap::format_ap_config(apm(1), aqm(1, 2), adm(1, 2));
  ok(attr(kA, "ap_config"), a_cfg);
  EXPECT_EQ(read(attr(kA, "ap_config")), a_cfg);
  EXPECT_EQ(read(attr(kA, "ap_config")).size(), 201u);
  EXPECT_EQ(read(attr(kA, "matrix")), "01.0001\n01.0002\n");

  // Missing third field without a newline: EINVAL, nothing changes.
  EXPECT_EQ(write(attr(kA, "ap_config"), "0x0,0x0"), std::errc::invalid_argument);
  // A 65th hex digit: EINVAL.
  EXPECT_EQ(write(attr(kA, "ap_config"), "0x" + std::string(65, 'f') + ",0x0,0x0\n"),
            std::errc::invalid_argument);
  // B would take 01.0001 from A: EADDRINUSE, B unchanged.
  EXPECT_EQ(write(attr(kB, "ap_config"), ap::format_ap_config(apm(1, 2), aqm(1), {})),
            std::errc::address_in_use);
  EXPECT_EQ(read(attr(kB, "ap_config")), ap::format_ap_config({}, {}, {}));
  // Host-reserved queue (02.0001: apmask and aqmask): EADDRNOTAVAIL, nothing
  // changes.
  ok(kApmask, "+2\n");
  ok(kAqmask, "+1\n");
  EXPECT_EQ(write(attr(kB, "ap_config"), ap::format_ap_config(apm(2), aqm(1), {})),
            std::errc::address_not_available);
  EXPECT_EQ(read(attr(kB, "ap_config")), ap::format_ap_config({}, {}, {}));
  EXPECT_EQ(read(attr(kA, "ap_config")), a_cfg);
  // Control domains may be shared (and host-reserved).
  EXPECT_OK(write(attr(kB, "ap_config"), ap::format_ap_config({}, {}, adm(1, 2))));
  expect_invariants();
}

// ---------------------------------------------------------------------------
// Row 12: Nov 2025 (6.19) s390 features branch: ap_perms_mutex renamed
// ap_attr_mutex; in_use checks with all-ones masks. The model starts with
// apmask/aqmask all ones (every queue the host's), assignment of a
// host-reserved queue is EADDRNOTAVAIL, and reserving an mdev's queue is
// EBUSY whatever form the apmask write takes (absolute or relative).
TEST_F(History, Row12_ReservationAndInUseWithAllOnesMasks) {
  ASSERT_OK(h.qci(qci_update{.apm = apm(1, 2), .aqm = aqm(1), .adm = adm(1)}));
  EXPECT_EQ(read(kApmask), "0x" + std::string(64, 'f') + "\n");
  create(kA);
  ok(attr(kA, "assign_adapter"), "1\n");  // no domain yet: no APQN
  EXPECT_EQ(write(attr(kA, "assign_domain"), "1\n"), std::errc::address_not_available);
  EXPECT_EQ(read(attr(kA, "matrix")), "01.\n") << "a refused assign changes nothing";
  ok(kApmask, "-1\n");
  ok(attr(kA, "assign_domain"), "1\n");
  const std::string mask = read(kApmask);
  EXPECT_EQ(write(kApmask, "+1\n"), std::errc::device_or_resource_busy);
  EXPECT_EQ(write(kApmask, "0x" + std::string(64, 'f') + "\n"), std::errc::device_or_resource_busy);
  EXPECT_EQ(read(kApmask), mask);
  expect_invariants();
}

// ---------------------------------------------------------------------------
// Row 13: [6.16] -> [7.3] code differences (commit titles not known).

// cfg_remove and hot_plug_cfg locked matrix_mdev->kvm->lock unconditionally:
// a NULL dereference for an mdev not attached to a guest. One attached and
// one unattached mdev go through a removal and an addition.
TEST_F(History, Row13_ConfigChangeWithAnUnattachedMdev) {
  host_config(apm(1, 2), aqm(1), adm(1));
  create(kA);
  create(kB);
  ok(attr(kA, "ap_config"), ap::format_ap_config(apm(1), aqm(1), adm(1)));
  ok(attr(kB, "ap_config"), ap::format_ap_config(apm(2), aqm(1), adm(1)));
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(kA, "g"));
  ASSERT_OK(h.qci(qci_update{.apm = ap::adapter_mask{}}));
  EXPECT_EQ(read(attr(kB, "guest_matrix")), ".0001\n");
  ASSERT_OK(h.qci(qci_update{.apm = apm(1, 2)}));
  EXPECT_EQ(read(attr(kB, "guest_matrix")), "02.0001\n");
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(1), aqm(1), adm(1)));
  expect_invariants();
  ASSERT_OK(h.vfio_close(kA));
}

// hot_unplug_cfg used "bitmap_andnot's result is non-empty" as "changed": when
// the removal emptied the shadow the guest was not updated, and kept an
// adapter the host no longer has.
TEST_F(History, Row13_GuestUpdatedWhenTheShadowBecomesEmpty) {
  host_config(apm(1, 2), aqm(1), adm(1));
  create(kA);
  ok(attr(kA, "ap_config"), ap::format_ap_config(apm(1), aqm(1), {}));
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(kA, "g"));
  ASSERT_EQ(crycb("g"), ap::format_ap_config(apm(1), aqm(1), {}));
  ASSERT_OK(h.qci(qci_update{.apm = apm(2)}));
  EXPECT_EQ(crycb("g"), ap::format_ap_config({}, aqm(1), {}))
      << "the shadow's apm became empty: the guest must lose adapter 1";
  EXPECT_EQ(read(attr(kA, "guest_matrix")), ".0001\n");
  EXPECT_EQ(read(attr(kA, "matrix")), "01.0001\n") << "config removal never changes the matrix";
  expect_invariants();
  ASSERT_OK(h.vfio_close(kA));
}

// cdrem was computed with bitmap_andnot(cd_remove, matrix.adm): the wrong
// operand. A removed control domain that is in the mdev's matrix must leave
// the guest (and only it).
TEST_F(History, Row13_RemovedControlDomainLeavesTheGuest) {
  host_config(apm(1), aqm(1), adm(1, 2, 3));
  create(kA);
  ok(attr(kA, "ap_config"), ap::format_ap_config(apm(1), aqm(1), adm(1, 2)));
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(kA, "g"));
  ASSERT_EQ(crycb("g"), ap::format_ap_config(apm(1), aqm(1), adm(1, 2)));
  ASSERT_OK(h.qci(qci_update{.adm = adm(1, 3)}));
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(1), aqm(1), adm(1)));
  EXPECT_EQ(read(attr(kA, "control_domains")), "0001\n0002\n") << "the matrix keeps it";
  // hot_plug_cfg with only control domains added: [6.16] passed an
  // uninitialised apm_filtered to reset_queues_for_apids. No queue may be
  // reset by a control-domain-only addition.
  h.clear_zapq_log();
  ASSERT_OK(h.qci(qci_update{.adm = adm(1, 2, 3)}));
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(1), aqm(1), adm(1, 2)));
  EXPECT_TRUE(h.zapq_log().empty()) << "a control-domain-only change resets nothing";
  expect_invariants();
  ASSERT_OK(h.vfio_close(kA));
}

// do_remove |= accumulated across mdevs: once one mdev had something
// removed, every later mdev went through hot_unplug_cfg, and with [6.16]'s
// "result non-empty means changed" its guest got a spurious APCB update.
// Here B holds adapter 2 only; the removal of A's ids must leave B's guest
// untouched (no APCB write at all), its shadow as it was, and reset nothing
// (removed queues are deconfigured). On its own the accumulation is masked by
// [7.3]'s intersects() check; the APCB write count shows the [6.16] pair.
TEST_F(History, Row13_RemovalIsPerMdev) {
  // Bystanders B (created before A) and C (after A): whatever order the
  // mdev list is walked in, one of them comes after A.
  constexpr const char* kC = "a1a2a3a4-0000-4000-8000-00000000000c";
  host_config(apm(1, 2, 3), aqm(1, 2, 3), adm(1, 2, 3));
  create(kB);
  create(kA);
  create(kC);
  ok(attr(kA, "ap_config"), ap::format_ap_config(apm(1), aqm(1), adm(1)));
  ok(attr(kB, "ap_config"), ap::format_ap_config(apm(2), aqm(2), adm(2)));
  ok(attr(kC, "ap_config"), ap::format_ap_config(apm(3), aqm(3), adm(3)));
  for (const char* g : {"ga", "gb", "gc"}) ASSERT_OK(h.kvm_create(g));
  ASSERT_OK(h.vfio_open(kA, "ga"));
  ASSERT_OK(h.vfio_open(kB, "gb"));
  ASSERT_OK(h.vfio_open(kC, "gc"));
  h.clear_zapq_log();
  using access = ordo::vfio_ap::host_test_access;
  const unsigned long ga = access::apcb_updates(h, "ga");
  const unsigned long gb = access::apcb_updates(h, "gb");
  const unsigned long gc = access::apcb_updates(h, "gc");
  ASSERT_OK(h.qci(qci_update{.apm = apm(2, 3), .aqm = aqm(2, 3), .adm = adm(2, 3)}));
  EXPECT_GT(access::apcb_updates(h, "ga"), ga);
  EXPECT_EQ(access::apcb_updates(h, "gb"), gb) << "B lost nothing: its guest's APCB must not be rewritten";
  EXPECT_EQ(access::apcb_updates(h, "gc"), gc) << "C lost nothing: its guest's APCB must not be rewritten";
  EXPECT_EQ(crycb("ga"), ap::format_ap_config({}, {}, {}));
  EXPECT_EQ(crycb("gb"), ap::format_ap_config(apm(2), aqm(2), adm(2)));
  EXPECT_EQ(crycb("gc"), ap::format_ap_config(apm(3), aqm(3), adm(3)));
  EXPECT_EQ(read(attr(kB, "guest_matrix")), "02.0002\n");
  EXPECT_TRUE(h.zapq_log().empty());
  expect_invariants();
  for (const char* u : {kA, kB, kC}) ASSERT_OK(h.vfio_close(u));
}

// set_kvm [6.16] overwrote kvm->arch.crypto.pqap_hook before the EPERM check:
// the losing mdev's hook stayed installed. [7.3] checks first. The winner's
// hook stays, the loser holds no reference, and the loser can open once the
// winner has closed.
TEST_F(History, Row13_EpermLeavesTheWinnersHook) {
  host_config(apm(1, 2), aqm(1), adm(1));
  create(kA);
  create(kB);
  ok(attr(kA, "ap_config"), ap::format_ap_config(apm(1), aqm(1), {}));
  ok(attr(kB, "ap_config"), ap::format_ap_config(apm(2), aqm(1), {}));
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(kA, "g"));
  EXPECT_EQ(h.vfio_open(kB, "g"), std::errc::operation_not_permitted);
  EXPECT_EQ(refs("g"), 2u) << "a failed open holds no reference";
  EXPECT_EQ(pqap("g", q(1, 1)), 0x00u) << "the winner's hook must stay installed";
  EXPECT_EQ(pqap("g", q(2, 1)), 0x01u) << "the loser's hook must not be installed";
  EXPECT_EQ(crycb("g"), ap::format_ap_config(apm(1), aqm(1), {}));
  EXPECT_EQ(read(status_path(q(2, 1))), "assigned\n");
  expect_invariants();
  ASSERT_OK(h.vfio_close(kA));
  EXPECT_EQ(pqap("g", q(1, 1)), 0x01u);
  ASSERT_OK(h.vfio_open(kB, "g"));
  EXPECT_EQ(pqap("g", q(2, 1)), 0x00u);
  ASSERT_OK(h.vfio_close(kB));
  EXPECT_EQ(refs("g"), 1u);
  expect_invariants();
}

// [7.3] status_show takes guests_lock before walking mdev_list ([6.16] took
// mdevs_lock only, while mdev_list belongs to guests_lock); [7.3] adds to
// mdev_list under guests_lock ([6.16]: mdevs_lock). Status readers race mdev
// create/remove; tsan reports an unguarded walk.
TEST_F(History, Row13_StatusWalksTheMdevListUnderGuestsLock) {
  host_config(apm(1), aqm(1), adm(1));
  std::atomic<bool> stop{false};
  std::atomic<unsigned long> bad{0};
  std::thread reader([&] {
    while (!stop.load()) {
      std::string s;
      if (h.sysfs_read(status_path(q(1, 1)), s) ||
          (s != "assigned\n" && s != "unassigned\n" && s != "in use\n")) {
        bad.fetch_add(1);
      }
    }
  });
  for (int i = 0; i < 60; ++i) {
    create(kA);
    ok(attr(kA, "assign_adapter"), "1\n");
    ok(attr(kA, "assign_domain"), "1\n");
    ok(attr(kA, "remove"), "1\n");
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0u);
  expect_invariants();
}

// get_safe (rows 1/2 with vfio_main's kvm_get_kvm_safe, seed 002): an open
// for a guest that is being destroyed loses cleanly: it fails and holds no
// reference, and an open for an unknown guest is ENOENT.
TEST_F(History, Row13_OpenForADyingGuestHoldsNothing) {
  host_config(apm(1), aqm(1), adm(1));
  create(kA);
  ok(attr(kA, "assign_adapter"), "1\n");
  ok(attr(kA, "assign_domain"), "1\n");
  const std::uint32_t kvm_module_refs = ordo::vfio_ap::host_test_access::module_refs(h, "kvm");
  EXPECT_EQ(h.vfio_open(kA, "nosuch"), std::errc::no_such_file_or_directory);
  int won = 0, lost = 0;
  for (int round = 0; round < 100; ++round) {
    ASSERT_OK(h.kvm_create("g"));
    // Both sides start together; either gets a head start of 0-3 yields.
    std::atomic<int> ready{0};
    const int destroy_delay = round % 4, open_delay = (round / 4) % 4;
    std::thread destroyer([&] {
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      for (int i = 0; i < destroy_delay; ++i) std::this_thread::yield();
      EXPECT_OK(h.kvm_destroy("g"));
    });
    ready.fetch_add(1);
    while (ready.load() < 2) std::this_thread::yield();
    for (int i = 0; i < open_delay; ++i) std::this_thread::yield();
    const auto ec = h.vfio_open(kA, "g");
    destroyer.join();
    if (!ec) {
      // Won: the mdev holds the last reference; the close frees the guest.
      ++won;
      ASSERT_OK(h.vfio_close(kA));
    } else {
      ++lost;
      EXPECT_TRUE(ec == std::errc::no_such_file_or_directory || ec == std::errc::invalid_argument)
          << ec.message();
      EXPECT_EQ(h.vfio_close(kA), std::errc::bad_file_descriptor) << "a lost open left the mdev open";
    }
    EXPECT_EQ(ordo::vfio_ap::host_test_access::module_refs(h, "kvm"), kvm_module_refs)
        << "round " << round << ": a symbol_get of the kvm module leaked";
    unsigned n = 0;
    EXPECT_EQ(h.kvm_refs("g", n), std::errc::no_such_file_or_directory) << "round " << round;
    expect_invariants();
  }
  std::printf("open vs destroy: open won %d, lost %d\n", won, lost);
}

// ---------------------------------------------------------------------------
// The virtio-ccw teardown lesson (seeds/004: "virtio/s390: fix virtio-ccw
// device teardown", Halil Pasic 2021, Fixes: 48720ba56891 "virtio/s390: use
// DMA memory for ccw I/O and classic notifiers"): the ccw device was freed
// while its DMA area still pointed into its pool. The fix: take a reference
// on the device before allocating the area, drop it after the area is freed.
// With ordo::ref the area holds the device, so teardown is safe in either
// order; the device is released exactly once, with no area outstanding.
TEST(HistoryCcw, DmaAreaKeepsItsDeviceAlive) {
  for (bool device_first : {true, false}) {
    const int released = ccw::devices_released.load();
    auto dev = ordo::make_ref<ccw::device>("0.0.5678");
    auto area = ccw::dma_area::zalloc(dev);
    ASSERT_TRUE(area);
    EXPECT_EQ(dev->kref_read(), 2u) << "the area pins its device";
    if (device_first) {
      dev.reset();
      EXPECT_EQ(ccw::devices_released.load(), released) << "device freed under its DMA area";
      area.free();
    } else {
      area.free();
      EXPECT_EQ(dev->kref_read(), 1u);
      dev.reset();
    }
    EXPECT_EQ(ccw::devices_released.load(), released + 1);
    EXPECT_EQ(ccw::released_with_areas.load(), 0);
  }
}

}  // namespace
