// libFuzzer target: hostile bytes into every parser of ordo/ap.hpp, with the
// properties each must keep (ap.hpp I3, I4):
//   - an error leaves the default value (empty mask, 0, APQN 00.0000);
//   - an accepted text re-parses from its canonical form to the same value
//     (parse_ulong via decimal, masks via to_string, ap_config via
//     format_ap_config, APQNs via to_string);
//   - an error is EINVAL or ERANGE (ENODEV for parse_id), nothing else;
//   - format_matrix never exceeds the sysfs page cap.
// The input is exactly sized, so ASan reports any read past its end.
#include <ordo/ap.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace ap = ordo::ap;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "ap_parse_fuzz: property broken: %s\n", what);
    std::abort();
  }
}

bool errno_in(const std::error_code& ec, int a, int b, int c = 0) {
  return !ec || ec.value() == a || ec.value() == b || (c != 0 && ec.value() == c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const auto number = ap::parse_ulong(text);
  require(errno_in(number.error, EINVAL, ERANGE), "parse_ulong errno");
  if (number) {
    require(ap::parse_ulong(std::to_string(number.value)).value == number.value,
            "parse_ulong round trip");
  } else {
    require(number.value == 0, "parse_ulong error value");
  }

  const auto id = ap::parse_id(text, ap::apqi{0x3f});
  require(errno_in(id.error, EINVAL, ERANGE, ENODEV), "parse_id errno");
  require(id.value.value() <= 0x3f, "parse_id above max");

  const auto mask = ap::domain_mask::parse_hex(text);
  require(errno_in(mask.error, EINVAL, EINVAL), "parse_hex errno");
  if (mask) {
    require(ap::domain_mask::parse_hex(mask.value.to_string()).value == mask.value,
            "parse_hex round trip");
  } else {
    require(mask.value.empty(), "parse_hex error value");
  }

  const ap::adapter_mask current = ap::adapter_mask::of(ap::apid{1}, ap::apid{200});
  const auto update = ap::adapter_mask::parse_update(text, current);
  require(errno_in(update.error, EINVAL, EINVAL), "parse_update errno");
  if (!update) require(update.value.empty(), "parse_update error value");

  const auto config = ap::parse_ap_config(text);
  require(errno_in(config.error, EINVAL, EINVAL), "parse_ap_config errno");
  if (config) {
    const std::string line =
        ap::format_ap_config(config.value.apm, config.value.aqm, config.value.adm);
    require(line.size() == ap::ap_config_strlen, "ap_config length");
    require(ap::parse_ap_config(line).value == config.value, "ap_config round trip");

    ap::ap_matrix m;
    m.apm_max = ap::apid{0xff};
    m.aqm_max = ap::apqi{0xff};
    m.apm = config.value.apm;
    m.aqm = config.value.aqm;
    require(ap::format_matrix(m).size() <= ap::sysfs_show_max, "matrix page cap");
  } else {
    require(config.value == ap::ap_config_masks{}, "parse_ap_config error value");
  }

  const auto queue = ap::parse_apqn(text);
  require(errno_in(queue.error, EINVAL, ERANGE), "parse_apqn errno");
  if (queue) require(ap::parse_apqn(queue.value.to_string()).value == queue.value, "apqn round trip");
  return 0;
}
