// Tests for ordo/bitmap.hpp: the kernel's word layout in both numberings,
// and every operation compared with std::bitset<256> on random inputs
// (seeded, so a failure is reproducible).
#include "ordo/bitmap.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bitset>
#include <cstdint>
#include <iterator>
#include <random>
#include <utility>
#include <ranges>
#include <vector>

namespace {

using bm256 = ordo::bitmap<256>;
using ref256 = std::bitset<256>;
using ordo::bit_numbering;

// ---- layout: the kernel's set_bit / set_bit_inv -------------------------

TEST(Bitmap, LsbZeroLayoutIsSetBit) {
  bm256 b;
  b.set(0).set(63).set(64).set(255);
  EXPECT_EQ(b.words()[0], 0x8000000000000001ull);
  EXPECT_EQ(b.words()[1], 0x0000000000000001ull);
  EXPECT_EQ(b.words()[2], 0u);
  EXPECT_EQ(b.words()[3], 0x8000000000000000ull);
}

TEST(Bitmap, MsbZeroLayoutIsSetBitInv) {
  // set_bit_inv(nr) == set_bit(nr ^ 63): ID n is word n/64, bit 63 - n%64.
  bm256 b;
  b.set_inv(0).set_inv(5).set_inv(64).set_inv(255);
  EXPECT_EQ(b.words()[0], 0x8400000000000000ull);
  EXPECT_EQ(b.words()[1], 0x8000000000000000ull);
  EXPECT_EQ(b.words()[2], 0u);
  EXPECT_EQ(b.words()[3], 0x0000000000000001ull);
  for (std::size_t n = 0; n < 256; ++n) {
    bm256 one;
    one.set_inv(n);
    bm256 same;
    same.set(n ^ 63);
    EXPECT_EQ(one, same) << n;
  }
}

TEST(Bitmap, IsConstexpr) {
  constexpr bm256 b = [] {
    bm256 x;
    x.set_inv(5).set(7).set_inv(200);
    return x;
  }();
  static_assert(b.test_inv(5) && b.test(7) && b.test_inv(200) && !b.test_inv(6));
  static_assert(b.weight() == 3);
  static_assert(b.find_first_inv() == 5 && b.find_next_inv(6) == (7 ^ 63));
  static_assert((b & ~b).empty() && (b | ~b).weight() == 256);
  static_assert(b.andnot(b).empty() && b.is_subset_of(b) && b.intersects(b));
  static_assert(bm256::size() == 256 && bm256::word_count == 4);
  EXPECT_EQ(b.weight(), 3u);
}

TEST(Bitmap, WordsRoundTrip) {
  const bm256::words_type w{0x0123456789abcdefull, 0, ~0ull, 0x8000000000000001ull};
  EXPECT_EQ(bm256::from_words(w).words(), w);
}

TEST(Bitmap, OutOfRangeIndexIsNeverAMemberAndNeverWritten) {
  bm256 b;
  b.set(256).set_inv(256).set(100000).set_inv(~std::size_t{0});
  EXPECT_TRUE(b.empty());
  b.fill();
  b.clear(256).clear_inv(1000);
  EXPECT_EQ(b.weight(), 256u);
  EXPECT_FALSE(b.test(256));
  EXPECT_FALSE(b.test_inv(256));
  EXPECT_FALSE(b.test_and_set(300));
  EXPECT_FALSE(b.test_and_clear_inv(300));
}

TEST(Bitmap, FindHonoursLimitLikeTheKernel) {
  bm256 b;
  b.set_inv(10).set_inv(100);
  EXPECT_EQ(b.find_first_inv(), 10u);
  EXPECT_EQ(b.find_first_inv(10), 10u);   // none below 10: returns the limit
  EXPECT_EQ(b.find_first_inv(11), 10u);
  EXPECT_EQ(b.find_next_inv(11), 100u);
  EXPECT_EQ(b.find_next_inv(11, 100), 100u);
  EXPECT_EQ(b.find_next_inv(101), 256u);
  EXPECT_EQ(b.find_next_inv(300), 256u);  // from past the end
  EXPECT_EQ(b.find_first_inv(1000), 10u); // limit clamped to N
  EXPECT_EQ(b.find_next_inv(50, 20), 20u);
  EXPECT_EQ(bm256{}.find_first(), 256u);
  EXPECT_EQ(bm256{}.find_first_inv(0), 0u);
}

TEST(Bitmap, RangesAreForwardRanges) {
  using lsb_range = decltype(std::declval<const bm256&>().ones());
  using msb_range = decltype(std::declval<const bm256&>().ones_inv());
  static_assert(std::ranges::forward_range<lsb_range>);
  static_assert(std::ranges::forward_range<msb_range>);
  static_assert(std::forward_iterator<std::ranges::iterator_t<msb_range>>);
  bm256 b;
  b.set_inv(3).set_inv(64).set_inv(255);
  std::vector<std::size_t> seen;
  for (std::size_t n : b.ones_inv()) seen.push_back(n);
  EXPECT_EQ(seen, (std::vector<std::size_t>{3, 64, 255}));
  EXPECT_EQ(std::ranges::distance(b.ones_inv()), 3);
  EXPECT_EQ(std::ranges::distance(b.ones_inv(64)), 1);
  EXPECT_EQ(std::ranges::distance(b.ones_inv(65)), 2);
  EXPECT_EQ(std::ranges::distance(b.ones_inv(0)), 0);
  const bm256 none;
  EXPECT_EQ(std::ranges::distance(none.ones()), 0);
}

TEST(Bitmap, ClearingTheVisitedBitDuringIterationIsSafe) {
  bm256 b;
  b.fill();
  std::size_t visited = 0;
  for (std::size_t n : b.ones_inv()) {
    b.clear_inv(n);
    ++visited;
  }
  EXPECT_EQ(visited, 256u);
  EXPECT_TRUE(b.empty());
}

// ---- property tests against std::bitset<256> ----------------------------

// The operations of one numbering, so one test body covers both.
template <bit_numbering Order>
struct numbering {
  static constexpr bool lsb = Order == bit_numbering::lsb0;
  static bool test(const bm256& b, std::size_t n) { return lsb ? b.test(n) : b.test_inv(n); }
  static void set(bm256& b, std::size_t n) { lsb ? b.set(n) : b.set_inv(n); }
  static void clear(bm256& b, std::size_t n) { lsb ? b.clear(n) : b.clear_inv(n); }
  static bool test_and_set(bm256& b, std::size_t n) {
    return lsb ? b.test_and_set(n) : b.test_and_set_inv(n);
  }
  static bool test_and_clear(bm256& b, std::size_t n) {
    return lsb ? b.test_and_clear(n) : b.test_and_clear_inv(n);
  }
  static std::size_t find_first(const bm256& b, std::size_t limit) {
    return lsb ? b.find_first(limit) : b.find_first_inv(limit);
  }
  static std::size_t find_next(const bm256& b, std::size_t from, std::size_t limit) {
    return lsb ? b.find_next(from, limit) : b.find_next_inv(from, limit);
  }
  static std::vector<std::size_t> ones(const bm256& b, std::size_t limit) {
    std::vector<std::size_t> out;
    if constexpr (lsb) {
      for (std::size_t n : b.ones(limit)) out.push_back(n);
    } else {
      for (std::size_t n : b.ones_inv(limit)) out.push_back(n);
    }
    return out;
  }
};

template <class T>
class BitmapProperty : public ::testing::Test {};
using numberings = ::testing::Types<numbering<bit_numbering::lsb0>, numbering<bit_numbering::msb0>>;
TYPED_TEST_SUITE(BitmapProperty, numberings);

constexpr int kRounds = 10000;

// A random pair (bitmap, reference) with a density chosen per round, so
// empty, sparse, half and full maps all occur.
template <class Ops>
std::pair<bm256, ref256> random_pair(std::mt19937_64& rng) {
  static constexpr double densities[] = {0.0, 1.0 / 256, 0.02, 0.25, 0.5, 0.9, 0.995, 1.0};
  std::uniform_int_distribution<std::size_t> pick(0, std::size(densities) - 1);
  std::bernoulli_distribution bit(densities[pick(rng)]);
  bm256 b;
  ref256 r;
  for (std::size_t n = 0; n < 256; ++n) {
    if (bit(rng)) {
      Ops::set(b, n);
      r.set(n);
    }
  }
  return {b, r};
}

template <class Ops>
::testing::AssertionResult same_set(const bm256& b, const ref256& r) {
  for (std::size_t n = 0; n < 256; ++n) {
    if (Ops::test(b, n) != r.test(n)) {
      return ::testing::AssertionFailure() << "index " << n << " differs: bitmap "
                                           << Ops::test(b, n) << ", bitset " << r.test(n);
    }
  }
  return ::testing::AssertionSuccess();
}

std::size_t ref_find_next(const ref256& r, std::size_t from, std::size_t limit) {
  limit = std::min<std::size_t>(limit, 256);
  for (std::size_t n = from; n < limit; ++n) {
    if (r.test(n)) return n;
  }
  return limit;
}

TYPED_TEST(BitmapProperty, WholeMapOperationsMatchStdBitset) {
  using Ops = TypeParam;
  std::mt19937_64 rng(0x6f72646f);  // "ordo"
  for (int round = 0; round < kRounds; ++round) {
    auto [a, ra] = random_pair<Ops>(rng);
    auto [b, rb] = random_pair<Ops>(rng);
    SCOPED_TRACE(round);
    ASSERT_TRUE(same_set<Ops>(a, ra));
    ASSERT_TRUE(same_set<Ops>(a & b, ra & rb));
    ASSERT_TRUE(same_set<Ops>(a | b, ra | rb));
    ASSERT_TRUE(same_set<Ops>(a ^ b, ra ^ rb));
    ASSERT_TRUE(same_set<Ops>(~a, ~ra));
    ASSERT_TRUE(same_set<Ops>(a.andnot(b), ra & ~rb));
    bm256 c = a;
    c &= b;
    ASSERT_TRUE(same_set<Ops>(c, ra & rb));
    c = a;
    c |= b;
    ASSERT_TRUE(same_set<Ops>(c, ra | rb));
    c = a;
    c ^= b;
    ASSERT_TRUE(same_set<Ops>(c, ra ^ rb));
    ASSERT_EQ(a.weight(), ra.count());
    ASSERT_EQ(a.empty(), ra.none());
    ASSERT_EQ(a == b, ra == rb);
    ASSERT_EQ(a != b, ra != rb);
    ASSERT_EQ(a.is_subset_of(b), (ra & ~rb).none());
    ASSERT_EQ(a.intersects(b), (ra & rb).any());
    // Equality and subset on near-equal pairs: one index flipped.
    const std::size_t flip = std::uniform_int_distribution<std::size_t>(0, 255)(rng);
    bm256 near = a;
    ref256 rnear = ra;
    if (Ops::test(near, flip)) {
      Ops::clear(near, flip);
    } else {
      Ops::set(near, flip);
    }
    rnear.flip(flip);
    ASSERT_FALSE(a == near);
    ASSERT_TRUE(a == bm256(a));
    ASSERT_EQ(near.is_subset_of(a), (rnear & ~ra).none());
    ASSERT_EQ(a.is_subset_of(near), (ra & ~rnear).none());
  }
}

TYPED_TEST(BitmapProperty, FindAndIterationMatchStdBitset) {
  using Ops = TypeParam;
  std::mt19937_64 rng(0x62697473);  // "bits"
  std::uniform_int_distribution<std::size_t> index(0, 300);
  for (int round = 0; round < kRounds; ++round) {
    auto [a, ra] = random_pair<Ops>(rng);
    SCOPED_TRACE(round);
    const std::size_t limit = round % 3 == 0 ? 256 : index(rng);
    ASSERT_EQ(Ops::find_first(a, limit), ref_find_next(ra, 0, limit));
    for (int k = 0; k < 8; ++k) {
      const std::size_t from = index(rng);
      ASSERT_EQ(Ops::find_next(a, from, limit), ref_find_next(ra, from, limit))
          << "from " << from << " limit " << limit;
    }
    std::vector<std::size_t> expected;
    for (std::size_t n = 0; n < std::min<std::size_t>(limit, 256); ++n) {
      if (ra.test(n)) expected.push_back(n);
    }
    ASSERT_EQ(Ops::ones(a, limit), expected);
    // The kernel's loop: find_first, then find_next(prev + 1).
    std::vector<std::size_t> walked;
    const std::size_t end = std::min<std::size_t>(limit, 256);  // I3: limit clamped to N
    for (std::size_t n = Ops::find_first(a, limit); n < end;
         n = Ops::find_next(a, n + 1, limit)) {
      walked.push_back(n);
    }
    ASSERT_EQ(walked, expected);
  }
}

TYPED_TEST(BitmapProperty, SingleBitOperationsMatchStdBitset) {
  using Ops = TypeParam;
  std::mt19937_64 rng(0x73657473);
  std::uniform_int_distribution<std::size_t> index(0, 255);
  std::uniform_int_distribution<int> op(0, 5);
  for (int round = 0; round < kRounds / 10; ++round) {
    auto [a, ra] = random_pair<Ops>(rng);
    for (int step = 0; step < 200; ++step) {
      const std::size_t n = index(rng);
      switch (op(rng)) {
        case 0: Ops::set(a, n); ra.set(n); break;
        case 1: Ops::clear(a, n); ra.reset(n); break;
        case 2: ASSERT_EQ(Ops::test_and_set(a, n), ra.test(n)); ra.set(n); break;
        case 3: ASSERT_EQ(Ops::test_and_clear(a, n), ra.test(n)); ra.reset(n); break;
        case 4: ASSERT_EQ(Ops::test(a, n), ra.test(n)); break;
        default:
          if (step % 50 == 0) {
            a.zero();
            ra.reset();
          } else if (step % 50 == 1) {
            a.fill();
            ra.set();
          }
      }
    }
    ASSERT_TRUE(same_set<Ops>(a, ra)) << round;
  }
}

// weight() has three paths (vector, SWAR in chunks of 31 words, popcount
// instruction); each must agree with std::bitset at every size.
template <std::size_t N>
void check_weight(std::mt19937_64& rng) {
  for (int round = 0; round < 200; ++round) {
    ordo::bitmap<N> b;
    std::bitset<N> r;
    std::bernoulli_distribution bit(round % 4 == 0 ? 1.0 : 0.5);
    for (std::size_t n = 0; n < N; ++n) {
      if (bit(rng)) {
        b.set(n);
        r.set(n);
      }
    }
    ASSERT_EQ(b.weight(), r.count()) << "N=" << N;
  }
}

TEST(Bitmap, WeightAgreesAtEverySize) {
  std::mt19937_64 rng(0x77656967);
  check_weight<64>(rng);
  check_weight<192>(rng);
  check_weight<256>(rng);
  check_weight<384>(rng);  // an odd number of 16-byte vectors
  check_weight<64 * 33>(rng);  // more than 31 words, odd: chunked SWAR
  check_weight<64 * 64>(rng);
  static_assert(ordo::bitmap<64 * 64>{}.fill().weight() == 64 * 64);  // constant evaluation
  static_assert(ordo::bitmap<64 * 33>{}.fill().weight() == 64 * 33);
}

TEST(Bitmap, LargerSizes) {
  ordo::bitmap<64> one_word;
  one_word.set_inv(0).set(0);
  EXPECT_EQ(one_word.words()[0], 0x8000000000000001ull);
  EXPECT_EQ(one_word.weight(), 2u);
  ordo::bitmap<1024> big;
  big.set_inv(1000).set(3);
  EXPECT_EQ(big.find_first(), 3u);
  EXPECT_EQ(big.find_first_inv(), 3u ^ 63u);
  EXPECT_EQ(big.find_next_inv(61), 1000u);
  EXPECT_EQ(std::ranges::distance(big.ones_inv()), 2);
}

}  // namespace
