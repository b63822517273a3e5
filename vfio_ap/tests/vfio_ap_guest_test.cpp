// Guests, open/close (set_kvm/unset_kvm), the KVM reference taken through
// symbol_get, the PQAP intercept and mdev removal of the vfio_ap model
// (docs/vfio-ap-model.md §1.7, §4.2, §4.3, §4.7, §4.9, §5 rows 1-6, 13).
#include "vfio_ap_test_util.hpp"
#include "host_test_access.hpp"

#include <string>
#include "expect_ok.hpp"

namespace vfio_ap_test {
namespace {

using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using access = ordo::vfio_ap::host_test_access;

class VfioApGuest : public VfioApTest {
 protected:
  void SetUp() override {
    host_with({1, 2}, {4, 5});
    mdev_with(uuid_a, {1}, {4, 5});
    mdev_with(uuid_b, {2}, {4});
  }
  const std::string empty_apcb =
      ordo::ap::format_ap_config(adapters({}), domains({}), cdoms({}));
};

TEST_F(VfioApGuest, GuestLifecycle) {
  EXPECT_EQ(h.kvm_create(""), std::errc::invalid_argument);
  ASSERT_OK(h.kvm_create("g1"));
  EXPECT_EQ(h.kvm_create("g1"), std::errc::file_exists);
  EXPECT_EQ(refs("g1"), 1u);
  EXPECT_EQ(crycb("g1"), empty_apcb);
  EXPECT_EQ(h.kvm_destroy("nope"), std::errc::no_such_file_or_directory);
  unsigned n = 7;
  EXPECT_EQ(h.kvm_refs("nope", n), std::errc::no_such_file_or_directory);
  EXPECT_EQ(n, 7u);
  std::string out;
  EXPECT_EQ(h.kvm_crycb("nope", out), std::errc::no_such_file_or_directory);
  unsigned rc = 0;
  EXPECT_EQ(h.pqap("nope", q(1, 4), rc), std::errc::no_such_file_or_directory);
  ASSERT_OK(h.kvm_destroy("g1"));
  EXPECT_EQ(h.kvm_refs("g1", n), std::errc::no_such_file_or_directory);
  EXPECT_OK(h.kvm_create("g1"));  // the name is free again
}

TEST_F(VfioApGuest, OpenTakesOneReferenceAndCloseDropsIt) {
  ASSERT_OK(h.kvm_create("g"));
  EXPECT_EQ(access::module_refs(h, "kvm"), 0u);
  ASSERT_OK(h.vfio_open(uuid_a, "g"));
  EXPECT_EQ(refs("g"), 2u);
  EXPECT_EQ(access::module_refs(h, "kvm"), 1u);  // vfio keeps kvm_put_kvm
  EXPECT_EQ(crycb("g"), ordo::ap::format_ap_config(adapters({1}), domains({4, 5}), cdoms({})));
  h.clear_zapq_log();
  ASSERT_OK(h.vfio_close(uuid_a));
  EXPECT_EQ(refs("g"), 1u);
  EXPECT_EQ(access::module_refs(h, "kvm"), 0u);
  EXPECT_EQ(crycb("g"), empty_apcb);
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 4}, {1, 5}})));  // I6: detach resets
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n01.0005\n");           // shadow kept
}

