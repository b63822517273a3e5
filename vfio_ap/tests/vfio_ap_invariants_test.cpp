// check_invariants() is honest: each invariant of docs/vfio-ap-model.md §7 is
// broken on purpose through a test-only back door and the checker names it;
// and six threads hammering one host never see a broken invariant.
#include "vfio_ap_test_util.hpp"
#include "host_test_access.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace vfio_ap_test {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using access = ordo::vfio_ap::host_test_access;

// No TearDown check: these tests break the model on purpose.
class VfioApInvariants : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(h.sysfs_write("/sys/bus/ap/apmask", "0x0\n"));
    ASSERT_FALSE(h.qci({.apm = adapters({1, 2}), .aqm = domains({4, 5})}));
    for (const char* u : {uuid_a, uuid_b}) {
      ASSERT_FALSE(h.sysfs_write(type_dir + "create", std::string(u) + "\n"));
    }
    ASSERT_FALSE(h.sysfs_write(std::string(matrix_dir) + uuid_a + "/ap_config",
                               ordo::ap::format_ap_config(adapters({1}), domains({4, 5}), {})));
    ASSERT_FALSE(h.sysfs_write(std::string(matrix_dir) + uuid_b + "/ap_config",
                               ordo::ap::format_ap_config(adapters({2}), domains({4}), {})));
    ASSERT_FALSE(h.kvm_create("g"));
    ASSERT_FALSE(h.vfio_open(uuid_a, "g"));
    ASSERT_THAT(h.check_invariants(), IsEmpty());
  }
  ordo::vfio_ap::host h;
};

TEST_F(VfioApInvariants, I1SharedQueueIsReported) {
  access::with_mdev(h, uuid_b, [](ordo::vfio_ap::mdev& m) { m.matrix.apm.set(apid{1}); });
  EXPECT_THAT(h.check_invariants(), Contains(HasSubstr("I1: queue 01.0004 is in the matrix")));
}

// Each invariant is checked alone: a violation shows under its own check
// and under no other (what an incremental checker relies on).
TEST_F(VfioApInvariants, EachInvariantIsCheckedAlone) {
  using ordo::vfio_ap::invariant;
  access::with_mdev(h, uuid_b, [](ordo::vfio_ap::mdev& m) { m.matrix.apm.set(apid{1}); });
  const invariant i1[] = {invariant::i1};
  EXPECT_THAT(h.check_invariants(i1), Contains(HasSubstr("I1: queue 01.0004 is in the matrix")));
  for (invariant other : ordo::vfio_ap::all_invariants) {
    if (other == invariant::i1) continue;
    const invariant alone[] = {other};
    EXPECT_THAT(h.check_invariants(alone), IsEmpty()) << static_cast<int>(other);
  }
  access::reserve_everything(h);
  const invariant i2[] = {invariant::i2};
  EXPECT_THAT(h.check_invariants(i2), ::testing::Each(HasSubstr("I2: ")));
  EXPECT_THAT(h.check_invariants(i2), ::testing::Not(IsEmpty()));
  EXPECT_THAT(h.check_invariants(i1), ::testing::Each(HasSubstr("I1: ")));
}

TEST_F(VfioApInvariants, I2HostReservedQueueIsReported) {
  access::reserve_everything(h);
  EXPECT_THAT(h.check_invariants(),
              Contains(HasSubstr("I2: queue 01.0004 of mdev " + std::string(uuid_a))));
}

TEST_F(VfioApInvariants, I3MissingResetIsReported) {
  access::forget_a_reset(h, q(1, 4));
  EXPECT_THAT(h.check_invariants(),
              Contains(HasSubstr("I3: queue 01.0004 left a guest's APCB while configured")));
}

TEST_F(VfioApInvariants, I3ResetOutsideTheConfigurationIsReported) {
  // The model never resets a deconfigured queue (it would answer 0x01);
  // issue such a ZAPQ through the back door.
  access::zapq(h, q(9, 9));
  EXPECT_THAT(h.check_invariants(),
              Contains(HasSubstr("I3: queue 09.0009 was reset while outside the host "
                                 "configuration")));
}

TEST_F(VfioApInvariants, I4ShadowOutsideTheMatrixIsReported) {
  access::with_mdev(h, uuid_a, [](ordo::vfio_ap::mdev& m) { m.shadow.apm.set(apid{2}); });
  const std::vector<std::string> broken = h.check_invariants();
  EXPECT_THAT(broken, Contains(HasSubstr("I4: shadow APCB of mdev " + std::string(uuid_a))));
  EXPECT_THAT(broken, Contains(HasSubstr("I4: queue 02.0004 is in the shadow APCB")));
  EXPECT_THAT(broken, Contains(HasSubstr("I6: the APCB of guest g differs")));
}

TEST_F(VfioApInvariants, I5ClearedHookIsReported) {
  access::clear_hook(h, "g");
  EXPECT_THAT(h.check_invariants(),
              Contains(HasSubstr("I5: the PQAP hook of guest g does not belong to its mdev")));
}

TEST_F(VfioApInvariants, I6LeakedReferenceIsReported) {
  ordo::vfio_ap::kvm* k = access::guest(h, "g");
  ordo::vfio_ap::kvm* leaked = ordo::get_ref(*k).release();  // a get without a put
  EXPECT_THAT(h.check_invariants(),
              Contains(HasSubstr("I6: guest g holds 3 references, expected 2")));
  ordo::adopt_ref(leaked).reset();  // the put
  EXPECT_THAT(h.check_invariants(), IsEmpty());
}

