// The sysfs attributes of the vfio_ap model (docs/vfio-ap-model.md §1.8, §2,
// §3.1, §3.2): outputs byte for byte and every error, and "a failed write
// changes nothing".
#include "vfio_ap_test_util.hpp"

#include <absl/strings/str_format.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "expect_ok.hpp"

namespace vfio_ap_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using VfioApSysfs = VfioApTest;

TEST_F(VfioApSysfs, FeaturesIsTheKernelCodeString) {
  EXPECT_EQ(read("/sys/devices/vfio_ap/matrix/features"), "guest_matrix hotplug ap_config\n");
  EXPECT_EQ(read("/sys/bus/matrix/devices/matrix/features"), "guest_matrix hotplug ap_config\n");
  EXPECT_EQ(write("/sys/devices/vfio_ap/matrix/features", "x\n"), std::errc::permission_denied);
}

TEST_F(VfioApSysfs, MdevTypeAttributes) {
  EXPECT_EQ(read(type_dir + "available_instances"), "65536\n");
  EXPECT_EQ(read(type_dir + "name"), "VFIO AP Passthrough Device\n");
  EXPECT_EQ(read(type_dir + "device_api"), "vfio-ap\n");
  ASSERT_OK(create(uuid_a));
  EXPECT_EQ(read(type_dir + "available_instances"), "65535\n");
  EXPECT_EQ(write(type_dir + "available_instances", "1\n"), std::errc::permission_denied);
  std::string out;
  EXPECT_EQ(h.sysfs_read(type_dir + "create", out), std::errc::permission_denied);
}

TEST_F(VfioApSysfs, CreateValidatesTheUuidLikeUuidIsValid) {
  EXPECT_EQ(create("11111111-2222-3333-4444-55555555555"), std::errc::invalid_argument);  // short
  EXPECT_EQ(create("11111111-2222-3333-4444-55555555555g"), std::errc::invalid_argument);
  EXPECT_EQ(create("111111112-222-3333-4444-555555555555"), std::errc::invalid_argument);
  EXPECT_EQ(write(type_dir + "create", ""), std::errc::invalid_argument);
  // Only the first 36 characters are looked at; the name is lowercase.
  ASSERT_OK(write(type_dir + "create", "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEEtrailing"));
  EXPECT_EQ(read(mdev(uuid_b, "matrix")), "");
  EXPECT_EQ(create(uuid_b), std::errc::file_exists);
  std::string out;
  EXPECT_EQ(h.sysfs_read(mdev("AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE", "matrix"), out),
            std::errc::no_such_file_or_directory);
  EXPECT_EQ(h.sysfs_read("/sys/bus/mdev/devices/" + std::string(uuid_b) + "/matrix", out),
            std::error_code{});
}

