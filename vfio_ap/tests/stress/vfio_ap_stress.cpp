// Stress: the vfio-ap reference model (vfio_ap/include/vfio_ap/host.hpp) under a
// random mix of every operation, from 8 threads, for a bounded time.
//
// Threads (sized for 2 cores; they contend on the model's locks, not on CPU):
//   admin x2   assign/unassign adapters, domains and control domains on
//              several mdevs, ap_config writes, matrix/guest_matrix/status
//              reads
//   bus        apmask/aqmask changes, queue bind/unbind, host configuration
//              changes (qci), injected reset failures (zapq_fault)
//   guests     guests created and destroyed, mdevs opened and closed for
//              them, an open mdev removed (request, close, remove) and
//              created again
//   racer x2   a guest destroyed while an mdev is being opened for it: the
//              open either wins (and holds a reference until its close) or
//              loses cleanly (fails, holds nothing: get_safe, reference §4.2
//              and seed 002)
//   vcpu x2    PQAP(AQIC) from the guests' vCPUs; the answer is rc 0x00 or
//              0x01, never anything else
//
// Checked:
//   - every 150 ms all workers park at a quiescent point; there the
//     model's invariants I1-I6 hold (host::check_invariants() is empty), and,
//     independently of the model's own I3 ledger, every APQN that left an
//     mdev's shadow APCB (guest_matrix) since the previous quiescent point
//     appears in the ZAPQ log (I3), checked over the intervals without a
//     host configuration change (qci runs in every other interval);
//   - each operation fails only with the errno the reference gives it;
//   - a close or remove (outside the intervals with a host configuration
//     change) reset every queue the mdev's guest had (its guest_matrix read
//     just before), per the ZAPQ log (I6: detach resets all linked queues);
//   - at the end, after closing every mdev: every guest holds exactly its
//     creator's reference, and the `kvm` and `vfio_ap` modules' reference
//     counts are back to their start values (no symbol_get or
//     try_module_get leaked); LeakSanitizer (asan preset) sees no leaked
//     guest or mdev;
//   - clean under the tsan and asan presets with the lockdep validator on
//     (a report aborts the run).
// The run prints the operation counts per kind (succeeded / failed).
//
// Environment:
//   ORDO_STRESS_SECONDS  run time in seconds (default 3; e.g. 60 for a soak)
//   ORDO_STRESS_SEED     base seed of the random mix (default: from the clock;
//                        printed, so a failing mix can be replayed in spirit)
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "ordo/ap.hpp"
#include "vfio_ap/host.hpp"
#include "../host_test_access.hpp"
#include "expect_ok.hpp"

namespace {

namespace ap = ordo::ap;
using ordo::vfio_ap::host;
using ordo::vfio_ap::host_test_access;
using ordo::vfio_ap::qci_update;
using clock_type = std::chrono::steady_clock;

constexpr int kIds = 8;           // ids 0..7: dense enough to collide
constexpr int kMdevs = 4;         // mdevs shared by admins and the guest thread
constexpr int kGuests = 3;        // g0..g2
constexpr int kWorkers = 8;
constexpr auto kQuiescentInterval = std::chrono::milliseconds(150);

const std::string kMatrix = "/sys/devices/vfio_ap/matrix/";
const std::string kCreate = kMatrix + "mdev_supported_types/vfio_ap-passthrough/create";

std::string mdev_uuid(int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "5a5a5a5a-0000-4000-8000-%012d", i);
  return buf;
}
const std::string kRaceMdev = mdev_uuid(99);
// By append, here and below: GCC 12 at -O3 reports false -Wrestrict
// overlaps in "literal" + std::string.
std::string guest_name(int i) {
  std::string name = "g";
  name += std::to_string(i);
  return name;
}
// "+ID\n" or "-ID\n": a mask edit.
std::string mask_edit(bool add, unsigned id) {
  std::string v(1, add ? '+' : '-');
  v += std::to_string(id);
  v += '\n';
  return v;
}
std::string attr(const std::string& uuid, std::string_view a) { return kMatrix + uuid + "/" + std::string(a); }

// ---- operation counts -------------------------------------------------------