TEST_F(VfioApInvariants, I6StaleGuestApcbIsReported) {
  access::clear_masks(h, "g");
  EXPECT_THAT(h.check_invariants(), Contains(HasSubstr("I6: the APCB of guest g differs")));
}

TEST_F(VfioApInvariants, StaleUsableIndexIsReported) {
  access::with_mdev(h, uuid_a, [](ordo::vfio_ap::mdev& m) { m.usable[1].clear(apqi{4}); });
  EXPECT_THAT(h.check_invariants(), Contains(HasSubstr("model: usable index of mdev")));
}

// Six threads on one host (sized for 2 cores, bounded in time): hot plug,
// PQAP, open/close, host config changes, apmask and bind/unbind, and the
// checker itself, which must always see a consistent, valid state.
TEST(VfioApThreads, SixThreadsNeverBreakAnInvariant) {
  ordo::vfio_ap::host h;
  ASSERT_FALSE(h.sysfs_write("/sys/bus/ap/apmask", "0x0\n"));
  ASSERT_FALSE(h.qci({.apm = adapters({1, 2, 3, 4}), .aqm = domains({4, 5, 6})}));
  for (const char* u : {uuid_a, uuid_b}) {
    ASSERT_FALSE(h.sysfs_write(type_dir + "create", std::string(u) + "\n"));
  }
  const std::string a = std::string(matrix_dir) + uuid_a + "/";
  const std::string b = std::string(matrix_dir) + uuid_b + "/";
  ASSERT_FALSE(h.sysfs_write(a + "ap_config",
                             ordo::ap::format_ap_config(adapters({1}), domains({4, 5}), {})));
  ASSERT_FALSE(h.sysfs_write(b + "ap_config",
                             ordo::ap::format_ap_config(adapters({2}), domains({4, 5}), {})));
  ASSERT_FALSE(h.kvm_create("ga"));
  ASSERT_FALSE(h.kvm_create("gb"));
  ASSERT_FALSE(h.vfio_open(uuid_a, "ga"));

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<long> ops{0};
  const auto expect = [&](bool ok) {
    if (!ok) failures.fetch_add(1, std::memory_order_relaxed);
    ops.fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<std::thread> threads;
  threads.reserve(6);
  threads.emplace_back([&] {  // hot plug / unplug on an attached mdev
    while (!stop.load(std::memory_order_relaxed)) {
      expect(!h.sysfs_write(a + "assign_adapter", "3\n"));
      expect(!h.sysfs_write(a + "assign_domain", "6\n"));
      expect(!h.sysfs_write(a + "unassign_adapter", "3\n"));
      expect(!h.sysfs_write(a + "unassign_domain", "6\n"));
    }
  });
  threads.emplace_back([&] {  // vCPU: PQAP through A's hook
    while (!stop.load(std::memory_order_relaxed)) {
      unsigned rc = 0xff;
      expect(!h.pqap("ga", q(1, 4), rc) && rc == 0x00);
      expect(!h.pqap("ga", q(2, 4), rc) && rc == 0x01);
    }
  });
  threads.emplace_back([&] {  // open / close B, PQAP on its guest
    while (!stop.load(std::memory_order_relaxed)) {
      expect(!h.vfio_open(uuid_b, "gb"));
      expect(h.vfio_open(uuid_b, "ga") == std::errc::device_or_resource_busy);
      unsigned rc = 0xff;
      expect(!h.pqap("gb", q(2, 5), rc) && rc == 0x00);
      expect(!h.vfio_close(uuid_b));
    }
  });
  threads.emplace_back([&] {  // host configuration changes: adapter 3 (hot-plugged
    while (!stop.load(std::memory_order_relaxed)) {  // by the first thread) comes and goes
      expect(!h.qci({.apm = adapters({1, 2, 4})}));
      expect(!h.qci({.apm = adapters({1, 2, 3, 4})}));
    }
  });
  threads.emplace_back([&] {  // apmask and manual bind/unbind
    while (!stop.load(std::memory_order_relaxed)) {
      expect(!h.sysfs_write("/sys/bus/ap/apmask", "+200\n"));
      expect(h.sysfs_write("/sys/bus/ap/apmask", "+1\n") == std::errc::device_or_resource_busy);
      expect(!h.sysfs_write("/sys/bus/ap/apmask", "-200\n"));
      std::error_code ec = h.sysfs_write("/sys/bus/ap/drivers/vfio_ap/unbind", "03.0006\n");
      expect(!ec || ec == std::errc::no_such_device);
      ec = h.sysfs_write("/sys/bus/ap/drivers/vfio_ap/bind", "03.0006\n");
      expect(!ec || ec == std::errc::no_such_device || ec == std::errc::device_or_resource_busy);
    }
  });
  threads.emplace_back([&] {  // the checker, concurrently
    while (!stop.load(std::memory_order_relaxed)) {
      const std::vector<std::string> broken = h.check_invariants();
      expect(broken.empty());
      for (const std::string& line : broken) ADD_FAILURE() << line;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  stop.store(true, std::memory_order_relaxed);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(ops.load(), 6);
  EXPECT_THAT(h.check_invariants(), IsEmpty());
  unsigned refs = 0;
  ASSERT_FALSE(h.kvm_refs("gb", refs));
  EXPECT_EQ(refs, 1u);
}

}  // namespace
}  // namespace vfio_ap_test