TEST_F(VfioApSysfs, UnknownPathsAndWrongModes) {
  ASSERT_OK(create(uuid_a));
  std::string out = "kept";
  EXPECT_EQ(h.sysfs_read("/sys/devices/vfio_ap/matrix/nope", out), std::errc::no_such_file_or_directory);
  EXPECT_EQ(h.sysfs_read(mdev(uuid_b, "matrix"), out), std::errc::no_such_file_or_directory);
  EXPECT_EQ(h.sysfs_read(mdev(uuid_a, "nope"), out), std::errc::no_such_file_or_directory);
  EXPECT_EQ(write(mdev(uuid_b, "assign_adapter"), "1\n"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(write("/sys/bus/ap/nope", "1\n"), std::errc::no_such_file_or_directory);
  for (const char* ro : {"matrix", "guest_matrix", "control_domains"}) {
    EXPECT_EQ(write(mdev(uuid_a, ro), "1\n"), std::errc::permission_denied) << ro;
  }
  for (const char* wo : {"assign_adapter", "unassign_adapter", "assign_domain", "unassign_domain",
                         "assign_control_domain", "unassign_control_domain", "remove"}) {
    EXPECT_EQ(h.sysfs_read(mdev(uuid_a, wo), out), std::errc::permission_denied) << wo;
  }
  EXPECT_EQ(h.sysfs_read("/sys/bus/ap/drivers/vfio_ap/bind", out), std::errc::permission_denied);
  EXPECT_EQ(out, "kept");  // untouched on error
}

TEST_F(VfioApSysfs, IdsAreParsedLikeKstrtoulBaseZero) {
  ASSERT_OK(create(uuid_a));
  const std::string path = mdev(uuid_a, "assign_adapter");
  EXPECT_EQ(write(path, "08\n"), std::errc::invalid_argument);  // octal
  EXPECT_EQ(write(path, "0x\n"), std::errc::invalid_argument);
  EXPECT_EQ(write(path, " 5\n"), std::errc::invalid_argument);
  EXPECT_EQ(write(path, "-5\n"), std::errc::invalid_argument);
  EXPECT_EQ(write(path, "5\n\n"), std::errc::invalid_argument);
  EXPECT_EQ(write(path, "5x"), std::errc::invalid_argument);
  EXPECT_EQ(write(path, ""), std::errc::invalid_argument);
  EXPECT_EQ(write(path, "\n"), std::errc::invalid_argument);
  EXPECT_EQ(write(path, "99999999999999999999999\n"), std::errc::result_out_of_range);
  EXPECT_EQ(write(path, "256\n"), std::errc::no_such_device);
  EXPECT_EQ(matrix(uuid_a), "");  // nothing changed
  EXPECT_OK(write(path, "010\n"));    // 8
  EXPECT_OK(write(path, "0xab\n"));   // 171
  EXPECT_OK(write(path, "+5"));       // no newline, leading '+'
  EXPECT_OK(write(path, "0XFF\n"));   // 255
  EXPECT_EQ(matrix(uuid_a), "05.\n08.\nab.\nff.\n");
  EXPECT_OK(write(path, "5\n"));  // already set: success, nothing happens
  EXPECT_EQ(matrix(uuid_a), "05.\n08.\nab.\nff.\n");
}

TEST_F(VfioApSysfs, MaximaComeFromTheHostWithoutApxa) {
  ASSERT_OK(h.qci({.apxa = false}));
  ASSERT_OK(create(uuid_a));
  EXPECT_EQ(assign_adapter(uuid_a, 64), std::errc::no_such_device);
  EXPECT_OK(assign_adapter(uuid_a, 63));
  EXPECT_EQ(write_id(uuid_a, "assign_domain", 16), std::errc::no_such_device);
  EXPECT_EQ(write_id(uuid_a, "assign_control_domain", 16), std::errc::no_such_device);
  EXPECT_EQ(write_id(uuid_a, "unassign_adapter", 64), std::errc::no_such_device);
  EXPECT_EQ(write_id(uuid_a, "unassign_domain", 16), std::errc::no_such_device);
  EXPECT_EQ(write_id(uuid_a, "unassign_control_domain", 16), std::errc::no_such_device);
  EXPECT_OK(write_id(uuid_a, "assign_control_domain", 15));
  EXPECT_EQ(read(mdev(uuid_a, "control_domains")), "000f\n");
}

TEST_F(VfioApSysfs, HostReservedQueueIsEaddrnotavailOnlyOnceItIsAnApqn) {
  // Default apmask/aqmask: every queue is reserved for the host.
  ASSERT_OK(create(uuid_a));
  EXPECT_OK(assign_adapter(uuid_a, 5));  // no domain yet: no APQN, allowed
  EXPECT_EQ(assign_domain(uuid_a, 4), std::errc::address_not_available);
  EXPECT_EQ(matrix(uuid_a), "05.\n");  // the domain was cleared again
  ASSERT_OK(write("/sys/bus/ap/apmask", "-5\n"));
  EXPECT_OK(assign_domain(uuid_a, 4));
  EXPECT_EQ(matrix(uuid_a), "05.0004\n");
}

TEST_F(VfioApSysfs, SharingAQueueIsEaddrinuseAndLogged) {
  ASSERT_OK(write("/sys/bus/ap/apmask", "0x0\n"));
  mdev_with(uuid_a, {5}, {4, 6});
  ASSERT_OK(create(uuid_b));
  EXPECT_OK(assign_adapter(uuid_b, 5));  // no domain: no APQN shared yet
  EXPECT_OK(assign_domain(uuid_b, 7));   // 05.0007 not in A
  EXPECT_EQ(assign_domain(uuid_b, 4), std::errc::address_in_use);
  EXPECT_EQ(matrix(uuid_b), "05.0007\n");
  EXPECT_THAT(h.kernel_log(),
              ElementsAre(std::string("vfio_ap_mdev ") + uuid_b +
                          ": Userspace may not assign queue 05.0004 to mdev: already assigned to " +
                          uuid_a));
  // The other direction: adapter first fails the same way.
  ASSERT_OK(create(uuid_c));
  EXPECT_OK(assign_domain(uuid_c, 6));
  EXPECT_EQ(assign_adapter(uuid_c, 5), std::errc::address_in_use);
  EXPECT_EQ(matrix(uuid_c), ".0006\n");
}

// The kernel log's ring on its own: the last kernel_log_capacity lines,
// oldest first, whether it wraps, is cleared part-way through its slots or
// after wrapping, or is refilled with fewer lines than it keeps.
TEST(KernelLogRing, KeepsTheLastLinesInOrderAcrossWrapsAndClears) {
  using ordo::vfio_ap::kernel_log_capacity;
  ordo::vfio_ap::kernel_log_ring ring;
  const auto expect_lines = [&ring](std::size_t first, std::size_t count) {
    std::vector<std::string> want;
    for (std::size_t i = first; i < first + count; ++i) want.push_back("line " + std::to_string(i));
    EXPECT_EQ(ring.lines(), want);
  };
  const auto append = [&ring](std::size_t first, std::size_t count) {
    for (std::size_t i = first; i < first + count; ++i) ring.append() += "line " + std::to_string(i);
  };
  EXPECT_TRUE(ring.lines().empty());
  append(0, 10);
  expect_lines(0, 10);
  ring.clear();  // before any wrap: the slots stay, the lines go
  EXPECT_TRUE(ring.lines().empty());
  append(100, 3);
  expect_lines(100, 3);
  append(103, kernel_log_capacity + 5);  // wraps: the oldest go first
  expect_lines(108, kernel_log_capacity);
  ring.clear();  // after a wrap
  append(5000, 2);
  expect_lines(5000, 2);
  append(5002, kernel_log_capacity - 2);  // exactly full
  expect_lines(5000, kernel_log_capacity);
  append(9000, 1);
  std::vector<std::string> lines = ring.lines();
  ASSERT_EQ(lines.size(), kernel_log_capacity);
  EXPECT_EQ(lines.front(), "line 5001");
  EXPECT_EQ(lines.back(), "line 9000");
}


// A refusal logs one line per shared queue, adapter-major; the log keeps
// the last kernel_log_capacity lines. 64 x 32 shared queues are 2048
// lines: what is left is exactly the last 1024 of them (adapters 0x20 to
// 0x3f, every domain), as if each had been logged and the ring had dropped
// the oldest, and the lines logged before the refusal are gone.
TEST_F(VfioApSysfs, ARefusalLongerThanTheLogLeavesItsLastLines) {
  ASSERT_OK(write("/sys/bus/ap/apmask", "0x0\n"));
  ASSERT_OK(write("/sys/bus/ap/aqmask", "0x0\n"));
  ordo::ap::adapter_mask apm;
  ordo::ap::domain_mask aqm;
  for (unsigned i = 0; i < 64; ++i) apm.set(apid(static_cast<std::uint8_t>(i)));
  for (unsigned i = 0; i < 32; ++i) aqm.set(apqi(static_cast<std::uint8_t>(i)));
  const std::string config = ordo::ap::format_ap_config(apm, aqm, {});
  ASSERT_OK(create(uuid_a));
  ASSERT_OK(create(uuid_b));
  ASSERT_OK(write(mdev(uuid_a, "ap_config"), config));
  EXPECT_OK(assign_adapter(uuid_b, 0));
  EXPECT_EQ(assign_domain(uuid_b, 0), std::errc::address_in_use);  // one line
  EXPECT_EQ(write(mdev(uuid_b, "ap_config"), config), std::errc::address_in_use);
  const std::vector<std::string> log = h.kernel_log();
  ASSERT_EQ(log.size(), ordo::vfio_ap::kernel_log_capacity);
  for (std::size_t i = 0; i < log.size(); ++i) {
    const unsigned a = 0x20 + static_cast<unsigned>(i / 32);
    const unsigned q = static_cast<unsigned>(i % 32);
    ASSERT_EQ(log[i], absl::StrFormat("vfio_ap_mdev %s: Userspace may not assign queue "
                                      "%02x.%04x to mdev: already assigned to %s",
                                      uuid_b, a, q, uuid_a))
        << "line " << i;
  }
  EXPECT_EQ(matrix(uuid_b), "00.\n");  // the refused store changed nothing
}

TEST_F(VfioApSysfs, ControlDomainsMayBeSharedAndHostReserved) {
  ASSERT_OK(create(uuid_a));
  ASSERT_OK(create(uuid_b));
  EXPECT_EQ(read(mdev(uuid_a, "control_domains")), "");
  EXPECT_OK(write_id(uuid_a, "assign_control_domain", 3));
  EXPECT_OK(write_id(uuid_b, "assign_control_domain", 3));
  EXPECT_OK(write_id(uuid_a, "assign_control_domain", 0x1f));
  EXPECT_OK(write_id(uuid_a, "assign_control_domain", 3));  // no-op
  EXPECT_EQ(read(mdev(uuid_a, "control_domains")), "0003\n001f\n");
  EXPECT_OK(write_id(uuid_a, "unassign_control_domain", 3));
  EXPECT_OK(write_id(uuid_a, "unassign_control_domain", 3));  // not set: no-op
  EXPECT_EQ(read(mdev(uuid_a, "control_domains")), "001f\n");
  EXPECT_EQ(write(mdev(uuid_a, "unassign_control_domain"), "x\n"), std::errc::invalid_argument);
}

TEST_F(VfioApSysfs, MatrixFormats) {
  ASSERT_OK(write("/sys/bus/ap/apmask", "0x0\n"));
  ASSERT_OK(create(uuid_a));
  EXPECT_EQ(matrix(uuid_a), "");
  ASSERT_OK(assign_domain(uuid_a, 0xab));
  EXPECT_EQ(matrix(uuid_a), ".00ab\n");
  ASSERT_OK(assign_domain(uuid_a, 4));
  ASSERT_OK(assign_adapter(uuid_a, 0x10));
  ASSERT_OK(assign_adapter(uuid_a, 5));
  EXPECT_EQ(matrix(uuid_a), "05.0004\n05.00ab\n10.0004\n10.00ab\n");
  ASSERT_OK(write_id(uuid_a, "unassign_domain", 4));
  ASSERT_OK(write_id(uuid_a, "unassign_domain", 0xab));
  EXPECT_EQ(matrix(uuid_a), "05.\n10.\n");
  // Nothing is configured on the host, so the guest would see nothing.
  EXPECT_EQ(guest_matrix(uuid_a), "");
}

TEST_F(VfioApSysfs, MatrixShowIsCappedAtOnePage) {
  ASSERT_OK(write("/sys/bus/ap/apmask", "0x0\n"));
  ASSERT_OK(create(uuid_a));
  const std::string ones(64, 'f');
  ASSERT_OK(write(mdev(uuid_a, "ap_config"), "0x" + ones + ",0x" + ones + ",0x" + ones + "\n"));
  const std::string m = matrix(uuid_a);
  EXPECT_EQ(m.size(), 4095u);  // 512 lines of 8 bytes, the last one cut
  EXPECT_EQ(m.substr(0, 16), "00.0000\n00.0001\n");
  EXPECT_EQ(m.substr(4088), "01.00ff");
}

TEST_F(VfioApSysfs, ApConfigShowAndStore) {
  ASSERT_OK(write("/sys/bus/ap/apmask", "0x0\n"));
  mdev_with(uuid_a, {0, 5}, {4});
  ASSERT_OK(write_id(uuid_a, "assign_control_domain", 255));
  const std::string shown = read(mdev(uuid_a, "ap_config"));
  EXPECT_EQ(shown.size(), 201u);
  EXPECT_EQ(shown, ordo::ap::format_ap_config(adapters({0, 5}), domains({4}), cdoms({255})));
  EXPECT_EQ(shown.substr(0, 4), "0x84");

  // "A,B\n": adm = 0; a short mask is padded on the right (high ids).
  EXPECT_OK(write(mdev(uuid_a, "ap_config"), "0x4,0x08\n"));
  EXPECT_EQ(matrix(uuid_a), "01.0004\n");
  EXPECT_EQ(read(mdev(uuid_a, "control_domains")), "");
  // Round trip of what show printed.
  EXPECT_OK(write(mdev(uuid_a, "ap_config"), shown));
  EXPECT_EQ(read(mdev(uuid_a, "ap_config")), shown);

  // Errors change nothing.
  EXPECT_EQ(write(mdev(uuid_a, "ap_config"), "0x4,0x08"), std::errc::invalid_argument);  // 2 fields, no \n
  EXPECT_EQ(write(mdev(uuid_a, "ap_config"), "0x4,0xz8,\n"), std::errc::invalid_argument);
  EXPECT_EQ(write(mdev(uuid_a, "ap_config"), "0x" + std::string(65, '0') + ",,\n"),
            std::errc::invalid_argument);  // a 65th digit
  EXPECT_EQ(read(mdev(uuid_a, "ap_config")), shown);

  // Input longer than 201 bytes is truncated silently: garbage after byte
  // 201 is never seen.
  const std::string longer = shown + "garbage that would be EINVAL";
  EXPECT_OK(write(mdev(uuid_a, "ap_config"), longer));
  EXPECT_EQ(read(mdev(uuid_a, "ap_config")), shown);
}

TEST_F(VfioApSysfs, ApConfigErrorOrderIsParseThenValidationThenOverflow) {
  ASSERT_OK(h.qci({.apxa = false}));
  ASSERT_OK(create(uuid_a));  // maxima 63/15/15
  // Adapter 64 and domain 0 while every queue is host-reserved: validation
  // (EADDRNOTAVAIL) wins over the overflow (ENODEV).
  const std::string bit64 = "0x" + std::string(16, '0') + "8" + std::string(47, '0');
  EXPECT_EQ(write(mdev(uuid_a, "ap_config"), bit64 + ",0x8,\n"), std::errc::address_not_available);
  ASSERT_OK(write("/sys/bus/ap/apmask", "0x0\n"));
  EXPECT_EQ(write(mdev(uuid_a, "ap_config"), bit64 + ",0x8,\n"), std::errc::no_such_device);
  EXPECT_EQ(write(mdev(uuid_a, "ap_config"), ",,0x00008\n"), std::errc::no_such_device);  // cdom 16
  EXPECT_EQ(matrix(uuid_a), "");
  EXPECT_OK(write(mdev(uuid_a, "ap_config"), "0x8,0x8,0x0001\n"));  // 0, 0, cdom 15
  EXPECT_EQ(matrix(uuid_a), "00.0000\n");
  EXPECT_EQ(read(mdev(uuid_a, "control_domains")), "000f\n");
}

TEST_F(VfioApSysfs, ApConfigSharingIsEaddrinuse) {
  ASSERT_OK(write("/sys/bus/ap/apmask", "0x0\n"));
  mdev_with(uuid_a, {1}, {4});
  ASSERT_OK(create(uuid_b));
  EXPECT_EQ(write(mdev(uuid_b, "ap_config"), "0x4,0x08,\n"), std::errc::address_in_use);
  EXPECT_EQ(matrix(uuid_b), "");
}

TEST_F(VfioApSysfs, ApmaskAndAqmaskReadAndWrite) {
  const std::string all_ones = "0x" + std::string(64, 'f') + "\n";
  EXPECT_EQ(read("/sys/bus/ap/apmask"), all_ones);
  EXPECT_EQ(read("/sys/bus/ap/aqmask"), all_ones);
  EXPECT_OK(write("/sys/bus/ap/apmask", "-0-3,+1,-255\n"));
  EXPECT_EQ(read("/sys/bus/ap/apmask"), "0x4" + std::string(62, 'f') + "e\n");
  EXPECT_OK(write("/sys/bus/ap/aqmask", "0x5\n"));  // absolute: ids 1 and 3
  EXPECT_EQ(read("/sys/bus/ap/aqmask"), "0x5" + std::string(63, '0') + "\n");
  EXPECT_OK(write("/sys/bus/ap/aqmask", "x\n"));  // empty mask
  EXPECT_EQ(read("/sys/bus/ap/aqmask"), "0x" + std::string(64, '0') + "\n");
  for (const char* bad : {"+256\n", "-5-3\n", "garbage\n", "+5,x\n", "+\n"}) {
    EXPECT_EQ(write("/sys/bus/ap/apmask", bad), std::errc::invalid_argument) << bad;
  }
  EXPECT_EQ(read("/sys/bus/ap/apmask"), "0x4" + std::string(62, 'f') + "e\n");
}

TEST_F(VfioApSysfs, ReservingAQueueOfAnMdevIsVetoedWithEbusy) {
  ASSERT_OK(write("/sys/bus/ap/apmask", "0x0\n"));  // aqmask stays all ones
  mdev_with(uuid_a, {5}, {4});
  EXPECT_EQ(write("/sys/bus/ap/apmask", "+5\n"), std::errc::device_or_resource_busy);
  EXPECT_EQ(read("/sys/bus/ap/apmask"), "0x" + std::string(64, '0') + "\n");
  EXPECT_OK(write("/sys/bus/ap/apmask", "+6\n"));  // nobody uses adapter 6
  EXPECT_OK(write("/sys/bus/ap/apmask", "-6\n"));
  // Reserving an adapter reserves no APQN while aqmask is empty.
  ASSERT_OK(write("/sys/bus/ap/aqmask", "0x0\n"));
  EXPECT_OK(write("/sys/bus/ap/apmask", "+5\n"));
  EXPECT_OK(write("/sys/bus/ap/aqmask", "+3\n"));  // 05.0003 is not A's
  EXPECT_EQ(write("/sys/bus/ap/aqmask", "+4\n"), std::errc::device_or_resource_busy);
  EXPECT_EQ(read("/sys/bus/ap/aqmask"), "0x1" + std::string(63, '0') + "\n");
  const std::string line = std::string("vfio_ap_mdev ") + uuid_a +
                           ": Can not reserve queue 05.0004 for host driver: in use by mdev";
  EXPECT_THAT(h.kernel_log(), ElementsAre(line, line));
}

TEST_F(VfioApSysfs, BindUnbindAndStatus) {
  host_with({5}, {4, 6});
  const std::string status = "/sys/bus/ap/devices/05.0004/status";
  EXPECT_EQ(read(status), "unassigned\n");
  EXPECT_EQ(read("/sys/devices/ap/card05/05.0004/status"), "unassigned\n");
  EXPECT_EQ(write(status, "x"), std::errc::permission_denied);
  std::string out;
  EXPECT_EQ(h.sysfs_read("/sys/bus/ap/devices/05.0005/status", out),
            std::errc::no_such_file_or_directory);  // no such queue device
  EXPECT_EQ(write("/sys/bus/ap/drivers/vfio_ap/bind", "05.0004\n"),
            std::errc::device_or_resource_busy);  // already bound
  EXPECT_EQ(write("/sys/bus/ap/drivers/vfio_ap/unbind", "05.0005\n"), std::errc::no_such_device);
  EXPECT_EQ(write("/sys/bus/ap/drivers/vfio_ap/unbind", "5.0004\n"), std::errc::no_such_device);
  EXPECT_OK(write("/sys/bus/ap/drivers/vfio_ap/unbind", "05.0004\n"));
  EXPECT_EQ(h.sysfs_read(status, out), std::errc::no_such_file_or_directory);
  EXPECT_EQ(write("/sys/bus/ap/drivers/vfio_ap/unbind", "05.0004"), std::errc::no_such_device);
  EXPECT_OK(write("/sys/bus/ap/drivers/vfio_ap/bind", "05.0004"));
  EXPECT_EQ(read(status), "unassigned\n");

  mdev_with(uuid_a, {5}, {4});
  EXPECT_EQ(read(status), "assigned\n");
  ASSERT_OK(h.kvm_create("guest"));
  ASSERT_OK(h.vfio_open(uuid_a, "guest"));
  EXPECT_EQ(read(status), "in use\n");
  EXPECT_EQ(read("/sys/bus/ap/devices/05.0006/status"), "unassigned\n");
  ASSERT_OK(h.vfio_close(uuid_a));
  EXPECT_EQ(read(status), "assigned\n");
}

TEST_F(VfioApSysfs, BindingAHostReservedQueueIsRejected) {
  ASSERT_OK(h.qci({.apm = adapters({5}), .aqm = domains({4})}));
  std::string out;
  // Bound to the host's default driver: no status attribute, bind is EBUSY.
  EXPECT_EQ(h.sysfs_read("/sys/bus/ap/devices/05.0004/status", out),
            std::errc::no_such_file_or_directory);
  EXPECT_EQ(write("/sys/bus/ap/drivers/vfio_ap/bind", "05.0004\n"),
            std::errc::device_or_resource_busy);
  // Freeing it moves it to vfio_ap (the bus revises bindings).
  ASSERT_OK(write("/sys/bus/ap/apmask", "-5\n"));
  EXPECT_EQ(read("/sys/bus/ap/devices/05.0004/status"), "unassigned\n");
  ASSERT_OK(write("/sys/bus/ap/drivers/vfio_ap/unbind", "05.0004\n"));
  ASSERT_OK(write("/sys/bus/ap/apmask", "+5\n"));  // C4: reprobed, to the host driver
  EXPECT_EQ(h.sysfs_read("/sys/bus/ap/devices/05.0004/status", out),
            std::errc::no_such_file_or_directory);
  ASSERT_OK(write("/sys/bus/ap/apmask", "-5\n"));
  EXPECT_EQ(read("/sys/bus/ap/devices/05.0004/status"), "unassigned\n");
}

TEST_F(VfioApSysfs, RemoveAttribute) {
  ASSERT_OK(create(uuid_a));
  EXPECT_EQ(write(mdev(uuid_a, "remove"), "x\n"), std::errc::invalid_argument);
  EXPECT_OK(write(mdev(uuid_a, "remove"), "0\n"));  // no-op
  EXPECT_EQ(matrix(uuid_a), "");
  EXPECT_OK(write(mdev(uuid_a, "remove"), "1\n"));
  std::string out;
  EXPECT_EQ(h.sysfs_read(mdev(uuid_a, "matrix"), out), std::errc::no_such_file_or_directory);
  EXPECT_EQ(write(mdev(uuid_a, "remove"), "1\n"), std::errc::no_such_file_or_directory);
  EXPECT_EQ(read(type_dir + "available_instances"), "65536\n");
  EXPECT_OK(create(uuid_a));  // the UUID is free again
}


// sysfs_resolve: an attribute looked up once behaves as its path does, on
// every attribute (canonical paths and aliases through the bus and class
// symlinks), through card, queue and mdev removal and re-creation. Two
// hosts get the same writes, one by path and one through resolved
// attributes; every read and every write's result must agree.
TEST(VfioApSysfsAttr, ResolvedAttributeBehavesAsItsPath) {
  using ordo::vfio_ap::host;
  const std::string a = std::string(matrix_dir) + uuid_a + "/";
  const std::string a_bus = std::string("/sys/bus/mdev/devices/") + uuid_a + "/";
  const std::vector<std::string> paths = {
      "/sys/bus/ap/apmask", "/sys/bus/ap/aqmask", "/sys/bus/ap/drivers/vfio_ap/bind",
      "/sys/bus/ap/drivers/vfio_ap/unbind", "/sys/devices/ap/card05/05.0004/status",
      "/sys/bus/ap/devices/05.0004/status", "/sys/bus/ap/drivers/vfio_ap/05.0004/status",
      "/sys/devices/vfio_ap/matrix/features", type_dir + "create",
      type_dir + "available_instances", type_dir + "name",
      a + "assign_adapter", a + "unassign_adapter", a + "assign_domain", a + "unassign_domain",
      a + "assign_control_domain", a + "unassign_control_domain", a + "ap_config", a + "matrix",
      a + "guest_matrix", a + "control_domains", a + "remove", a_bus + "assign_adapter",
      a_bus + "matrix", a_bus + "remove"};
  std::vector<host::sysfs_attr> attrs;
  for (const std::string& p : paths) {
    std::string copy = p;  // the attribute owns what it bound, not the string
    host::sysfs_attr attr;
    ASSERT_FALSE(host::sysfs_resolve(copy, attr)) << p;
    copy.assign(copy.size(), 'x');  // and the string overwritten
    attrs.push_back(attr);
  }
  host by_path;
  host by_attr;
  auto compare_reads = [&](const std::string& step) {
    for (std::size_t i = 0; i < paths.size(); ++i) {
      std::string p_out = "untouched";
      std::string a_out = "untouched";
      const std::error_code p_ec = by_path.sysfs_read(paths[i], p_out);
      const std::error_code a_ec = by_attr.sysfs_read(attrs[i], a_out);
      EXPECT_EQ(p_ec, a_ec) << step << ": " << paths[i];
      EXPECT_EQ(p_out, a_out) << step << ": " << paths[i];
    }
  };
  auto write = [&](std::size_t i, std::string_view value) {
    const std::error_code p_ec = by_path.sysfs_write(paths[i], value);
    const std::error_code a_ec = by_attr.sysfs_write(attrs[i], value);
    EXPECT_EQ(p_ec, a_ec) << paths[i] << " <- " << value;
    compare_reads(paths[i] + " <- " + std::string(value));
  };
  auto index = [&](const std::string& p) {
    return static_cast<std::size_t>(std::find(paths.begin(), paths.end(), p) - paths.begin());
  };
  compare_reads("new hosts: no card, no mdev");
  for (host* h : {&by_path, &by_attr}) {
    ordo::vfio_ap::qci_update u;
    u.apm = adapters({5, 6});
    u.aqm = domains({4, 7});
    ASSERT_FALSE(h->qci(u));
  }
  compare_reads("cards 5 and 6, domains 4 and 7");
  write(index("/sys/bus/ap/apmask"), "-5\n");  // 05.0004 to vfio_ap
  write(index("/sys/bus/ap/aqmask"), "-4\n");
  write(index(type_dir + "create"), std::string(uuid_a) + "\n");
  write(index(a + "assign_adapter"), "5\n");
  write(index(a_bus + "assign_adapter"), "6\n");  // through the bus symlink
  write(index(a + "assign_domain"), "4\n");
  write(index(a + "assign_control_domain"), "0x3\n");
  write(index(a + "ap_config"), "x\n");  // refused: nothing changes
  write(index("/sys/bus/ap/drivers/vfio_ap/unbind"), "05.0004\n");
  write(index("/sys/bus/ap/drivers/vfio_ap/bind"), "05.0004\n");
  write(index(a + "matrix"), "1\n");  // read-only: EACCES
  write(index(a + "unassign_adapter"), "6\n");
  write(index(a_bus + "remove"), "1\n");  // the mdev goes; its attributes with it
  write(index(a + "assign_adapter"), "5\n");  // ENOENT, by path and by attribute
  write(index(type_dir + "create"), std::string(uuid_a) + "\n");  // back, empty
  write(index(a + "assign_adapter"), "5\n");
  for (host* h : {&by_path, &by_attr}) {
    ordo::vfio_ap::qci_update u;
    u.apm = adapters({6});
    u.aqm = domains({7});
    ASSERT_FALSE(h->qci(u));
  }
  compare_reads("card 5 and domain 4 gone");
  write(index(a + "remove"), "1\n");
  EXPECT_TRUE(by_path.check_invariants().empty());
  EXPECT_TRUE(by_attr.check_invariants().empty());
}

TEST(VfioApSysfsAttr, UnknownPathsResolveToNothing) {
  using ordo::vfio_ap::host;
  host h;
  host::sysfs_attr attr;
  std::string out = "kept";
  EXPECT_EQ(h.sysfs_read(attr, out), std::errc::no_such_file_or_directory);  // resolved nothing
  EXPECT_EQ(h.sysfs_write(attr, "1\n"), std::errc::no_such_file_or_directory);
  for (const std::string_view bad :
       {"/sys/bus/ap/nope", "/sys/devices/vfio_ap/matrix", "/sys/bus/ap//apmask", "/proc/apmask",
        "/sys/devices/vfio_ap/matrix/AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE/matrix", ""}) {
    EXPECT_EQ(host::sysfs_resolve(bad, attr), std::errc::no_such_file_or_directory) << bad;
  }
  EXPECT_EQ(h.sysfs_read(attr, out), std::errc::no_such_file_or_directory);  // still nothing
  EXPECT_EQ(out, "kept");
  ASSERT_FALSE(host::sysfs_resolve("/sys/bus/ap/drivers/vfio_ap/bind", attr));
  EXPECT_EQ(h.sysfs_read(attr, out), std::errc::permission_denied);  // write-only (C1)
  EXPECT_EQ(out, "kept");
  ASSERT_FALSE(host::sysfs_resolve("/sys/devices/vfio_ap/matrix/features", attr));
  EXPECT_EQ(h.sysfs_write(attr, "x\n"), std::errc::permission_denied);  // read-only (C1)
  EXPECT_TRUE(h.check_invariants().empty());
}

}  // namespace
}  // namespace vfio_ap_test
