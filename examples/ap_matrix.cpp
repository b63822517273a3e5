// ap_matrix: the AP vocabulary of ordo/ap.hpp on a small vfio-ap scenario.
//
// A host with APXA reports adapters 0x05 and 0x06 and domains 0x04 and
// 0x47. An mdev is assigned adapters and domains the way the sysfs
// assign_* stores do (parse, maximum check, set), including two writes the
// kernel rejects. The guest sees only what the host has (the shadow APCB
// filter), and the masks round-trip through the ap_config attribute. The
// output is the kernel's sysfs text. Exits non-zero if any result differs
// from the kernel's.
#include <cerrno>
#include <cstdio>
#include <string>
#include <string_view>

#include "ordo/ap.hpp"

namespace ap = ordo::ap;

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("UNEXPECTED: %s\n", what);
    ++failures;
  }
}

// assign_adapter_store, steps 1-3: parse, check the maximum, set.
int assign_adapter(ap::ap_matrix& m, std::string_view buf) {
  auto [id, error] = ap::parse_id(buf, m.apm_max);
  if (error) return -error.value();
  m.apm.set(id);
  return static_cast<int>(buf.size());
}

int assign_domain(ap::ap_matrix& m, std::string_view buf) {
  auto [id, error] = ap::parse_id(buf, m.aqm_max);
  if (error) return -error.value();
  m.aqm.set(id);
  return static_cast<int>(buf.size());
}

}  // namespace

int main() {
  ap::host_config host;
  host.apxa = true;
  host.na = 0x7f;  // max adapter ID
  host.nd = 0x7f;  // max domain ID
  host.apm = ap::adapter_mask::of(ap::apid{0x05}, ap::apid{0x06});
  host.aqm = ap::domain_mask::of(ap::apqi{0x04}, ap::apqi{0x47});

  ap::ap_matrix matrix(host);  // vfio_ap_matrix_init: maxima 0x7f
  expect(assign_adapter(matrix, "5\n") == 2, "assign_adapter 5");
  expect(assign_adapter(matrix, "0x07\n") == 5, "assign_adapter 0x07");
  expect(assign_adapter(matrix, "08\n") == -EINVAL, "\"08\" is bad octal: EINVAL");
  expect(assign_adapter(matrix, "0x80\n") == -ENODEV, "0x80 > apm_max: ENODEV");
  expect(assign_domain(matrix, "0x47\n") == 5, "assign_domain 0x47");
  expect(assign_domain(matrix, "4") == 1, "assign_domain 4");

  std::printf("matrix:\n%s", ap::format_matrix(matrix).c_str());

  // vfio_ap_mdev_filter_matrix, first step: only IDs the host has.
  ap::ap_matrix shadow(host);
  shadow.apm = matrix.apm & host.apm;
  shadow.aqm = matrix.aqm & host.aqm;
  std::printf("guest_matrix:\n%s", ap::format_matrix(shadow).c_str());
  expect(ap::format_matrix(shadow) == "05.0004\n05.0047\n", "guest_matrix text");

  const ap::adapter_mask not_in_host = matrix.apm.andnot(host.apm);
  for (ap::apid a : not_in_host) std::printf("adapter %02x waits for the host\n", a.value());
  for (ap::apqn q : shadow.apqns()) std::printf("queue %s goes to the guest\n", q.to_string().c_str());

  // ap_config show, then store of the same text.
  const std::string config = ap::format_ap_config(matrix);
  std::printf("ap_config (%zu bytes):\n%s", config.size(), config.c_str());
  const auto parsed = ap::parse_ap_config(config);
  expect(parsed && parsed.value.apm == matrix.apm && parsed.value.aqm == matrix.aqm,
         "ap_config round trip");

  // /sys/bus/ap/apmask: a relative edit of the host's reservations.
  const auto apmask = ap::adapter_mask::parse_update("-0-255,+0x10-0x13\n", ap::adapter_mask::all());
  expect(apmask && apmask.value.weight() == 4, "apmask relative edit");
  std::printf("apmask: %s\n", apmask.value.to_string().c_str());

  return failures == 0 ? 0 : 1;
}
