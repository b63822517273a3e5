// Filtering, hot plug and unplug, queue resets, queue probe/remove and host
// configuration changes of the vfio_ap model (docs/vfio-ap-model.md §3.3-3.5,
// §4.4-4.6) and the §5 regressions that are runtime behaviour. ZAPQs are
// checked exactly through the firmware's log.
#include "vfio_ap_test_util.hpp"
#include "host_test_access.hpp"

#include <string>
#include "expect_ok.hpp"

namespace vfio_ap_test {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using access = ordo::vfio_ap::host_test_access;

class VfioApHotplug : public VfioApTest {
 protected:
  std::string apcb_of(std::initializer_list<unsigned> apids, std::initializer_list<unsigned> apqis,
                      std::initializer_list<unsigned> adm = {}) {
    return ordo::ap::format_ap_config(adapters(apids), domains(apqis), cdoms(adm));
  }
  void open_guest(std::string_view uuid, std::string_view guest) {
    ASSERT_OK(h.kvm_create(guest));
    ASSERT_OK(h.vfio_open(uuid, guest));
  }
};

TEST_F(VfioApHotplug, WholeMatrixIsFilteredWhenADomainIsAssigned) {
  // §5 row 8 ("always filter entire AP matrix"): adapters 14 and 16, domains
  // 4, 5, then 6 while queue 16.0006 is not bound to vfio_ap. Adapter 16
  // leaves the guest completely, and its queues are reset.
  host_with({14, 16}, {4, 5, 6});
  ASSERT_OK(write("/sys/bus/ap/drivers/vfio_ap/unbind", "10.0006\n"));
  mdev_with(uuid_a, {14, 16}, {4, 5});
  open_guest(uuid_a, "guest");
  EXPECT_EQ(guest_matrix(uuid_a), "0e.0004\n0e.0005\n10.0004\n10.0005\n");
  EXPECT_EQ(crycb("guest"), apcb_of({14, 16}, {4, 5}));
  h.clear_zapq_log();
  ASSERT_OK(assign_domain(uuid_a, 6));
  EXPECT_EQ(guest_matrix(uuid_a), "0e.0004\n0e.0005\n0e.0006\n");
  EXPECT_EQ(matrix(uuid_a), "0e.0004\n0e.0005\n0e.0006\n10.0004\n10.0005\n10.0006\n");
  EXPECT_EQ(crycb("guest"), apcb_of({14}, {4, 5, 6}));
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{16, 4}, {16, 5}})));
  // Binding the missing queue plugs adapter 16 back (probe filters).
  h.clear_zapq_log();
  ASSERT_OK(write("/sys/bus/ap/drivers/vfio_ap/bind", "10.0006\n"));
  EXPECT_EQ(guest_matrix(uuid_a),
            "0e.0004\n0e.0005\n0e.0006\n10.0004\n10.0005\n10.0006\n");
  EXPECT_EQ(crycb("guest"), apcb_of({14, 16}, {4, 5, 6}));
  EXPECT_THAT(h.zapq_log(), IsEmpty());
}

TEST_F(VfioApHotplug, UnassignResetsExactlyTheQueuesLeavingTheGuest) {
  host_with({1, 2}, {4, 5});
  mdev_with(uuid_a, {1, 2}, {4, 5});
  open_guest(uuid_a, "guest");
  h.clear_zapq_log();
  ASSERT_OK(write_id(uuid_a, "unassign_adapter", 2));
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n01.0005\n");
  EXPECT_EQ(crycb("guest"), apcb_of({1}, {4, 5}));
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{2, 4}, {2, 5}})));
  h.clear_zapq_log();
  ASSERT_OK(write_id(uuid_a, "unassign_domain", 5));
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n");
  EXPECT_EQ(crycb("guest"), apcb_of({1}, {4}));
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 5}})));
  EXPECT_EQ(read("/sys/bus/ap/devices/02.0004/status"), "unassigned\n");
  // Re-assigning plugs without a reset.
  h.clear_zapq_log();
  ASSERT_OK(assign_adapter(uuid_a, 2));
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n02.0004\n");
  EXPECT_THAT(h.zapq_log(), IsEmpty());
}

TEST_F(VfioApHotplug, ControlDomainsFollowMatrixAndHost) {
  host_with({1}, {4}, {3, 5});
  mdev_with(uuid_a, {1}, {4});
  open_guest(uuid_a, "guest");
  for (unsigned d : {3, 5, 7}) ASSERT_OK(write_id(uuid_a, "assign_control_domain", d));
  EXPECT_EQ(crycb("guest"), apcb_of({1}, {4}, {3, 5}));
  // §5 row 13: cdrem = prev.adm & ~cur.adm (not the [6.16] operand mix-up);
  // an added control domain is plugged at scan complete.
  ASSERT_OK(h.qci({.adm = cdoms({5, 7})}));
  EXPECT_EQ(crycb("guest"), apcb_of({1}, {4}, {5, 7}));
  ASSERT_OK(write_id(uuid_a, "unassign_control_domain", 5));
  EXPECT_EQ(crycb("guest"), apcb_of({1}, {4}, {7}));
  EXPECT_EQ(read(mdev(uuid_a, "control_domains")), "0003\n0007\n");
}