TEST_F(VfioApGuest, OpenAndCloseErrors) {
  ASSERT_OK(h.kvm_create("g"));
  EXPECT_EQ(h.vfio_open(uuid_c, "g"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(h.vfio_open("not-a-uuid", "g"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(h.vfio_open(uuid_a, "nope"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(refs("g"), 1u);
  EXPECT_EQ(h.vfio_close(uuid_a), std::errc::bad_file_descriptor);
  EXPECT_EQ(h.vfio_close(uuid_c), std::errc::no_such_file_or_directory);
  ASSERT_OK(h.vfio_open("11111111-2222-3333-4444-555555555555", "g"));
  EXPECT_EQ(h.vfio_open(uuid_a, "g"), std::errc::device_or_resource_busy);
  EXPECT_EQ(refs("g"), 2u);
  ASSERT_OK(h.vfio_close(uuid_a));
  EXPECT_EQ(h.vfio_close(uuid_a), std::errc::bad_file_descriptor);
}

TEST_F(VfioApGuest, SecondMdevForTheSameGuestIsEpermAndTheWinnerKeepsItsHook) {
  // §4.2 [6.16] NOTE: the loser's set_kvm overwrote the hook first; every
  // PQAP of the guest then went to the losing mdev. Not here (I5).
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(uuid_a, "g"));
  EXPECT_EQ(h.vfio_open(uuid_b, "g"), std::errc::operation_not_permitted);
  EXPECT_EQ(refs("g"), 2u);  // the failed open holds no reference
  EXPECT_EQ(pqap("g", q(1, 4)), 0x00u);  // A's queue: A's hook answers
  EXPECT_EQ(pqap("g", q(2, 4)), 0x01u);  // B's queue is not A's
  EXPECT_EQ(crycb("g"), ordo::ap::format_ap_config(adapters({1}), domains({4, 5}), cdoms({})));
  EXPECT_EQ(h.vfio_close(uuid_b), std::errc::bad_file_descriptor);
  // B can serve another guest.
  ASSERT_OK(h.kvm_create("g2"));
  ASSERT_OK(h.vfio_open(uuid_b, "g2"));
  EXPECT_EQ(pqap("g2", q(2, 4)), 0x00u);
  EXPECT_EQ(read("/sys/bus/ap/devices/02.0004/status"), "in use\n");
}

TEST_F(VfioApGuest, PqapGoesThroughTheHookToTheQueueTable) {
  ASSERT_OK(h.kvm_create("g"));
  EXPECT_EQ(pqap("g", q(1, 4)), 0x01u);  // no hook
  ASSERT_OK(h.vfio_open(uuid_a, "g"));
  EXPECT_EQ(pqap("g", q(1, 4)), 0x00u);
  EXPECT_EQ(pqap("g", q(1, 5)), 0x00u);
  EXPECT_EQ(pqap("g", q(1, 6)), 0x01u);  // not in the table
  EXPECT_EQ(pqap("g", q(2, 4)), 0x01u);  // another mdev's queue
  // A queue filtered out of the shadow is still in the table: rc 0 (§4.9).
  ASSERT_OK(write("/sys/bus/ap/drivers/vfio_ap/unbind", "01.0005\n"));
  EXPECT_EQ(guest_matrix(uuid_a), ".0004\n.0005\n");
  EXPECT_EQ(pqap("g", q(1, 4)), 0x00u);
  EXPECT_EQ(pqap("g", q(1, 5)), 0x01u);  // unbound: gone from the table
  ASSERT_OK(h.vfio_close(uuid_a));
  EXPECT_EQ(pqap("g", q(1, 4)), 0x01u);  // hook cleared
}

TEST_F(VfioApGuest, ADestroyedGuestLivesUntilTheLastClose) {
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(uuid_a, "g"));
  ASSERT_OK(h.kvm_destroy("g"));  // the creator lets go
  EXPECT_EQ(refs("g"), 1u);          // the open mdev's reference
  EXPECT_EQ(h.kvm_destroy("g"), std::errc::no_such_file_or_directory);  // no creator left
  EXPECT_EQ(h.kvm_create("g"), std::errc::file_exists);  // still alive
  EXPECT_EQ(pqap("g", q(1, 4)), 0x00u);                  // its vCPUs still run
  EXPECT_EQ(crycb("g"), ordo::ap::format_ap_config(adapters({1}), domains({4, 5}), cdoms({})));
  EXPECT_EQ(h.vfio_open(uuid_b, "g"), std::errc::operation_not_permitted);
  EXPECT_THAT(h.check_invariants(), IsEmpty());
  ASSERT_OK(h.vfio_close(uuid_a));  // the last reference: the guest is gone
  unsigned n = 0;
  EXPECT_EQ(h.kvm_refs("g", n), std::errc::no_such_file_or_directory);
  std::string out;
  EXPECT_EQ(h.kvm_crycb("g", out), std::errc::no_such_file_or_directory);
  EXPECT_EQ(h.pqap("g", q(1, 4), n), std::errc::no_such_file_or_directory);
  EXPECT_EQ(h.vfio_open(uuid_a, "g"), std::errc::no_such_file_or_directory);
  ASSERT_OK(h.kvm_create("g"));  // the name is free
  EXPECT_EQ(refs("g"), 1u);
}

TEST_F(VfioApGuest, RemovingAnOpenMdevReleasesEverything) {
  // §5 row 4: remove cannot veto; it must release the guest's reference,
  // clear the masks and reset the queues.
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(uuid_a, "g"));
  h.clear_zapq_log();
  ASSERT_OK(write(mdev(uuid_a, "remove"), "1\n"));
  EXPECT_EQ(refs("g"), 1u);
  EXPECT_EQ(crycb("g"), empty_apcb);
  EXPECT_EQ(pqap("g", q(1, 4)), 0x01u);
  // Closing on detach, then the remove path: each linked queue reset.
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 4}, {1, 5}, {1, 4}, {1, 5}})));
  EXPECT_EQ(h.vfio_close(uuid_a), std::errc::no_such_file_or_directory);
  EXPECT_EQ(read("/sys/bus/ap/devices/01.0004/status"), "unassigned\n");
  EXPECT_EQ(access::module_refs(h, "kvm"), 0u);
}

