// libFuzzer target: hostile bytes into every sysfs store function and parser
// of the reference matrix.
//
// The input is a sequence of records. A record's first byte selects the
// operation (an attribute of two mdevs, the AP bus masks, bind/unbind, the
// mdev create/remove files, a host event, or one of ap.hpp's parsers); the
// second byte is the value's length; the value follows. After every record
// the invariants I1–I6 it could have broken must hold (host::check_changed),
// and all of them after the last record (check_invariants): a broken
// invariant is a crash, as is any sanitizer report or leak. Several records per input let the fuzzer reach
// states (assigned, attached, hot-unplugged) that single writes cannot.
#include <absl/synchronization/mutex.h>
#include <ordo/ap.hpp>
#include <vfio_ap/host.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view mdev_a = "/sys/devices/vfio_ap/matrix/11111111-2222-3333-4444-555555555555/";
constexpr std::string_view mdev_b = "/sys/devices/vfio_ap/matrix/66666666-7777-8888-9999-000000000000/";
constexpr std::string_view mdev_attrs[] = {
    "assign_adapter", "unassign_adapter", "assign_domain", "unassign_domain",
    "assign_control_domain", "unassign_control_domain", "ap_config",
    "matrix", "guest_matrix", "control_domains", "remove"};
constexpr std::string_view bus_paths[] = {
    "/sys/bus/ap/apmask",
    "/sys/bus/ap/aqmask",
    "/sys/bus/ap/drivers/vfio_ap/bind",
    "/sys/bus/ap/drivers/vfio_ap/unbind",
    "/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/create",
    "/sys/devices/vfio_ap/matrix/features",
};

// The attributes' paths, looked up once (host::sysfs_resolve: a write
// through one is the write to its path; the lookup itself is the layout
// tests' and script_fuzz's, whose inputs spell paths): the mdevs', then the
// bus's, in the order of mdev_attrs and bus_paths.
const std::vector<ordo::vfio_ap::host::sysfs_attr>& attributes() {
  using attr = ordo::vfio_ap::host::sysfs_attr;
  static const std::vector<attr> attrs = [] {
    std::vector<attr> out;
    auto resolve = [&out](const std::string& path) {
      attr a;
      if (ordo::vfio_ap::host::sysfs_resolve(path, a)) {
        std::fprintf(stderr, "sysfs_fuzz: %s is not in the layout\n", path.c_str());
        std::abort();
      }
      out.push_back(a);
    };
    for (const std::string_view dir : {mdev_a, mdev_b}) {
      for (const std::string_view name : mdev_attrs) resolve(std::string(dir) + std::string(name));
    }
    for (const std::string_view path : bus_paths) resolve(std::string(path));
    return out;
  }();
  return attrs;
}
constexpr std::size_t n_mdev_attrs = sizeof(mdev_attrs) / sizeof(mdev_attrs[0]);
const ordo::vfio_ap::host::sysfs_attr& bus_attribute(std::size_t i) {
  return attributes()[2 * n_mdev_attrs + i];
}

// A small host with something in it: 4 adapters and 4 domains (8 control
// domains), adapters 0-1 and domains 0-1 released to vfio_ap (12 of the 16
// queues bound to it, 4 to the host driver), two mdevs and a guest, booted
// once per process; every input that changed something restores it (the
// copy is as large as the state). Small enough: each path the records
// drive (assignment of a configured, an unconfigured and a host-owned
// queue, hot plug and unplug, filtering, a busy reset) has its queue here,
// and a QCI record grows the host to up to 64 queues. The masks are
// written before the adapters appear, so each queue device is probed once,
// by the scan.
void boot(ordo::vfio_ap::host& h) {
  (void)h.sysfs_write(bus_attribute(0), "-0-1\n");  // apmask
  (void)h.sysfs_write(bus_attribute(1), "-0-1\n");  // aqmask
  ordo::vfio_ap::qci_update config;
  ordo::ap::adapter_mask apm;
  ordo::ap::domain_mask aqm;
  ordo::ap::control_domain_mask adm;
  for (std::uint8_t i = 0; i < 4; ++i) {
    apm.set(ordo::ap::apid(i));
    aqm.set(ordo::ap::apqi(i));
  }
  for (std::uint8_t i = 0; i < 8; ++i) adm.set(ordo::ap::cdom(i));
  config.apm = apm;
  config.aqm = aqm;
  config.adm = adm;
  (void)h.qci(config);
  const auto& create = bus_attribute(4);
  (void)h.sysfs_write(create, "11111111-2222-3333-4444-555555555555\n");
  (void)h.sysfs_write(create, "66666666-7777-8888-9999-000000000000\n");
  (void)h.kvm_create("guest");
}

// After a record: what it could have broken (check_changed); after the last
// record (selector -1): everything (check_invariants); after the boot
// (selector -2): what the boot's operations could have broken.
void check(const std::vector<std::string>& broken, int selector, std::size_t value_size) {
  if (broken.empty()) return;
  std::fprintf(stderr, "invariant broken after op %d with value of %zu bytes:\n", selector,
               value_size);
  for (const auto& line : broken) std::fprintf(stderr, "  %s\n", line.c_str());
  std::abort();
}

