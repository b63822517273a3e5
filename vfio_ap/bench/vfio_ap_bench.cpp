// Benchmarks of the vfio_ap model (vfio_ap/include/vfio_ap/).
//
// BM_FilterMatrix_Full          ours: vfio_ap_mdev_filter_matrix on an mdev
//                               with 256 adapters x 256 domains, every queue
//                               bound and passable (the per-adapter usable
//                               index: one 4-word subset test per adapter).
// BM_FilterMatrix_PerApqn       anchor: the kernel's loop on the same input,
//                               written plainly: for each adapter, for each
//                               domain, look the APQN up in
//                               DECLARE_HASHTABLE(queues, 8) (256 buckets,
//                               hash_32(apqn, 8), chained nodes allocated one
//                               by one) and test _queue_passable.
// BM_FilterMatrix_PerApqnFlatHash  a stronger anchor: the same loop over an
//                               absl::flat_hash_map (what a user-space port
//                               would write).
// BM_AssignUnassign_Attached    assign then unassign an adapter on an mdev
//                               whose guest is attached (plug: filter +
//                               guest update; unplug: guest update + 2 ZAPQs)
//                               while another thread executes PQAP through
//                               the guest's hook in a loop. Counters: both
//                               threads' operations per second.
// BM_AssignUnassign_Detached    the same without a guest and without the
//                               PQAP thread (anchor for the cost of hot plug
//                               and of sharing mdevs_lock with the vCPU).
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include <vfio_ap/host.hpp>

namespace ordo::vfio_ap {
// Bench-only access to the model's filter.
struct host_test_access {
  template <class F>
  static void with_mdev(host& h, std::string_view uuid, F&& f) {
    ordo::unlocked ctx;
    auto g = h.matrix_.guests_lock.lock(ctx);
    mdev* m = h.matrix_.find_mdev(g, uuid);
    auto md = h.matrix_.mdevs_lock.lock(g);
    f(h.matrix_, *m, md);
  }
};
}  // namespace ordo::vfio_ap