TEST_F(VfioApGuest, TheKvmModuleIsPinnedWhileADeviceHoldsAGuest) {
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(uuid_a, "g"));
  EXPECT_EQ(access::try_unload(h, "kvm"), std::errc::device_or_resource_busy);
  ASSERT_OK(h.vfio_close(uuid_a));
  ASSERT_OK(access::try_unload(h, "kvm"));
  // Without kvm, VFIO cannot get a guest reference: the open fails cleanly.
  EXPECT_EQ(h.vfio_open(uuid_a, "g"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(refs("g"), 1u);
}

TEST_F(VfioApGuest, DeviceResetResetsEveryQueueAndReportsFailures) {
  ASSERT_OK(h.kvm_create("g"));
  EXPECT_EQ(h.vfio_reset(uuid_a), std::errc::bad_file_descriptor);
  EXPECT_EQ(h.vfio_reset(uuid_c), std::errc::no_such_file_or_directory);
  ASSERT_OK(h.vfio_open(uuid_a, "g"));
  h.clear_zapq_log();
  EXPECT_OK(h.vfio_reset(uuid_a));
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 4}, {1, 5}})));
  ASSERT_OK(h.zapq_fault(q(1, 5), 0x05));
  EXPECT_EQ(h.vfio_reset(uuid_a), std::errc::io_error);
  ASSERT_OK(h.zapq_fault(q(1, 5), 0));
  EXPECT_OK(h.vfio_reset(uuid_a));
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n01.0005\n");  // a reset changes no APCB
}

TEST_F(VfioApGuest, HotPlugWhileAttachedUpdatesTheGuest) {
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(uuid_b, "g"));
  ASSERT_OK(assign_domain(uuid_b, 5));
  EXPECT_EQ(crycb("g"), ordo::ap::format_ap_config(adapters({2}), domains({4, 5}), cdoms({})));
  ASSERT_OK(write_id(uuid_b, "assign_control_domain", 9));
  EXPECT_EQ(crycb("g"), ordo::ap::format_ap_config(adapters({2}), domains({4, 5}), cdoms({})));
  ASSERT_OK(h.qci({.adm = cdoms({9})}));
  EXPECT_EQ(crycb("g"), ordo::ap::format_ap_config(adapters({2}), domains({4, 5}), cdoms({9})));
  EXPECT_EQ(read(mdev(uuid_b, "guest_matrix")), "02.0004\n02.0005\n");
}

}  // namespace
}  // namespace vfio_ap_test
