// host::reset() is exact: a host driven into a busy state (mdevs assigned
// and open, guests, faults, unbound queues, logs, pinned modules) and reset
// observes the same as a new host through every sysfs node and attribute of
// the table, check_invariants(), the guest and module counts and the logs,
// and then behaves the same under the same operations. host::restore is
// exact likewise: a host restored from an image observes as the host the
// image was saved from, and behaves as it would have.
#include "vfio_ap_test_util.hpp"
#include "host_test_access.hpp"

#include <string>
#include <vector>
#include "expect_ok.hpp"

namespace vfio_ap_test {
namespace {

using access = ordo::vfio_ap::host_test_access;
const std::vector<std::string> guest_names{"g1", "g2", "g3"};

// Busy: every kind of state the API can create. Each step's result is part
// of the returned transcript (so two hosts can be compared step by step).
std::vector<std::string> drive(ordo::vfio_ap::host& h) {
  std::vector<std::string> log;
  const auto note = [&](std::error_code ec) { log.push_back(ec ? ec.message() : "ok"); };
  const std::string a = std::string(matrix_dir) + uuid_a + "/";
  const std::string b = std::string(matrix_dir) + uuid_b + "/";
  note(h.sysfs_write("/sys/bus/ap/apmask", "-1-3\n"));
  note(h.sysfs_write("/sys/bus/ap/aqmask", "-4-6\n"));
  note(h.qci({.apm = adapters({1, 2, 3, 9}), .aqm = domains({4, 5, 6}), .adm = cdoms({4, 7})}));
  for (const char* u : {uuid_a, uuid_b, uuid_c}) {
    note(h.sysfs_write(type_dir + "create", std::string(u) + "\n"));
  }
  note(h.sysfs_write(a + "ap_config", ordo::ap::format_ap_config(adapters({1}), domains({4, 5}), cdoms({4}))));
  note(h.sysfs_write(b + "assign_adapter", "2\n"));
  note(h.sysfs_write(b + "assign_domain", "4\n"));
  note(h.sysfs_write(b + "assign_domain", "5\n"));  // 01.0005 is A's: EADDRINUSE, a log line
  note(h.sysfs_write(b + "assign_adapter", "1\n"));
  note(h.zapq_fault(q(2, 4), 0x05));
  note(h.kvm_create("g1"));
  note(h.kvm_create("g2"));
  note(h.vfio_open(uuid_a, "g1"));
  note(h.vfio_open(uuid_b, "g2"));
  note(h.vfio_reset(uuid_b));  // the busy queue: EIO
  note(h.kvm_destroy("g2"));   // lives on: B holds it
  note(h.sysfs_write("/sys/bus/ap/drivers/vfio_ap/unbind", "03.0006\n"));
  unsigned rc = 0;
  note(h.pqap("g1", q(1, 4), rc));
  log.push_back(std::to_string(rc));
  note(h.sysfs_write(std::string(matrix_dir) + uuid_c + "/remove", "1\n"));
  for (const std::string& line : access::observe(h, guest_names)) log.push_back(line);
  return log;
}

TEST(VfioApReset, ResetHostObservesAsANewHost) {
  ordo::vfio_ap::host fresh;
  ordo::vfio_ap::host reused;
  const std::vector<std::string> start = access::observe(fresh, guest_names);
  ASSERT_EQ(access::observe(reused, guest_names), start);
  const std::vector<std::string> busy = drive(reused);
  ASSERT_NE(access::observe(reused, guest_names), start);  // the drive changed something
  EXPECT_EQ(access::module_refs(reused, "kvm"), 2u);         // two open mdevs pin kvm
  reused.reset();
  EXPECT_EQ(access::observe(reused, guest_names), start);
  EXPECT_THAT(reused.check_changed(), ::testing::IsEmpty());
  EXPECT_EQ(access::module_refs(reused, "kvm"), 0u);
  // And it behaves as a new host: the same operations give the same results
  // (a leftover fault, binding or guest would show here), twice over.
  EXPECT_EQ(drive(reused), drive(fresh));
  reused.reset();
  EXPECT_EQ(drive(reused), busy);
}

TEST(VfioApReset, ResetReloadsAnUnloadedModule) {
  ordo::vfio_ap::host fresh;
  ordo::vfio_ap::host reused;
  ASSERT_OK(access::try_unload(reused, "vfio_ap"));
  ASSERT_OK(access::try_unload(reused, "kvm"));
  reused.reset();
  EXPECT_EQ(access::observe(reused, guest_names), access::observe(fresh, guest_names));
  EXPECT_EQ(drive(reused), drive(fresh));  // vfio_open needs kvm's symbols again
}

// The drive's state with its mdevs closed (what save accepts): its faults,
// logs, assignments, an unbound queue and guest g1 (g2 went with B's close).
std::vector<std::string> drive_closed(ordo::vfio_ap::host& h) {
  std::vector<std::string> log = drive(h);
  const auto note = [&](std::error_code ec) { log.push_back(ec ? ec.message() : "ok"); };
  note(h.vfio_close(uuid_a));
  note(h.vfio_close(uuid_b));
  return log;
}

// A second drive from whatever state: every kind of call again, so a
// difference in what restore left shows in a result.
std::vector<std::string> drive_more(ordo::vfio_ap::host& h) {
  std::vector<std::string> log;
  const auto note = [&](std::error_code ec) { log.push_back(ec ? ec.message() : "ok"); };
  const std::string a = std::string(matrix_dir) + uuid_a + "/";
  const std::string b = std::string(matrix_dir) + uuid_b + "/";
  note(h.sysfs_write("/sys/bus/ap/drivers/vfio_ap/bind", "03.0006\n"));
  note(h.sysfs_write(a + "assign_domain", "6\n"));
  note(h.sysfs_write(b + "unassign_adapter", "2\n"));
  note(h.kvm_create("g1"));  // EEXIST if restore kept it
  note(h.kvm_create("g3"));
  note(h.vfio_open(uuid_a, "g1"));
  note(h.vfio_open(uuid_b, "g3"));
  note(h.vfio_reset(uuid_a));
  note(h.qci({.apm = adapters({1, 2}), .aqm = domains({4, 5, 6}), .adm = cdoms({4})}));
  note(h.zapq_fault(q(1, 5), 0x04));
  note(h.vfio_close(uuid_a));
  note(h.sysfs_write(std::string(type_dir) + "create", std::string(uuid_c) + "\n"));
  note(h.sysfs_write("/sys/bus/ap/apmask", "+2\n"));
  for (const std::string& line : access::observe(h, guest_names)) log.push_back(line);
  return log;
}

TEST(VfioApRestore, RestoredHostObservesAndBehavesAsTheSavedOne) {
  ordo::vfio_ap::host saved;
  ordo::vfio_ap::host twin;  // the same calls, never saved or restored
  ASSERT_EQ(drive_closed(saved), drive_closed(twin));
  const std::vector<std::string> at_save = access::observe(saved, guest_names);
  ordo::vfio_ap::host::image image;
  ASSERT_OK(saved.save(image));
  EXPECT_EQ(access::observe(saved, guest_names), at_save);  // save changes nothing

  // Into the host it came from, after more changes; into a busy host; into
  // a new one: each then reads as the saved host did, with nothing left to
  // report, and behaves as the twin.
  ordo::vfio_ap::host busy;
  (void)drive(busy);
  ordo::vfio_ap::host fresh;
  (void)drive_more(saved);
  ASSERT_NE(access::observe(saved, guest_names), at_save);
  const unsigned long updates = access::apcb_updates(twin, "g1");  // not observable by the API
  const std::vector<std::string> expected = drive_more(twin);
  for (ordo::vfio_ap::host* h : {&saved, &busy, &fresh}) {
    h->restore(image);
    EXPECT_EQ(access::observe(*h, guest_names), at_save);
    EXPECT_THAT(h->check_changed(), ::testing::IsEmpty());
    EXPECT_EQ(access::apcb_updates(*h, "g1"), updates);
    EXPECT_EQ(drive_more(*h), expected);
  }
  // Again from the image (it is not used up), into a host whose mdevs are
  // the saved ones, closed, with other matrices, queues and counts: restore
  // then keeps the mdev and queue objects and overwrites them.
  fresh.restore(image);
  const std::string a = std::string(matrix_dir) + uuid_a + "/";
  const std::string b = std::string(matrix_dir) + uuid_b + "/";
  ASSERT_OK(fresh.sysfs_write(a + "unassign_domain", "4\n"));
  ASSERT_OK(fresh.sysfs_write(b + "assign_control_domain", "7\n"));
  ASSERT_OK(fresh.qci({.apm = adapters({1, 2, 3}), .aqm = domains({4, 5}), .adm = cdoms({4})}));
  ASSERT_OK(fresh.sysfs_write("/sys/bus/ap/drivers/vfio_ap/unbind", "02.0004\n"));
  ASSERT_NE(access::observe(fresh, guest_names), at_save);
  fresh.restore(image);
  EXPECT_EQ(access::observe(fresh, guest_names), at_save);
  EXPECT_THAT(fresh.check_changed(), ::testing::IsEmpty());
  EXPECT_EQ(access::apcb_updates(fresh, "g1"), updates);
  EXPECT_EQ(drive_more(fresh), expected);
}

TEST(VfioApRestore, ADefaultImageIsANewHost) {
  ordo::vfio_ap::host fresh;
  ordo::vfio_ap::host reused;
  (void)drive(reused);
  reused.restore(ordo::vfio_ap::host::image{});
  EXPECT_EQ(access::observe(reused, guest_names), access::observe(fresh, guest_names));
  EXPECT_EQ(drive(reused), drive(fresh));
}

TEST(VfioApRestore, SaveRefusesAnOpenMdevAndAnOutsideGuestReference) {
  ordo::vfio_ap::host h;
  (void)drive(h);  // A and B open
  ordo::vfio_ap::host::image image;
  ordo::vfio_ap::host target;
  ASSERT_OK(target.save(image));  // a new host's
  EXPECT_EQ(h.save(image), std::make_error_code(std::errc::device_or_resource_busy));
  ASSERT_OK(h.vfio_close(uuid_a));
  EXPECT_EQ(h.save(image), std::make_error_code(std::errc::device_or_resource_busy));  // B
  ASSERT_OK(h.vfio_close(uuid_b));
  {
    const ordo::ref<ordo::vfio_ap::kvm> outside = access::guest_ref(h, "g1");
    ASSERT_TRUE(outside);
    EXPECT_EQ(h.save(image), std::make_error_code(std::errc::device_or_resource_busy));
  }
  // The refused saves left the image as it was: a new host's.
  ordo::vfio_ap::host fresh;
  target.restore(image);
  EXPECT_EQ(access::observe(target, guest_names), access::observe(fresh, guest_names));
  ASSERT_OK(h.save(image));
}

TEST(VfioApRestore, AnUnloadedModuleStaysUnloaded) {
  ordo::vfio_ap::host saved;
  ASSERT_OK(access::try_unload(saved, "vfio_ap"));
  ordo::vfio_ap::host::image image;
  ASSERT_OK(saved.save(image));
  ordo::vfio_ap::host h;
  h.restore(image);
  EXPECT_EQ(access::observe(h, guest_names), access::observe(saved, guest_names));
  EXPECT_EQ(drive(h), drive(saved));
}

}  // namespace
}  // namespace vfio_ap_test