TEST_F(VfioApHotplug, HostConfigRemovalUnplugsWithoutResetAndReAddPlugsBack) {
  host_with({1, 2}, {4});
  mdev_with(uuid_a, {1, 2}, {4});
  open_guest(uuid_a, "guest");
  h.clear_zapq_log();
  ASSERT_OK(h.qci({.apm = adapters({1})}));
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n");
  EXPECT_EQ(matrix(uuid_a), "01.0004\n02.0004\n");  // over-provisioned, kept
  EXPECT_EQ(crycb("guest"), apcb_of({1}, {4}));
  EXPECT_THAT(h.zapq_log(), IsEmpty());  // a deconfigured queue is not reset
  std::string out;
  EXPECT_EQ(h.sysfs_read("/sys/bus/ap/devices/02.0004/status", out),
            std::errc::no_such_file_or_directory);
  ASSERT_OK(h.qci({.apm = adapters({1, 2})}));
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n02.0004\n");
  EXPECT_EQ(crycb("guest"), apcb_of({1, 2}, {4}));
  EXPECT_THAT(h.zapq_log(), IsEmpty());
  // Domains likewise.
  ASSERT_OK(h.qci({.aqm = domains({})}));
  EXPECT_EQ(guest_matrix(uuid_a), "01.\n02.\n");
  EXPECT_EQ(crycb("guest"), apcb_of({1, 2}, {}));
  EXPECT_THAT(h.zapq_log(), IsEmpty());
}

TEST_F(VfioApHotplug, OverProvisionedAdapterIsPluggedWhenItAppears) {
  host_with({1}, {4});
  mdev_with(uuid_a, {1, 7}, {4});
  open_guest(uuid_a, "guest");
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n");
  ASSERT_OK(h.qci({.apm = adapters({1, 7})}));
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n07.0004\n");
  EXPECT_EQ(crycb("guest"), apcb_of({1, 7}, {4}));
  EXPECT_EQ(read("/sys/bus/ap/devices/07.0004/status"), "in use\n");
}

TEST_F(VfioApHotplug, ConfigRemovalWithADetachedMdevIsFine) {
  // §5 row 13: [6.16] locked kvm->lock of an mdev without a guest.
  host_with({1, 2}, {4});
  mdev_with(uuid_a, {1, 2}, {4});
  ASSERT_OK(h.qci({.apm = adapters({2})}));
  EXPECT_EQ(guest_matrix(uuid_a), "02.0004\n");
  ASSERT_OK(h.qci({.apm = adapters({1, 2})}));
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n02.0004\n");
}

TEST_F(VfioApHotplug, GuestIsUpdatedWhenItsShadowBecomesEmpty) {
  // §5 row 13: [6.16] used "result non-empty" as "changed" and skipped the
  // update when the last adapter went.
  host_with({1}, {4});
  mdev_with(uuid_a, {1}, {4});
  open_guest(uuid_a, "guest");
  ASSERT_OK(h.qci({.apm = adapters({})}));
  EXPECT_EQ(guest_matrix(uuid_a), ".0004\n");
  EXPECT_EQ(crycb("guest"), apcb_of({}, {4}));
}

TEST_F(VfioApHotplug, ConfigRemovalTouchesOnlyTheMdevsThatUseIt) {
  // §5 row 13: [6.16] accumulated do_remove across mdevs, updating guests
  // that were not affected.
  host_with({1, 2}, {4});
  mdev_with(uuid_a, {1}, {4});
  mdev_with(uuid_b, {2}, {4});
  open_guest(uuid_a, "ga");
  open_guest(uuid_b, "gb");
  const unsigned long a_before = access::apcb_updates(h, "ga");
  const unsigned long b_before = access::apcb_updates(h, "gb");
  ASSERT_OK(h.qci({.apm = adapters({2})}));
  EXPECT_EQ(access::apcb_updates(h, "ga"), a_before + 1);
  EXPECT_EQ(access::apcb_updates(h, "gb"), b_before);
  EXPECT_EQ(crycb("gb"), apcb_of({2}, {4}));
}

