// bitmap_bench: the MSB-0 AP masks of ordo/ap.hpp against std::bitset<256>.
//
// Claim: the kernel's MSB-0 ("inverted") numbering and the typed masks cost
// nothing: every BM_Ap_<Op> / BM_StdBitset_<Op> ratio is <= 1.0
// (bench/bitmap_bench.ratios; scripts/bench_ratios.py prints the table).
//
// Honesty rules of this file:
// - Both sides get the same ID sets, built once: mask i of the ordo side and
//   bitset i of the std side hold exactly the same IDs (ID n is bit n of the
//   bitset, and bit 63 - n%64 of word n/64 of the mask).
// - Each iteration walks kBatch masks (or pairs) so the loop body, not the
//   benchmark harness, dominates; every result goes through DoNotOptimize
//   and each iteration ends with ClobberMemory, so nothing is hoisted out of
//   the timing loop or computed at compile time.
// - Iterate visits every member ID in ascending ID order and sums the IDs.
//   std::bitset has no iterator; its fastest walk is libstdc++'s
//   _Find_first/_Find_next (a test() loop over 256 indexes would be a straw
//   man), so that is what the anchor uses.
// - Inputs mix densities (1/16, 1/2, 15/16) so no branch pattern is
//   learned from one density.
// - Equal compares each mask with a copy that differs in one random ID for
//   every other pair. The same pairs repeat every iteration, so the
//   anchor's early-exit branches are well predicted: if anything this
//   favours std::bitset. Both sides are bound by loads there, hence a ratio
//   near 0.9 rather than the 0.2-0.6 of the other operations.
#include <benchmark/benchmark.h>

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "ordo/ap.hpp"

namespace {

using ordo::ap::adapter_mask;
using ordo::ap::apid;
using std_mask = std::bitset<256>;

constexpr std::size_t kBatch = 256;

struct inputs {
  std::vector<adapter_mask> a, b, near_a;  // near_a[i]: a[i], one ID flipped when i is odd
  std::vector<std_mask> std_a, std_b, std_near_a;
};

const inputs& data() {
  static const inputs d = [] {
    inputs in;
    std::mt19937_64 rng(0x62656e6368);  // "bench"
    static constexpr double densities[] = {1.0 / 16, 0.5, 15.0 / 16};
    const auto random_pair = [&rng](adapter_mask& m, std_mask& s, double density) {
      std::bernoulli_distribution bit(density);
      for (unsigned n = 0; n < 256; ++n) {
        if (bit(rng)) {
          m.set(apid(static_cast<std::uint8_t>(n)));
          s.set(n);
        }
      }
    };
    for (std::size_t i = 0; i < kBatch; ++i) {
      adapter_mask a, b;
      std_mask sa, sb;
      random_pair(a, sa, densities[i % 3]);
      random_pair(b, sb, densities[(i / 3) % 3]);
      adapter_mask near = a;
      std_mask std_near = sa;
      if (i % 2 == 1) {
        const auto n = static_cast<std::uint8_t>(rng() & 0xff);
        if (near.test(apid(n))) {
          near.clear(apid(n));
        } else {
          near.set(apid(n));
        }
        std_near.flip(n);
      }
      in.a.push_back(a);
      in.b.push_back(b);
      in.near_a.push_back(near);
      in.std_a.push_back(sa);
      in.std_b.push_back(sb);
      in.std_near_a.push_back(std_near);
    }
    return in;
  }();
  return d;
}

// Checks once, outside timing, that both sides really hold the same IDs.
bool same_inputs() {
  const inputs& d = data();
  for (std::size_t i = 0; i < kBatch; ++i) {
    for (unsigned n = 0; n < 256; ++n) {
      const apid id(static_cast<std::uint8_t>(n));
      if (d.a[i].test(id) != d.std_a[i].test(n) || d.b[i].test(id) != d.std_b[i].test(n) ||
          d.near_a[i].test(id) != d.std_near_a[i].test(n)) {
        return false;
      }
    }
  }
  return true;
}

template <class Mask>
void and_batch(benchmark::State& state, const std::vector<Mask>& a, const std::vector<Mask>& b) {
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      Mask both = a[i] & b[i];
      benchmark::DoNotOptimize(both);
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}

template <class Mask>
void equal_batch(benchmark::State& state, const std::vector<Mask>& a,
                 const std::vector<Mask>& near) {
  for (auto _ : state) {
    std::size_t equal = 0;
    for (std::size_t i = 0; i < kBatch; ++i) {
      equal += a[i] == near[i] ? 1 : 0;
    }
    benchmark::DoNotOptimize(equal);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}

void BM_Ap_And(benchmark::State& state) { and_batch(state, data().a, data().b); }
void BM_StdBitset_And(benchmark::State& state) { and_batch(state, data().std_a, data().std_b); }

void BM_Ap_Equal(benchmark::State& state) { equal_batch(state, data().a, data().near_a); }
void BM_StdBitset_Equal(benchmark::State& state) {
  equal_batch(state, data().std_a, data().std_near_a);
}

void BM_Ap_Weight(benchmark::State& state) {
  const std::vector<adapter_mask>& a = data().a;
  for (auto _ : state) {
    std::size_t total = 0;
    for (std::size_t i = 0; i < kBatch; ++i) {
      total += a[i].weight();
    }
    benchmark::DoNotOptimize(total);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}
void BM_StdBitset_Weight(benchmark::State& state) {
  const std::vector<std_mask>& a = data().std_a;
  for (auto _ : state) {
    std::size_t total = 0;
    for (std::size_t i = 0; i < kBatch; ++i) {
      total += a[i].count();
    }
    benchmark::DoNotOptimize(total);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}

void BM_Ap_Iterate(benchmark::State& state) {
  const std::vector<adapter_mask>& a = data().a;
  std::size_t visited = 0;
  for (auto _ : state) {
    std::size_t sum = 0;
    for (std::size_t i = 0; i < kBatch; ++i) {
      for (apid id : a[i]) sum += id.value();
    }
    benchmark::DoNotOptimize(sum);
    benchmark::ClobberMemory();
    visited = sum;
  }
  state.counters["id_sum"] = static_cast<double>(visited);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}
void BM_StdBitset_Iterate(benchmark::State& state) {
  const std::vector<std_mask>& a = data().std_a;
  std::size_t visited = 0;
  for (auto _ : state) {
    std::size_t sum = 0;
    for (std::size_t i = 0; i < kBatch; ++i) {
#if defined(__GLIBCXX__)
      for (std::size_t n = a[i]._Find_first(); n < 256; n = a[i]._Find_next(n)) sum += n;
#else
      for (std::size_t n = 0; n < 256; ++n) sum += a[i].test(n) ? n : 0;
#endif
    }
    benchmark::DoNotOptimize(sum);
    benchmark::ClobberMemory();
    visited = sum;
  }
  state.counters["id_sum"] = static_cast<double>(visited);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}

// Each pair runs back to back so both sides see the same machine state. (No
// per-benchmark MinTime: it would change the run names the ratios file and
// the issue use.)
BENCHMARK(BM_Ap_And);
BENCHMARK(BM_StdBitset_And);
BENCHMARK(BM_Ap_Equal);
BENCHMARK(BM_StdBitset_Equal);
BENCHMARK(BM_Ap_Weight);
BENCHMARK(BM_StdBitset_Weight);
BENCHMARK(BM_Ap_Iterate);
BENCHMARK(BM_StdBitset_Iterate);

}  // namespace

int main(int argc, char** argv) {
  if (!same_inputs()) {
    std::fprintf(stderr, "bitmap_bench: the two sides do not hold the same IDs\n");
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
