// host::reset() is exact: a host driven into a busy state (mdevs assigned
// and open, guests, faults, unbound queues, logs, pinned modules) and reset
// observes the same as a new host through every sysfs node and attribute of
// the table, check_invariants(), the guest and module counts and the logs,
// and then behaves the same under the same operations.
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

}  // namespace
}  // namespace vfio_ap_test