TEST_F(VfioApHotplug, UnboundShadowQueueUnplugsItsWholeAdapterAndResetsIt) {
  // §5 row 8: "reset queues associated with adapter for queue unbound from
  // driver".
  host_with({1}, {4, 5});
  mdev_with(uuid_a, {1}, {4, 5});
  open_guest(uuid_a, "guest");
  h.clear_zapq_log();
  ASSERT_OK(write("/sys/bus/ap/drivers/vfio_ap/unbind", "01.0004\n"));
  EXPECT_EQ(guest_matrix(uuid_a), ".0004\n.0005\n");
  EXPECT_EQ(crycb("guest"), apcb_of({}, {4, 5}));
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 4}, {1, 5}})));
  h.clear_zapq_log();
  ASSERT_OK(write("/sys/bus/ap/drivers/vfio_ap/bind", "01.0004\n"));
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n01.0005\n");
  EXPECT_EQ(crycb("guest"), apcb_of({1}, {4, 5}));
  EXPECT_THAT(h.zapq_log(), IsEmpty());
}

TEST_F(VfioApHotplug, UnboundQueueOutsideAnyShadowIsResetIfConfigured) {
  host_with({1}, {4, 5});
  mdev_with(uuid_a, {1}, {4});
  h.clear_zapq_log();
  ASSERT_OK(write("/sys/bus/ap/drivers/vfio_ap/unbind", "01.0005\n"));
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 5}})));
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n");
}

TEST_F(VfioApHotplug, ApmaskChangeUnbindsAndRebindsQueues) {
  host_with({1}, {4});
  mdev_with(uuid_a, {1}, {4});
  ASSERT_OK(write("/sys/bus/ap/aqmask", "+4\n"));  // no adapter reserved: no APQN
  ASSERT_OK(write("/sys/bus/ap/apmask", "+2\n"));  // 02.0004 reserved; not A's
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n");
  ASSERT_OK(h.qci({.apm = adapters({1, 2})}));
  std::string out;
  EXPECT_EQ(h.sysfs_read("/sys/bus/ap/devices/02.0004/status", out),
            std::errc::no_such_file_or_directory);  // bound to the host driver
  ASSERT_OK(write("/sys/bus/ap/apmask", "-2\n"));
  EXPECT_EQ(read("/sys/bus/ap/devices/02.0004/status"), "unassigned\n");
}

TEST_F(VfioApHotplug, BusyResetMakesAQueueUnpassableUntilAGoodReset) {
  host_with({1}, {4, 5});
  mdev_with(uuid_a, {1}, {4, 5});
  open_guest(uuid_a, "guest");
  ASSERT_OK(h.zapq_fault(q(1, 4), 0x05));
  h.clear_zapq_log();
  ASSERT_OK(write_id(uuid_a, "unassign_domain", 4));
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 4}})));  // busy: polled, given up
  h.clear_zapq_log();
  ASSERT_OK(assign_domain(uuid_a, 4));  // 01.0004 is not passable: adapter 1 dropped
  EXPECT_EQ(guest_matrix(uuid_a), ".0004\n.0005\n");
  EXPECT_EQ(crycb("guest"), apcb_of({}, {4, 5}));
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 4}, {1, 5}})));
  // Clear the fault; a reset that ends NORMAL makes it passable again.
  ASSERT_OK(h.zapq_fault(q(1, 4), 0));
  h.clear_zapq_log();
  ASSERT_OK(h.vfio_close(uuid_a));  // unset_kvm resets every linked queue
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 4}, {1, 5}})));
  EXPECT_EQ(crycb("guest"), apcb_of({}, {}));
  ASSERT_OK(h.vfio_open(uuid_a, "guest"));
  EXPECT_EQ(crycb("guest"), apcb_of({}, {4, 5}));  // set_kvm pushes the shadow as is
  ASSERT_OK(write_id(uuid_a, "unassign_domain", 5));
  ASSERT_OK(assign_domain(uuid_a, 5));  // the next filter plugs adapter 1 back
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n01.0005\n");
  EXPECT_EQ(crycb("guest"), apcb_of({1}, {4, 5}));
}

TEST_F(VfioApHotplug, ResetResponseCodesDecidePassability) {
  host_with({1, 2, 3}, {4});
  mdev_with(uuid_a, {1, 2, 3}, {4});
  ASSERT_OK(h.zapq_fault(q(1, 4), 0x03));  // deconfigured: passable
  ASSERT_OK(h.zapq_fault(q(2, 4), 0x35));  // association failure: WARN, not passable
  ASSERT_OK(h.zapq_fault(q(3, 4), 0x02));  // reset in progress forever: not passable
  EXPECT_EQ(h.zapq_fault(q(3, 4), 0x100), std::errc::invalid_argument);
  h.clear_zapq_log();
  ASSERT_OK(write_id(uuid_a, "unassign_domain", 4));
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 4}, {2, 4}, {3, 4}})));
  EXPECT_THAT(h.kernel_log(), ElementsAre(HasSubstr("ZAPQ of queue 02.0004: rc=0x35")));
  ASSERT_OK(assign_domain(uuid_a, 4));
  EXPECT_EQ(guest_matrix(uuid_a), "01.0004\n");
}