namespace {

using ordo::vfio_ap::host;
using ordo::vfio_ap::host_test_access;

constexpr const char* uuid_a = "11111111-2222-3333-4444-555555555555";
const std::string matrix_dir = "/sys/devices/vfio_ap/matrix/";
const std::string type_dir = matrix_dir + "mdev_supported_types/vfio_ap-passthrough/";

// A host with every APQN configured and bound to vfio_ap, and one mdev
// holding all of them.
std::unique_ptr<host> full_host() {
  auto h = std::make_unique<host>();
  (void)h->sysfs_write("/sys/bus/ap/apmask", "0x0\n");
  (void)h->sysfs_write("/sys/bus/ap/aqmask", "0x0\n");
  (void)h->qci({.apm = ordo::ap::adapter_mask::all(), .aqm = ordo::ap::domain_mask::all()});
  (void)h->sysfs_write(type_dir + "create", std::string(uuid_a) + "\n");
  const std::string ones(64, 'f');
  (void)h->sysfs_write(matrix_dir + uuid_a + "/ap_config",
                       "0x" + ones + ",0x" + ones + ",\n");
  return h;
}

void BM_FilterMatrix_Full(benchmark::State& state) {
  const std::unique_ptr<host> h = full_host();
  host_test_access::with_mdev(*h, uuid_a, [&](auto& matrix, auto& m, auto& md) {
    if (m.qtable.size() != 65536 || m.shadow.apm.weight() != 256) {
      state.SkipWithError("setup: the mdev does not hold 256 x 256 bound queues");
      return;
    }
    ordo::ap::adapter_mask filtered;
    for (auto _ : state) {
      benchmark::DoNotOptimize(matrix.filter_matrix(md, m, filtered));
      benchmark::DoNotOptimize(m.shadow);
    }
    if (m.shadow.apm.weight() != 256) state.SkipWithError("filter dropped adapters");
  });
}
BENCHMARK(BM_FilterMatrix_Full)->Unit(benchmark::kMicrosecond);  // same unit as its anchors: the ratio script compares raw values

// --- the kernel's loop, written plainly ------------------------------------

// MSB-0 bitmaps as the kernel keeps them: ID n is bit 63 - n%64 of word n/64.
using kbitmap = std::array<std::uint64_t, 4>;
inline bool test_bit_inv(unsigned n, const kbitmap& b) { return (b[n / 64] >> (63 - n % 64)) & 1; }
inline void clear_bit_inv(unsigned n, kbitmap& b) { b[n / 64] &= ~(std::uint64_t{1} << (63 - n % 64)); }
inline unsigned find_next_bit_inv(const kbitmap& b, unsigned from) {
  for (unsigned n = from; n < 256; ++n) {
    const unsigned w = n / 64;
    const std::uint64_t word = b[w] << (n % 64);  // bits n.. of this word, MSB first
    if (word == 0) {
      n = w * 64 + 63;
      continue;
    }
    return n + static_cast<unsigned>(__builtin_clzll(word));
  }
  return 256;
}
#define for_each_set_bit_inv(bit, addr) \
  for ((bit) = find_next_bit_inv((addr), 0); (bit) < 256; (bit) = find_next_bit_inv((addr), (bit) + 1))

struct kqueue {                 // struct vfio_ap_queue, the fields the loop reads
  kqueue* next = nullptr;       // hlist_node
  kqueue** pprev = nullptr;
  std::uint32_t apqn = 0;
  std::uint8_t response_code = 0;  // reset_status.response_code
};

struct khashtable {  // DECLARE_HASHTABLE(queues, 8)
  std::array<kqueue*, 256> heads{};
  std::vector<std::unique_ptr<kqueue>> storage;
  static unsigned hash(std::uint32_t apqn) { return (apqn * 0x61C88647u) >> (32 - 8); }  // hash_32
  void add(std::unique_ptr<kqueue> q) {
    kqueue*& head = heads[hash(q->apqn)];
    q->next = head;
    if (head != nullptr) head->pprev = &q->next;
    q->pprev = &head;
    head = q.get();
    storage.push_back(std::move(q));
  }
  kqueue* find(std::uint32_t apqn) const {  // hash_for_each_possible
    for (kqueue* q = heads[hash(apqn)]; q != nullptr; q = q->next) {
      if (q->apqn == apqn) return q;
    }
    return nullptr;
  }
};

inline bool queue_passable(const kqueue* q) {
  return q->response_code == 0 || q->response_code == 3 || q->response_code == 4;
}

struct kinput {
  kbitmap matrix_apm{}, matrix_aqm{}, info_apm{}, info_aqm{};
  kbitmap shadow_apm{}, shadow_aqm{};
};

// vfio_ap_mdev_filter_matrix, as the kernel writes it.
template <class Lookup>
bool kernel_filter_matrix(kinput& in, kbitmap& apm_filtered, const Lookup& get_queue) {
  const kbitmap prev_apm = in.shadow_apm;
  const kbitmap prev_aqm = in.shadow_aqm;
  apm_filtered = {};
  for (int i = 0; i < 4; ++i) {
    in.shadow_apm[i] = in.matrix_apm[i] & in.info_apm[i];
    in.shadow_aqm[i] = in.matrix_aqm[i] & in.info_aqm[i];
  }
  unsigned apid = 0;
  unsigned apqi = 0;
  const kbitmap apm_copy = in.shadow_apm;
  for_each_set_bit_inv(apid, apm_copy) {
    for_each_set_bit_inv(apqi, in.shadow_aqm) {
      const std::uint32_t apqn = (apid << 8) | apqi;  // AP_MKQID
      const kqueue* q = get_queue(apqn);
      if (q == nullptr || !queue_passable(q)) {
        clear_bit_inv(apid, in.shadow_apm);
        if (test_bit_inv(apid, prev_apm)) apm_filtered[apid / 64] |= std::uint64_t{1} << (63 - apid % 64);
        break;
      }
    }
  }
  return prev_apm != in.shadow_apm || prev_aqm != in.shadow_aqm;
}

// The same input as BM_FilterMatrix_Full, copied out of the model.
struct kernel_copy {
  kinput input;
  khashtable table;
  absl::flat_hash_map<std::uint32_t, kqueue*> flat;
};
std::unique_ptr<kernel_copy> copy_of_full_host() {
  auto out = std::make_unique<kernel_copy>();
  const std::unique_ptr<host> h = full_host();
  host_test_access::with_mdev(*h, uuid_a, [&](auto& matrix, auto& m, auto& md) {
    (void)matrix;
    (void)md;
    out->input.matrix_apm = m.matrix.apm.words();
    out->input.matrix_aqm = m.matrix.aqm.words();
    out->input.info_apm = ordo::ap::adapter_mask::all().words();
    out->input.info_aqm = ordo::ap::domain_mask::all().words();
    out->input.shadow_apm = m.shadow.apm.words();
    out->input.shadow_aqm = m.shadow.aqm.words();
    for (const auto& [apqn, q] : m.qtable) {
      auto node = std::make_unique<kqueue>();
      node->apqn = apqn.qid();
      node->response_code = static_cast<std::uint8_t>(q->reset_rc);
      out->flat[node->apqn] = node.get();
      out->table.add(std::move(node));
    }
  });
  return out;
}

void BM_FilterMatrix_PerApqn(benchmark::State& state) {
  const std::unique_ptr<kernel_copy> k = copy_of_full_host();
  kbitmap filtered{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(kernel_filter_matrix(
        k->input, filtered, [&](std::uint32_t apqn) { return k->table.find(apqn); }));
    benchmark::DoNotOptimize(k->input);
  }
  if (k->input.shadow_apm != k->input.matrix_apm) state.SkipWithError("filter dropped adapters");
}
BENCHMARK(BM_FilterMatrix_PerApqn)->Unit(benchmark::kMicrosecond);

void BM_FilterMatrix_PerApqnFlatHash(benchmark::State& state) {
  const std::unique_ptr<kernel_copy> k = copy_of_full_host();
  kbitmap filtered{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(kernel_filter_matrix(k->input, filtered, [&](std::uint32_t apqn) {
      const auto it = k->flat.find(apqn);
      return it == k->flat.end() ? nullptr : it->second;
    }));
    benchmark::DoNotOptimize(k->input);
  }
  if (k->input.shadow_apm != k->input.matrix_apm) state.SkipWithError("filter dropped adapters");
}
BENCHMARK(BM_FilterMatrix_PerApqnFlatHash)->Unit(benchmark::kMicrosecond);

// --- hot plug while a vCPU executes PQAP -------------------------------------

std::unique_ptr<host> small_host(bool attached) {
  auto h = std::make_unique<host>();
  (void)h->sysfs_write("/sys/bus/ap/apmask", "0x0\n");
  ordo::ap::adapter_mask apm;
  apm.set(ordo::ap::apid{1}).set(ordo::ap::apid{2});
  ordo::ap::domain_mask aqm;
  aqm.set(ordo::ap::apqi{4}).set(ordo::ap::apqi{5});
  (void)h->qci({.apm = apm, .aqm = aqm});
  (void)h->sysfs_write(type_dir + "create", std::string(uuid_a) + "\n");
  (void)h->sysfs_write(matrix_dir + uuid_a + "/assign_adapter", "1\n");
  (void)h->sysfs_write(matrix_dir + uuid_a + "/assign_domain", "4\n");
  (void)h->sysfs_write(matrix_dir + uuid_a + "/assign_domain", "5\n");
  if (attached) {
    (void)h->kvm_create("guest");
    (void)h->vfio_open(uuid_a, "guest");
  }
  return h;
}

void assign_unassign_loop(benchmark::State& state, host& h) {
  const std::string assign = matrix_dir + uuid_a + "/assign_adapter";
  const std::string unassign = matrix_dir + uuid_a + "/unassign_adapter";
  for (auto _ : state) {
    if (h.sysfs_write(assign, "2\n") || h.sysfs_write(unassign, "2\n")) {
      state.SkipWithError("assign/unassign failed");
      break;
    }
  }
}

void BM_AssignUnassign_Attached(benchmark::State& state) {
  const std::unique_ptr<host> h = small_host(true);
  std::atomic<bool> stop{false};
  std::atomic<long> pqaps{0};
  std::atomic<bool> pqap_ok{true};
  std::thread vcpu([&] {
    const ordo::ap::apqn queue(ordo::ap::apid{1}, ordo::ap::apqi{4});
    long n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      unsigned rc = 0xff;
      if (h->pqap("guest", queue, rc) || rc != 0) pqap_ok.store(false, std::memory_order_relaxed);
      ++n;
    }
    pqaps.store(n, std::memory_order_relaxed);
  });
  assign_unassign_loop(state, *h);
  stop.store(true, std::memory_order_relaxed);
  vcpu.join();
  if (!pqap_ok.load()) state.SkipWithError("PQAP answered an error");
  state.counters["assign_unassign_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["pqap_per_s"] =
      benchmark::Counter(static_cast<double>(pqaps.load()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AssignUnassign_Attached)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_AssignUnassign_Detached(benchmark::State& state) {
  const std::unique_ptr<host> h = small_host(false);
  assign_unassign_loop(state, *h);
  state.counters["assign_unassign_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AssignUnassign_Detached)->UseRealTime()->Unit(benchmark::kMicrosecond);

// PQAP alone (no hot plug running): the vCPU's own cost, for scale.
void BM_Pqap_Alone(benchmark::State& state) {
  const std::unique_ptr<host> h = small_host(true);
  const ordo::ap::apqn queue(ordo::ap::apid{1}, ordo::ap::apqi{4});
  for (auto _ : state) {
    unsigned rc = 0xff;
    benchmark::DoNotOptimize(h->pqap("guest", queue, rc));
    benchmark::DoNotOptimize(rc);
  }
}
BENCHMARK(BM_Pqap_Alone)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