enum op : int {
  op_assign_adapter, op_unassign_adapter, op_assign_domain, op_unassign_domain,
  op_assign_cdom, op_unassign_cdom, op_ap_config, op_read,
  op_apmask, op_aqmask, op_bind, op_unbind, op_qci, op_zapq_fault,
  op_kvm_create, op_kvm_destroy, op_vfio_open, op_vfio_close, op_mdev_remove, op_mdev_create,
  op_open_vs_destroy, op_pqap,
  op_count
};
constexpr std::array<const char*, op_count> kOpNames = {
  "assign_adapter", "unassign_adapter", "assign_domain", "unassign_domain",
  "assign_control_domain", "unassign_control_domain", "ap_config write", "attribute read",
  "apmask", "aqmask", "bind", "unbind", "qci", "zapq_fault",
  "kvm create", "kvm destroy", "vfio open", "vfio close", "mdev remove", "mdev create",
  "open vs destroy (won/lost)", "pqap (answered/no guest)",
};

struct counts {
  std::array<std::atomic<unsigned long>, op_count> ok{};
  std::array<std::atomic<unsigned long>, op_count> failed{};
};

// The errno values each kind may legitimately fail with (reference §2-§4,
// host.hpp C2/C3); anything else is a test failure.
bool expected_error(op kind, const std::error_code& ec) {
  using std::errc;
  const auto is = [&](std::initializer_list<errc> list) {
    for (errc e : list) {
      if (ec == e) return true;
    }
    return false;
  };
  switch (kind) {
    case op_assign_adapter:
    case op_assign_domain:
    case op_ap_config:
      return is({errc::address_not_available, errc::address_in_use, errc::no_such_file_or_directory});
    case op_unassign_adapter:
    case op_unassign_domain:
    case op_assign_cdom:
    case op_unassign_cdom:
    case op_read:
    case op_mdev_remove:
      return is({errc::no_such_file_or_directory});
    case op_apmask:
    case op_aqmask:
      return is({errc::device_or_resource_busy});
    case op_bind:
      return is({errc::no_such_device, errc::device_or_resource_busy});
    case op_unbind:
      return is({errc::no_such_device});
    case op_kvm_create:
    case op_mdev_create:
      return is({errc::file_exists});
    case op_kvm_destroy:
      return is({errc::no_such_file_or_directory});
    case op_vfio_open:
      return is({errc::no_such_file_or_directory, errc::operation_not_permitted,
                 errc::device_or_resource_busy, errc::invalid_argument});
    case op_vfio_close:
      return is({errc::bad_file_descriptor, errc::no_such_file_or_directory});
    case op_open_vs_destroy:
      return is({errc::no_such_file_or_directory, errc::invalid_argument});
    case op_pqap:
      return is({errc::no_such_file_or_directory});
    default:
      return false;
  }
}

// ---- quiescent points -------------------------------------------------------

class quiescence {
 public:
  explicit quiescence(int workers) : workers_(workers) {}
  // Workers call this at safe points (no operation in flight).
  void park() {
    if (!requested_.load(std::memory_order_acquire)) return;  // partner: pause_all's store
    std::unique_lock<std::mutex> lock(mutex_);
    ++parked_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !paused_; });
    --parked_;
  }
  void pause_all() {
    std::unique_lock<std::mutex> lock(mutex_);
    paused_ = true;
    requested_.store(true, std::memory_order_release);  // partner: park's load
    cv_.wait(lock, [&] { return parked_ == workers_; });
  }
  void resume() {
    std::lock_guard<std::mutex> lock(mutex_);
    paused_ = false;
    requested_.store(false, std::memory_order_relaxed);  // ordered by mutex_
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<bool> requested_{false};
  bool paused_ = false;
  int parked_ = 0;
  const int workers_;
};

// ---- the test ---------------------------------------------------------------

std::string errno_name(const std::error_code& ec) { return ec.message() + " (" + std::to_string(ec.value()) + ")"; }

template <class Mask, class Id>
Mask random_mask(std::mt19937& rng, unsigned density_percent) {
  Mask m;
  std::uniform_int_distribution<unsigned> pct(0, 99);
  for (int i = 0; i < kIds; ++i) {
    if (pct(rng) < density_percent) m.set(Id(static_cast<std::uint8_t>(i)));
  }
  return m;
}