void apply(ordo::vfio_ap::host& h, unsigned selector, std::string_view value) {
  constexpr unsigned n_mdev = sizeof(mdev_attrs) / sizeof(mdev_attrs[0]);
  constexpr unsigned n_bus = sizeof(bus_paths) / sizeof(bus_paths[0]);
  std::string out;
  if (selector < 2 * n_mdev + n_bus) {
    (void)h.sysfs_write(attributes()[selector], value);
    (void)h.sysfs_read(attributes()[selector], out);
    return;
  }
  selector -= 2 * n_mdev + n_bus;
  const std::uint8_t first = value.empty() ? 0 : static_cast<std::uint8_t>(value[0]);
  switch (selector) {
    case 0: (void)h.vfio_open(mdev_a.substr(28, 36), "guest"); break;
    case 1: (void)h.vfio_open(mdev_b.substr(28, 36), "guest"); break;
    case 2: (void)h.vfio_close(mdev_a.substr(28, 36)); break;
    case 3: (void)h.vfio_close(mdev_b.substr(28, 36)); break;
    case 4: {  // a host configuration change whose masks come from the value
      // At most 64 queue devices (the boot's 8 x 8): a mutated mask can
      // configure up to 65536, whose bus scan takes ~50 ms under ASan and
      // would be most of the run's time. Each path of a configuration
      // change (adapters and domains added and removed, hot plug and
      // unplug of assigned queues, filtering, na/nd/apxa) is reached with
      // 64 as with more: the model treats every queue alike and an
      // invariant sees one queue or a pair of mdevs at a time.
      const auto masks = ordo::ap::parse_ap_config(value);
      if (masks && masks.value.apm.weight() * masks.value.aqm.weight() <= 64) {
        ordo::vfio_ap::qci_update config;
        config.apm = masks.value.apm;
        config.aqm = masks.value.aqm;
        config.adm = masks.value.adm;
        if (first & 1) config.apxa = (first & 2) != 0;
        (void)h.qci(config);
      }
      break;
    }
    case 5: {
      unsigned rc = 0;
      (void)h.pqap("guest", ordo::ap::apqn(ordo::ap::apid(first & 7),
                                           ordo::ap::apqi(value.size() & 7)), rc);
      break;
    }
    case 6:
      (void)h.zapq_fault(ordo::ap::apqn(ordo::ap::apid(first & 7), ordo::ap::apqi((first >> 3) & 7)),
                         value.size() > 1 ? static_cast<std::uint8_t>(value[1]) : 0);
      break;
    case 7: (void)ordo::ap::parse_ulong(value); break;
    case 8: (void)ordo::ap::parse_apqn(value); break;
    case 9: (void)ordo::ap::parse_ap_config(value); break;
    case 10: (void)h.kvm_crycb("guest", out); break;
    default: break;
  }
}

}  // namespace

// AddressSanitizer keeps freed memory in a quarantine to catch a later use
// of it, 256 MB by default: it fills after a few thousand inputs and is then
// most of this target's memory (a peak RSS of ~430 MB). Every input frees
// what it built before it returns (the restore below, about 45 KB, plus what
// its records freed), so a use after free can only reach memory freed by the
// same input, and it is caught whenever less than the quarantine was freed
// between the free and the use. A QCI record creates at most 64 queue
// devices, so an input of at most 64 records frees a few MB at the very
// most: 64 MB holds all of it. ASAN_OPTIONS still overrides it.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=64"; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // One host for the process (never destroyed: no exit-order issue), booted
  // once, its state saved (host::save) and checked in full. Each input
  // starts from the booted state and leaves it booted again: an input that
  // changed something is followed by host::restore of the saved image,
  // which is exact (vfio_ap_reset_test: VfioApRestore) and costs a copy
  // where booting again cost the boot's operations, a sixth of this
  // target's time. What an input allocated is freed within it (libFuzzer's
  // malloc/free balance, which would otherwise rerun an input whose records
  // grew the state, looking for a leak).
  struct process {
    ordo::vfio_ap::host h;
    ordo::vfio_ap::host::image booted;
  };
  static process& p = []() -> process& {
    // Abseil's own deadlock detector off (Debian builds it on: every
    // absl::Mutex::Lock updates a global graph of mutex instances, ~60 ns a
    // lock, a seventh of this target's time). It only duplicates ordo's
    // validator here: every lock the model takes is an ordo::ordered_mutex
    // over an absl::Mutex, each acquisition is validated against the lock
    // classes (ORDO_LOCKDEP=1, a report aborts), and a cycle of mutex
    // instances is a cycle of their classes, so lockdep reports whatever
    // Abseil's detector would.
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    auto* made = new process;
    boot(made->h);
    check(made->h.check_changed(), -2, 0);
    if (made->h.save(made->booted)) {
      std::fprintf(stderr, "sysfs_fuzz: the booted host cannot be saved\n");
      std::abort();
    }
    return *made;
  }();
  ordo::vfio_ap::host& h = p.h;
  static std::uint64_t booted_generation = h.generation();
  std::size_t at = 0;
  int records = 0;
  while (at + 2 <= size && records++ < 64) {
    const unsigned selector = data[at];
    const std::size_t length = std::min<std::size_t>(data[at + 1], size - at - 2);
    const std::string_view value(reinterpret_cast<const char*>(data + at + 2), length);
    at += 2 + length;
    apply(h, selector % 40, value);
    check(h.check_changed(), static_cast<int>(selector % 40), value.size());
  }
  // An input that changed nothing (host::generation did not move: only
  // shows, parsers and stores that failed at their value's parse ran,
  // about one input in seven) left the booted host as it was: it stays.
  if (h.generation() == booted_generation) return 0;
  check(h.check_invariants(), -1, 0);
  h.restore(p.booted);
  // Everything again, as after the boot: a restore that left something
  // behind would otherwise crash at the next input, which would not
  // reproduce it from its own bytes.
  check(h.check_changed(), -2, 0);
  booted_generation = h.generation();
  return 0;
}
