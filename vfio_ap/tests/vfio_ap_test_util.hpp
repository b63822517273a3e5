// Helpers shared by the vfio_ap model tests (tests/vfio_ap_*_test.cpp).
#ifndef ORDO_TESTS_VFIO_AP_TEST_UTIL_HPP
#define ORDO_TESTS_VFIO_AP_TEST_UTIL_HPP

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <vfio_ap/host.hpp>

namespace vfio_ap_test {

using ordo::ap::apid;
using ordo::ap::apqi;
using ordo::ap::apqn;
using ordo::ap::cdom;

inline constexpr std::string_view matrix_dir = "/sys/devices/vfio_ap/matrix/";
inline const std::string type_dir =
    std::string(matrix_dir) + "mdev_supported_types/vfio_ap-passthrough/";

inline constexpr const char* uuid_a = "11111111-2222-3333-4444-555555555555";
inline constexpr const char* uuid_b = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
inline constexpr const char* uuid_c = "01234567-89ab-cdef-0123-456789abcdef";

inline ordo::ap::adapter_mask adapters(std::initializer_list<unsigned> ids) {
  ordo::ap::adapter_mask m;
  for (unsigned id : ids) m.set(apid(static_cast<std::uint8_t>(id)));
  return m;
}
inline ordo::ap::domain_mask domains(std::initializer_list<unsigned> ids) {
  ordo::ap::domain_mask m;
  for (unsigned id : ids) m.set(apqi(static_cast<std::uint8_t>(id)));
  return m;
}
inline ordo::ap::control_domain_mask cdoms(std::initializer_list<unsigned> ids) {
  ordo::ap::control_domain_mask m;
  for (unsigned id : ids) m.set(cdom(static_cast<std::uint8_t>(id)));
  return m;
}
inline apqn q(unsigned a, unsigned d) {
  return apqn(apid(static_cast<std::uint8_t>(a)), apqi(static_cast<std::uint8_t>(d)));
}
inline std::vector<apqn> qs(std::initializer_list<std::pair<unsigned, unsigned>> list) {
  std::vector<apqn> out;
  for (auto [a, d] : list) out.push_back(q(a, d));
  return out;
}

class VfioApTest : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_THAT(h.check_invariants(), ::testing::IsEmpty()); }

  std::error_code write(std::string_view path, std::string_view value) {
    return h.sysfs_write(path, value);
  }
  std::string read(std::string_view path) {
    std::string out = "<unset>";
    const std::error_code ec = h.sysfs_read(path, out);
    EXPECT_FALSE(ec) << path << ": " << ec.message();
    return out;
  }
  static std::string mdev(std::string_view uuid, std::string_view attr) {
    return std::string(matrix_dir) + std::string(uuid) + "/" + std::string(attr);
  }
  std::error_code create(std::string_view uuid) {
    return write(type_dir + "create", std::string(uuid) + "\n");
  }
  /// Writes "ID\n" to attribute `attr` of mdev `uuid` (assign_* and unassign_*).
  std::error_code write_id(std::string_view uuid, std::string_view attr, unsigned id) {
    return write(mdev(uuid, attr), std::to_string(id) + "\n");
  }
  std::error_code assign_adapter(std::string_view uuid, unsigned id) {
    return write_id(uuid, "assign_adapter", id);
  }
  std::error_code assign_domain(std::string_view uuid, unsigned id) {
    return write_id(uuid, "assign_domain", id);
  }
  std::string guest_matrix(std::string_view uuid) { return read(mdev(uuid, "guest_matrix")); }
  std::string matrix(std::string_view uuid) { return read(mdev(uuid, "matrix")); }

  /// Frees every queue for vfio_ap (apmask/aqmask 0) and configures the
  /// host with these adapters and domains.
  void host_with(std::initializer_list<unsigned> apids, std::initializer_list<unsigned> apqis,
                 std::initializer_list<unsigned> adm = {}) {
    ASSERT_FALSE(write("/sys/bus/ap/apmask", "0x0\n"));
    ASSERT_FALSE(write("/sys/bus/ap/aqmask", "0x0\n"));
    ordo::vfio_ap::qci_update u;
    u.apm = adapters(apids);
    u.aqm = domains(apqis);
    u.adm = cdoms(adm);
    ASSERT_FALSE(h.qci(u));
  }

  /// An mdev with these adapters and domains assigned.
  void mdev_with(std::string_view uuid, std::initializer_list<unsigned> apids,
                 std::initializer_list<unsigned> apqis) {
    ASSERT_FALSE(create(uuid));
    for (unsigned a : apids) ASSERT_FALSE(assign_adapter(uuid, a)) << a;
    for (unsigned d : apqis) ASSERT_FALSE(assign_domain(uuid, d)) << d;
  }

  std::string crycb(std::string_view guest) {
    std::string out;
    EXPECT_FALSE(h.kvm_crycb(guest, out));
    return out;
  }
  unsigned refs(std::string_view guest) {
    unsigned n = 0;
    EXPECT_FALSE(h.kvm_refs(guest, n));
    return n;
  }
  unsigned pqap(std::string_view guest, apqn queue) {
    unsigned rc = 0xff;
    EXPECT_FALSE(h.pqap(guest, queue, rc));
    return rc;
  }

  ordo::vfio_ap::host h;
};

}  // namespace vfio_ap_test

#endif  // ORDO_TESTS_VFIO_AP_TEST_UTIL_HPP