// APQNs of a matrix / guest_matrix listing ("xx.yyyy" lines; "xx." and
// ".yyyy" lines name no queue).
std::set<ap::apqn> matrix_apqns(const std::string& text) {
  std::set<ap::apqn> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t nl = text.find('\n', at);
    const std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? text.size() : nl + 1;
    if (line.size() != 7 || line[2] != '.') continue;
    const unsigned long card = std::strtoul(line.substr(0, 2).c_str(), nullptr, 16);
    const unsigned long dom = std::strtoul(line.substr(3).c_str(), nullptr, 16);
    out.insert(ap::apqn(ap::apid(static_cast<std::uint8_t>(card)), ap::apqi(static_cast<std::uint8_t>(dom))));
  }
  return out;
}

TEST(VfioApStress, RandomMixHoldsInvariantsAndLeaksNothing) {
  double seconds = 3.0;
  if (const char* s = std::getenv("ORDO_STRESS_SECONDS")) seconds = std::max(0.1, std::atof(s));
  std::uint64_t seed = static_cast<std::uint64_t>(clock_type::now().time_since_epoch().count());
  if (const char* s = std::getenv("ORDO_STRESS_SEED")) seed = std::strtoull(s, nullptr, 0);
  std::printf("vfio_ap_stress: %.1f s, %d workers, seed %llu\n", seconds, kWorkers,
              static_cast<unsigned long long>(seed));

  host h;
  const std::uint32_t kvm_module_start = host_test_access::module_refs(h, "kvm");
  const std::uint32_t vfio_ap_module_start = host_test_access::module_refs(h, "vfio_ap");
  ASSERT_NE(kvm_module_start, 0xffffffffu) << "no kvm module";
  ASSERT_NE(vfio_ap_module_start, 0xffffffffu) << "no vfio_ap module";

  // Start: ids 0..5 configured, 6..7 over-provisioned; nothing reserved.
  {
    ap::adapter_mask a;
    ap::domain_mask d;
    ap::control_domain_mask c;
    for (int i = 0; i < 6; ++i) {
      a.set(ap::apid(static_cast<std::uint8_t>(i)));
      d.set(ap::apqi(static_cast<std::uint8_t>(i)));
      c.set(ap::cdom(static_cast<std::uint8_t>(i)));
    }
    ASSERT_OK(h.qci(qci_update{.apm = a, .aqm = d, .adm = c}));
    ASSERT_OK(h.sysfs_write("/sys/bus/ap/apmask", "0x0\n"));
    ASSERT_OK(h.sysfs_write("/sys/bus/ap/aqmask", "0x0\n"));
  }
  for (int i = 0; i < kMdevs; ++i) ASSERT_OK(h.sysfs_write(kCreate, mdev_uuid(i) + "\n"));
  ASSERT_OK(h.sysfs_write(kCreate, kRaceMdev + "\n"));
  ASSERT_OK(h.sysfs_write(attr(kRaceMdev, "assign_control_domain"), "1\n"));

  counts n;
  std::mutex unexpected_mutex;
  std::vector<std::string> unexpected;  // guarded by unexpected_mutex
  const auto record = [&](op kind, const std::error_code& ec) {
    if (!ec) {
      n.ok[kind].fetch_add(1, std::memory_order_relaxed);
      return;
    }
    n.failed[kind].fetch_add(1, std::memory_order_relaxed);
    if (!expected_error(kind, ec)) {
      std::lock_guard<std::mutex> lock(unexpected_mutex);
      if (unexpected.size() < 20) unexpected.push_back(std::string(kOpNames[kind]) + ": " + errno_name(ec));
    }
  };

  std::atomic<bool> stop{false};
  std::atomic<unsigned long> qci_changes{0};
  std::atomic<bool> qci_allowed{false};
  std::atomic<unsigned long> close_without_reset{0}, closes_checked{0};
  std::atomic<unsigned long> bad_pqap_rc{0};
  std::atomic<unsigned long> race_open_after_lose{0};
  quiescence q(kWorkers);

  const auto admin = [&](std::uint64_t s) {
    std::mt19937 rng(static_cast<std::mt19937::result_type>(s));
    std::uniform_int_distribution<int> pick(0, 99), id(0, kIds - 1), md(0, kMdevs - 1);
    while (!stop.load(std::memory_order_relaxed)) {
      q.park();
      const std::string u = mdev_uuid(md(rng));
      const std::string v = std::to_string(id(rng)) + "\n";
      const int p = pick(rng);
      if (p < 14) {
        record(op_assign_adapter, h.sysfs_write(attr(u, "assign_adapter"), v));
      } else if (p < 26) {
        record(op_unassign_adapter, h.sysfs_write(attr(u, "unassign_adapter"), v));
      } else if (p < 40) {
        record(op_assign_domain, h.sysfs_write(attr(u, "assign_domain"), v));
      } else if (p < 52) {
        record(op_unassign_domain, h.sysfs_write(attr(u, "unassign_domain"), v));
      } else if (p < 60) {
        record(op_assign_cdom, h.sysfs_write(attr(u, "assign_control_domain"), v));
      } else if (p < 66) {
        record(op_unassign_cdom, h.sysfs_write(attr(u, "unassign_control_domain"), v));
      } else if (p < 76) {
        const std::string cfg = ap::format_ap_config(
            random_mask<ap::adapter_mask, ap::apid>(rng, 25), random_mask<ap::domain_mask, ap::apqi>(rng, 25),
            random_mask<ap::control_domain_mask, ap::cdom>(rng, 30));
        record(op_ap_config, h.sysfs_write(attr(u, "ap_config"), cfg));
      } else {
        static constexpr std::array<std::string_view, 5> kReads = {"matrix", "guest_matrix", "control_domains",
                                                                   "ap_config", "status"};
        const auto which = kReads[static_cast<std::size_t>(pick(rng)) % kReads.size()];
        std::string out;
        if (which == "status") {
          const ap::apqn queue(ap::apid(static_cast<std::uint8_t>(id(rng))), ap::apqi(static_cast<std::uint8_t>(id(rng))));
          const auto ec = h.sysfs_read("/sys/bus/ap/devices/" + queue.to_string() + "/status", out);
          // A queue that is not bound to vfio_ap has no status attribute.
          record(op_read, ec == std::errc::no_such_file_or_directory ? std::error_code{} : ec);
          if (!ec && out != "assigned\n" && out != "unassigned\n" && out != "in use\n") {
            record(op_read, std::make_error_code(std::errc::bad_message));
          }
        } else {
          record(op_read, h.sysfs_read(attr(u, which), out));
        }
      }
    }
  };

  const auto bus = [&](std::uint64_t s) {
    std::mt19937 rng(static_cast<std::mt19937::result_type>(s));
    std::uniform_int_distribution<int> pick(0, 99), id(0, kIds - 1);
    static constexpr std::array<unsigned, 8> kFaults = {0, 0, 0, 0x06, 0x02, 0x05, 0x03, 0x04};
    std::uniform_int_distribution<std::size_t> fault(0, kFaults.size() - 1);
    while (!stop.load(std::memory_order_relaxed)) {
      q.park();
      const int p = pick(rng);
      const ap::apqn queue(ap::apid(static_cast<std::uint8_t>(id(rng))), ap::apqi(static_cast<std::uint8_t>(id(rng))));
      if (p < 15) {
        // Reserve an id (often refused: EBUSY) or give one back.
        const std::string v = mask_edit(pick(rng) < 50, static_cast<unsigned>(id(rng)));
        record(op_apmask, h.sysfs_write("/sys/bus/ap/apmask", v));
      } else if (p < 30) {
        const std::string v = mask_edit(pick(rng) < 50, static_cast<unsigned>(id(rng)));
        record(op_aqmask, h.sysfs_write("/sys/bus/ap/aqmask", v));
      } else if (p < 50) {
        record(op_bind, h.sysfs_write("/sys/bus/ap/drivers/vfio_ap/bind", queue.to_string() + "\n"));
      } else if (p < 70) {
        record(op_unbind, h.sysfs_write("/sys/bus/ap/drivers/vfio_ap/unbind", queue.to_string() + "\n"));
      } else if (p < 85) {
        // Host configuration changes happen in every other interval between
        // quiescent points, so the intervals without one can check I3 from
        // the outside (see the checker below).
        if (!qci_allowed.load(std::memory_order_relaxed)) continue;
        qci_update u;
        const int what = pick(rng) % 3;
        if (what == 0) u.apm = random_mask<ap::adapter_mask, ap::apid>(rng, 70);
        if (what == 1) u.aqm = random_mask<ap::domain_mask, ap::apqi>(rng, 70);
        if (what == 2) u.adm = random_mask<ap::control_domain_mask, ap::cdom>(rng, 70);
        qci_changes.fetch_add(1, std::memory_order_relaxed);
        record(op_qci, h.qci(u));
      } else {
        record(op_zapq_fault, h.zapq_fault(queue, kFaults[fault(rng)]));
      }
    }
  };

  // The shadow (guest_matrix) of mdev u, when no host configuration change
  // can happen before the next quiescent point (qci only runs in every
  // other interval); empty otherwise.
  const auto stable_shadow = [&](const std::string& u) {
    std::set<ap::apqn> out;
    std::string gm;
    if (!qci_allowed.load(std::memory_order_relaxed) && !h.sysfs_read(attr(u, "guest_matrix"), gm)) {
      out = matrix_apqns(gm);
    }
    return out;
  };
  // Every queue of `shadow` was reset since the last quiescent point (the log
  // is cleared only there, while this thread is parked).
  const auto expect_reset = [&](const std::set<ap::apqn>& shadow, const char* what, const std::string& u) {
    if (shadow.empty()) return;
    const auto log = h.zapq_log();
    const std::set<ap::apqn> reset(log.begin(), log.end());
    for (const ap::apqn& a : shadow) {
      if (!reset.contains(a)) {
        close_without_reset.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard<std::mutex> lock(unexpected_mutex);
        if (unexpected.size() < 20) {
          unexpected.push_back(std::string(what) + " of " + u + ": " + a.to_string() + " left the guest without a reset");
        }
      }
    }
    closes_checked.fetch_add(1, std::memory_order_relaxed);
  };

  const auto guests = [&](std::uint64_t s) {
    std::mt19937 rng(static_cast<std::mt19937::result_type>(s));
    std::uniform_int_distribution<int> pick(0, 99), g(0, kGuests - 1), md(0, kMdevs - 1);
    while (!stop.load(std::memory_order_relaxed)) {
      q.park();
      const int p = pick(rng);
      const int gi = g(rng);
      const std::string u = mdev_uuid(md(rng));
      if (p < 4) {
        record(op_kvm_create, h.kvm_create(guest_name(gi)));
      } else if (p < 6) {
        record(op_kvm_destroy, h.kvm_destroy(guest_name(gi)));
      } else if (p < 60) {
        record(op_vfio_open, h.vfio_open(u, guest_name(gi)));
      } else if (p < 97) {
        // Close resets every queue of the mdev (unset_kvm, I6): what its
        // guest had (= the shadow) must be in the ZAPQ log afterwards.
        const auto shadow = stable_shadow(u);
        const auto ec = h.vfio_close(u);
        record(op_vfio_close, ec);
        if (!ec) expect_reset(shadow, "vfio close", u);
      } else {
        // Remove (open or not: request, close, remove), then create again.
        const auto shadow = stable_shadow(u);
        const auto ec = h.sysfs_write(attr(u, "remove"), "1\n");
        record(op_mdev_remove, ec);
        if (!ec) expect_reset(shadow, "mdev remove", u);
        record(op_mdev_create, h.sysfs_write(kCreate, u + "\n"));
      }
    }
  };

  // The get_safe race: racer_open creates "race" and opens kRaceMdev for it
  // while racer_destroy destroys it. seq: odd = guest created, not destroyed.
  std::atomic<unsigned long> seq{0};
  const auto racer_open = [&] {
    std::mt19937 rng(static_cast<std::mt19937::result_type>(seed ^ 0x0be1));
    std::uniform_int_distribution<int> spin(0, 3);
    while (!stop.load(std::memory_order_relaxed)) {
      q.park();
      if (h.kvm_create("race")) {
        record(op_kvm_create, std::make_error_code(std::errc::file_exists));
        continue;
      }
      seq.fetch_add(1, std::memory_order_acq_rel);  // odd: go
      for (int i = spin(rng); i > 0; --i) std::this_thread::yield();  // a head start for either side
      const auto ec = h.vfio_open(kRaceMdev, "race");
      // Wait for the destroy (parking if asked to).
      while (seq.load(std::memory_order_acquire) % 2 == 1) {
        if (stop.load(std::memory_order_relaxed)) break;
        q.park();
        std::this_thread::yield();
      }
      if (!ec) {
        n.ok[op_open_vs_destroy].fetch_add(1, std::memory_order_relaxed);
        record(op_vfio_close, h.vfio_close(kRaceMdev));
      } else {
        record(op_open_vs_destroy, ec);
        // A lost open holds nothing: the mdev is not open.
        if (h.vfio_close(kRaceMdev) != std::errc::bad_file_descriptor) {
          race_open_after_lose.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
  };
  const auto racer_destroy = [&] {
    std::mt19937 rng(static_cast<std::mt19937::result_type>(seed ^ 0x5eed));
    std::uniform_int_distribution<int> spin(0, 3);
    while (!stop.load(std::memory_order_relaxed)) {
      q.park();
      if (seq.load(std::memory_order_acquire) % 2 == 0) {
        std::this_thread::yield();
        continue;
      }
      for (int i = spin(rng); i > 0; --i) std::this_thread::yield();
      record(op_kvm_destroy, h.kvm_destroy("race"));
      seq.fetch_add(1, std::memory_order_acq_rel);  // even: destroyed
    }
  };

  std::array<std::atomic<unsigned long>, 2> pqap_rc{};
  const auto vcpu = [&](std::uint64_t s) {
    std::mt19937 rng(static_cast<std::mt19937::result_type>(s));
    std::uniform_int_distribution<int> g(0, kGuests), id(0, kIds - 1);
    while (!stop.load(std::memory_order_relaxed)) {
      q.park();
      const int gi = g(rng);
      const std::string name = gi == kGuests ? std::string("race") : guest_name(gi);
      const ap::apqn queue(ap::apid(static_cast<std::uint8_t>(id(rng))), ap::apqi(static_cast<std::uint8_t>(id(rng))));
      unsigned rc = 0xff;
      const auto ec = h.pqap(name, queue, rc);
      record(op_pqap, ec);
      // A vCPU intercepts now and then, not in a tight loop: leave the cores
      // to the threads that change the configuration.
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      if (!ec) {
        if (rc == 0x00 || rc == 0x01) {
          pqap_rc[rc].fetch_add(1, std::memory_order_relaxed);
        } else {
          bad_pqap_rc.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
  };

  std::vector<std::thread> workers;
  workers.emplace_back(admin, seed + 1);
  workers.emplace_back(admin, seed + 2);
  workers.emplace_back(bus, seed + 3);
  workers.emplace_back(guests, seed + 4);
  workers.emplace_back(racer_open);
  workers.emplace_back(racer_destroy);
  workers.emplace_back(vcpu, seed + 7);
  workers.emplace_back(vcpu, seed + 8);
  ASSERT_EQ(static_cast<int>(workers.size()), kWorkers);

  // Quiescent checks.
  unsigned long quiescent_points = 0, i3_checked = 0, invariant_failures = 0, i3_failures = 0;
  unsigned long broken_with_qci = 0, broken_without_qci = 0;
  std::size_t prev_broken = 0;
  std::map<std::string, std::set<ap::apqn>> prev_shadow;  // mdev -> guest_matrix APQNs
  unsigned long prev_qci = 0;
  std::vector<std::string> all_mdevs;
  for (int i = 0; i < kMdevs; ++i) all_mdevs.push_back(mdev_uuid(i));
  all_mdevs.push_back(kRaceMdev);
  const auto snapshot = [&] {
    prev_shadow.clear();
    for (const auto& u : all_mdevs) {
      std::string gm;
      if (!h.sysfs_read(attr(u, "guest_matrix"), gm)) prev_shadow[u] = matrix_apqns(gm);
    }
    prev_qci = qci_changes.load();
    h.clear_zapq_log();
  };
  snapshot();
  const auto end = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                           std::chrono::duration<double>(seconds));
  while (clock_type::now() < end) {
    std::this_thread::sleep_for(kQuiescentInterval);
    q.pause_all();
    ++quiescent_points;
    const bool had_qci = qci_changes.load() != prev_qci;
    const auto broken = h.check_invariants();
    // The model's I3 ledger only grows; count the lines new in this interval.
    if (broken.size() > prev_broken) ++(had_qci ? broken_with_qci : broken_without_qci);
    if (broken.size() > prev_broken && invariant_failures++ < 3) {
      std::string all;
      for (std::size_t i = prev_broken; i < broken.size() && i < prev_broken + 12; ++i) all += "  " + broken[i] + "\n";
      ADD_FAILURE() << "invariants broken at quiescent point " << quiescent_points << " ("
                    << broken.size() - prev_broken << " new lines; host configuration changed in the interval: "
                    << (had_qci ? "yes" : "no") << "):\n" << all;
    }
    prev_broken = broken.size();
    // I3, checked from the outside: with the host configuration unchanged,
    // an APQN that left an mdev's shadow APCB (guest_matrix: what its guest
    // gets) since the last point was reset (ZAPQ log). A removed mdev reset
    // all its queues (reference §2.2, §2.4, §2.9, §3.3, §4.5, §4.7).
    if (!had_qci) {
      const auto log = h.zapq_log();
      const std::set<ap::apqn> reset(log.begin(), log.end());
      for (const auto& [u, before] : prev_shadow) {
        std::string gm;
        std::set<ap::apqn> now;
        if (!h.sysfs_read(attr(u, "guest_matrix"), gm)) now = matrix_apqns(gm);
        ++i3_checked;
        for (const ap::apqn& a : before) {
          if (!now.contains(a) && !reset.contains(a) && i3_failures++ < 5) {
            ADD_FAILURE() << a << " left the shadow APCB of mdev " << u << " without a reset (I3)";
          }
        }
      }
    }
    snapshot();
    qci_allowed.store(quiescent_points % 2 == 1, std::memory_order_relaxed);
    q.resume();
  }
  stop = true;
  for (auto& t : workers) t.join();

  // The end: nothing leaked.
  EXPECT_TRUE(h.check_invariants().empty());
  for (int i = 0; i < kMdevs; ++i) (void)h.vfio_close(mdev_uuid(i));
  (void)h.vfio_close(kRaceMdev);
  for (int gi = 0; gi < kGuests; ++gi) {
    unsigned refs = 0;
    if (!h.kvm_refs(guest_name(gi), refs)) {
      EXPECT_EQ(refs, 1u) << guest_name(gi) << ": only its creator's reference may be left";
    }
  }
  unsigned race_refs = 0;
  if (!h.kvm_refs("race", race_refs)) {
    EXPECT_EQ(race_refs, 1u);
  }
  EXPECT_EQ(host_test_access::module_refs(h, "kvm"), kvm_module_start) << "a kvm symbol_get leaked";
  EXPECT_EQ(host_test_access::module_refs(h, "vfio_ap"), vfio_ap_module_start) << "a vfio_ap module ref leaked";
  EXPECT_TRUE(h.check_invariants().empty());
  for (int gi = 0; gi < kGuests; ++gi) (void)h.kvm_destroy(guest_name(gi));
  (void)h.kvm_destroy("race");

  // What the run did.
  std::printf("vfio_ap_stress: %lu quiescent points (%lu guest I3 checks; invariants broken after %lu "
              "intervals with a host configuration change, %lu without), counts:\n",
              quiescent_points, i3_checked, broken_with_qci, broken_without_qci);
  std::printf("  %-28s %10s %10s\n", "operation", "succeeded", "failed");
  unsigned long total = 0;
  for (int k = 0; k < op_count; ++k) {
    std::printf("  %-28s %10lu %10lu\n", kOpNames[static_cast<std::size_t>(k)], n.ok[static_cast<std::size_t>(k)].load(),
                n.failed[static_cast<std::size_t>(k)].load());
    total += n.ok[static_cast<std::size_t>(k)].load() + n.failed[static_cast<std::size_t>(k)].load();
  }
  std::printf("  pqap rc 0x00: %lu, rc 0x01: %lu; closes/removes checked for resets: %lu; total operations: %lu\n",
              pqap_rc[0].load(), pqap_rc[1].load(), closes_checked.load(), total);
  std::fflush(stdout);

  {
    std::lock_guard<std::mutex> lock(unexpected_mutex);
    for (const auto& u : unexpected) ADD_FAILURE() << u;
  }
  EXPECT_EQ(bad_pqap_rc.load(), 0u) << "PQAP answered something else than 0x00 / 0x01";
  EXPECT_EQ(race_open_after_lose.load(), 0u) << "a lost open left the mdev open";
  EXPECT_EQ(close_without_reset.load(), 0u) << "a close or remove left queues unreset (I6)";
  EXPECT_GT(closes_checked.load(), 0u) << "no close of an mdev with queues was checked";
  // The mix must have exercised every kind (a run that did nothing proves nothing).
  for (int k = 0; k < op_count; ++k) {
    EXPECT_GT(n.ok[static_cast<std::size_t>(k)].load() + n.failed[static_cast<std::size_t>(k)].load(), 0u)
        << kOpNames[static_cast<std::size_t>(k)] << " never ran";
  }
  EXPECT_GT(n.ok[op_vfio_open].load(), 0u) << "no guest was ever attached";
  EXPECT_GT(quiescent_points, 0u);
}

}  // namespace