TEST_F(VfioApHotplug, ApConfigStoreUnplugsAndPlugs) {
  host_with({1, 2, 3}, {4, 5});
  mdev_with(uuid_a, {1, 2}, {4, 5});
  open_guest(uuid_a, "guest");
  h.clear_zapq_log();
  // {1,2}x{4,5} -> {2,3}x{4}: adapter 1 and domain 5 leave, adapter 3 comes.
  ASSERT_OK(write(mdev(uuid_a, "ap_config"), apcb_of({2, 3}, {4})));
  EXPECT_EQ(guest_matrix(uuid_a), "02.0004\n03.0004\n");
  EXPECT_EQ(crycb("guest"), apcb_of({2, 3}, {4}));
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 4}, {1, 5}, {2, 5}})));
}

TEST_F(VfioApHotplug, RemovingAnMdevResetsItsQueues) {
  host_with({1}, {4, 5});
  mdev_with(uuid_a, {1}, {4, 5});
  h.clear_zapq_log();
  ASSERT_OK(write(mdev(uuid_a, "remove"), "1\n"));
  EXPECT_THAT(h.zapq_log(), ElementsAreArray(qs({{1, 4}, {1, 5}})));
  EXPECT_EQ(read("/sys/bus/ap/devices/01.0004/status"), "unassigned\n");
  // The queues are free for another mdev.
  mdev_with(uuid_b, {1}, {4, 5});
  EXPECT_EQ(guest_matrix(uuid_b), "01.0004\n01.0005\n");
}

TEST_F(VfioApHotplug, QciRejectsImpossibleConfigurations) {
  host_with({100}, {4});
  EXPECT_EQ(h.qci({.na = 256}), std::errc::invalid_argument);
  EXPECT_EQ(h.qci({.apxa = false}), std::errc::invalid_argument);  // adapter 100 > 63
  EXPECT_EQ(h.qci({.na = 99}), std::errc::invalid_argument);
  EXPECT_EQ(h.qci({.nd = 100, .adm = cdoms({200})}), std::errc::invalid_argument);
  EXPECT_TRUE(h.config().apxa);
  EXPECT_EQ(h.config().na, 255);
  EXPECT_EQ(read("/sys/bus/ap/devices/64.0004/status"), "unassigned\n");
  ASSERT_OK(h.qci({.na = 100}));
  EXPECT_EQ(h.config().na, 100);
}

TEST_F(VfioApHotplug, ApxaOffLimitsQueuesAndMaxima) {
  host_with({1}, {4});
  ASSERT_OK(h.qci({.apxa = false, .apm = adapters({1, 63}), .aqm = domains({4, 15})}));
  EXPECT_EQ(read("/sys/bus/ap/devices/3f.000f/status"), "unassigned\n");
  ASSERT_OK(create(uuid_a));
  EXPECT_EQ(assign_adapter(uuid_a, 64), std::errc::no_such_device);
  ASSERT_OK(h.qci({.apxa = true}));
  ASSERT_OK(create(uuid_b));
  EXPECT_OK(assign_adapter(uuid_b, 64));  // new mdevs get the new maxima
}

// Issue 13 item 4: the ZAPQ log is a ring, so a long-running model's memory
// stays flat: past zapq_log_capacity the oldest entries go first and the
// newest are kept in order.
TEST_F(VfioApHotplug, ZapqLogIsBounded) {
  host_with({1, 2}, {4, 5});
  mdev_with(uuid_a, {1, 2}, {4, 5});
  ASSERT_OK(h.kvm_create("g"));
  ASSERT_OK(h.vfio_open(uuid_a, "g"));
  h.clear_zapq_log();
  const std::size_t resets = ordo::vfio_ap::zapq_log_capacity / 4 + 8;
  for (std::size_t i = 0; i < resets; ++i) ASSERT_OK(h.vfio_reset(uuid_a));
  ASSERT_OK(h.zapq_fault(q(2, 5), 0x05));  // the last reset ends differently...
  (void)h.vfio_reset(uuid_a);
  const auto log = h.zapq_log();
  EXPECT_EQ(log.size(), ordo::vfio_ap::zapq_log_capacity);
  EXPECT_EQ(log.back(), q(2, 5));  // ...and is the newest entry
  ASSERT_OK(h.zapq_fault(q(2, 5), 0));
  ASSERT_OK(h.vfio_close(uuid_a));
}

}  // namespace
}  // namespace vfio_ap_test
