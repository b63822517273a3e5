// Tests for ordo/ap.hpp: IDs and APQNs, typed masks (against std::bitset in
// MSB-0 ID order), the host configuration and matrix, and every parsing and
// formatting rule of docs/vfio-ap-model.md §2.0, §2.7, §2.8, §2.9 and the AP
// bus apmask/aqmask syntax, table-driven with the kernel's edge strings.
#include "ordo/ap.hpp"

#include <gtest/gtest.h>

#include <bitset>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <random>
#include <ranges>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>
#include "expect_ok.hpp"

namespace {

using namespace std::string_literals;
using namespace ordo::ap;

constexpr int kOk = 0;

// The errno an error_code carries; 0 for success. Checks it is a generic
// (errno) category code, as the kernel's return values are.
int errno_of(const std::error_code& ec) {
  if (!ec) return 0;
  EXPECT_EQ(&ec.category(), &std::generic_category());
  return ec.value();
}

template <class Mask>
std::vector<unsigned> ids_of(const Mask& mask) {
  std::vector<unsigned> out;
  for (auto id : mask) out.push_back(id.value());
  return out;
}

adapter_mask apm_of(std::initializer_list<unsigned> ids) {
  adapter_mask m;
  for (unsigned id : ids) m.set(apid(static_cast<std::uint8_t>(id)));
  return m;
}
domain_mask aqm_of(std::initializer_list<unsigned> ids) {
  domain_mask m;
  for (unsigned id : ids) m.set(apqi(static_cast<std::uint8_t>(id)));
  return m;
}
control_domain_mask adm_of(std::initializer_list<unsigned> ids) {
  control_domain_mask m;
  for (unsigned id : ids) m.set(cdom(static_cast<std::uint8_t>(id)));
  return m;
}

// ---- IDs and APQNs -------------------------------------------------------

TEST(Apqn, MkqidAndExtractionFollowTheKernelMacros) {
  static_assert(mkqid(0x05, 0xab) == 0x05ab);
  static_assert(mkqid(0x105, 0x1ab) == 0x05ab);  // & 0xff on both
  constexpr apqn q(apid{0x05}, apqi{0xab});
  static_assert(q.qid() == 0x05ab && q.card() == apid{5} && q.queue() == apqi{0xab});
  static_assert(apqn::from_qid(0x12345).card() == apid{0x23});
  static_assert(apqn::from_qid(0x12345).queue() == apqi{0x45});
  static_assert(apqn(apid{1}, apqi{0}) > apqn(apid{0}, apqi{255}));  // adapter-major
  EXPECT_EQ(q.to_string(), "05.00ab");
  EXPECT_EQ(apqn(apid{255}, apqi{255}).to_string(), "ff.00ff");
  EXPECT_EQ(apqn().to_string(), "00.0000");
}

TEST(Apqn, EveryApqnRoundTripsThroughText) {
  std::unordered_set<apqn> seen;
  for (unsigned card = 0; card < 256; ++card) {
    for (unsigned queue = 0; queue < 256; ++queue) {
      const apqn q(apid(static_cast<std::uint8_t>(card)), apqi(static_cast<std::uint8_t>(queue)));
      const auto parsed = parse_apqn(q.to_string());
      ASSERT_TRUE(parsed) << q;
      ASSERT_EQ(parsed.value, q);
      seen.insert(q);
    }
  }
  EXPECT_EQ(seen.size(), 65536u);
}

struct apqn_case {
  std::string text;
  int error;
  std::uint32_t qid;
};

TEST(Apqn, ParseTable) {
  const apqn_case cases[] = {
      {"05.00ab", kOk, 0x05ab},   {"05.00AB", kOk, 0x05ab},  {"Ff.00fF\n", kOk, 0xffff},
      {"00.0000", kOk, 0},        {"05.0100", ERANGE, 0},    {"05.ffff", ERANGE, 0},
      {"5.00ab", EINVAL, 0},      {"005.00ab", EINVAL, 0},   {"05.ab", EINVAL, 0},
      {"05.000ab", EINVAL, 0},    {"05:00ab", EINVAL, 0},    {"0x5.00ab", EINVAL, 0},
      {"05.00ab\n\n", EINVAL, 0}, {" 05.00ab", EINVAL, 0},   {"05.00ab ", EINVAL, 0},
      {"", EINVAL, 0},            {"05.", EINVAL, 0},        {".00ab", EINVAL, 0},
      {"05.00ab\0zz"s, kOk, 0x05ab},
  };
  for (const apqn_case& c : cases) {
    SCOPED_TRACE("text: \"" + c.text + "\"");
    const auto r = parse_apqn(c.text);
    EXPECT_EQ(errno_of(r.error), c.error);
    EXPECT_EQ(r.value.qid(), c.qid);
  }
}

TEST(ApIds, AreDistinctOrderedAndHashable) {
  static_assert(!std::is_convertible_v<apid, apqi> && !std::is_convertible_v<apqi, cdom>);
  static_assert(!std::is_convertible_v<int, apid>);
  static_assert(apid{3} < apid{4} && apqi{7} == apqi{7} && cdom{1} != cdom{2});
  std::unordered_set<apid> a{apid{1}, apid{1}, apid{2}};
  EXPECT_EQ(a.size(), 2u);
  std::ostringstream os;
  os << apid{5} << ' ' << apqi{6} << ' ' << cdom{7} << ' ' << apqn(apid{1}, apqi{2});
  EXPECT_EQ(os.str(), "apid 5 apqi 6 cdom 7 01.0002");
}

// ---- typed masks ---------------------------------------------------------

TEST(IdMask, UsesTheKernelMsbZeroLayout) {
  adapter_mask apm;
  apm.set(apid{0}).set(apid{5}).set(apid{64}).set(apid{255});
  EXPECT_EQ(apm.words()[0], 0x8400000000000000ull);
  EXPECT_EQ(apm.words()[1], 0x8000000000000000ull);
  EXPECT_EQ(apm.words()[3], 0x0000000000000001ull);
  EXPECT_EQ(apm.to_string(),
            "0x8400000000000000800000000000000000000000000000000000000000000001");
}

TEST(IdMask, IteratesInAscendingIdOrder) {
  const adapter_mask apm = apm_of({200, 3, 64, 0, 255, 63});
  EXPECT_EQ(ids_of(apm), (std::vector<unsigned>{0, 3, 63, 64, 200, 255}));
  std::vector<unsigned> up_to_64;
  for (apid a : apm.up_to(apid{64})) up_to_64.push_back(a.value());
  EXPECT_EQ(up_to_64, (std::vector<unsigned>{0, 3, 63, 64}));
  static_assert(std::ranges::forward_range<adapter_mask>);
  static_assert(std::same_as<std::ranges::range_value_t<domain_mask>, apqi>);
  EXPECT_EQ(std::ranges::distance(apm), 6);
  EXPECT_TRUE(ids_of(adapter_mask{}).empty());
}

template <class M>
concept up_to_callable = requires(M&& m) { std::forward<M>(m).up_to(apid{3}); };
template <class A, class D>
concept apqns_callable = requires(A&& a, D&& d) { apqns(std::forward<A>(a), std::forward<D>(d)); };
template <class B>
concept ones_callable = requires(B&& b) { std::forward<B>(b).ones_inv(); };

TEST(IdMask, RangesIntoTemporariesDoNotCompile) {
  static_assert(up_to_callable<const adapter_mask&>);
  static_assert(!up_to_callable<adapter_mask>);  // (apm & x).up_to(max) would dangle
  static_assert(ones_callable<const ordo::bitmap<256>&>);
  static_assert(!ones_callable<ordo::bitmap<256>>);
  static_assert(apqns_callable<const adapter_mask&, const domain_mask&>);
  static_assert(!apqns_callable<adapter_mask, const domain_mask&>);
  static_assert(!apqns_callable<const adapter_mask&, domain_mask>);
}

TEST(Apqns, WalksTheCrossProductAdapterMajor) {
  const adapter_mask apm = apm_of({5, 1});
  const domain_mask aqm = aqm_of({0xab, 2, 255});
  std::vector<std::string> seen;
  for (apqn q : apqns(apm, aqm)) seen.push_back(q.to_string());
  EXPECT_EQ(seen, (std::vector<std::string>{"01.0002", "01.00ab", "01.00ff", "05.0002", "05.00ab",
                                            "05.00ff"}));
  static_assert(std::ranges::forward_range<apqn_range>);
  const domain_mask no_domains;
  const adapter_mask no_adapters;
  EXPECT_EQ(std::ranges::distance(apqns(no_adapters, aqm)), 0);
  EXPECT_EQ(std::ranges::distance(apqns(apm, no_domains)), 0);
  ap_matrix m;
  m.apm = adapter_mask::all();
  m.aqm = domain_mask::all();
  std::size_t count = 0;
  apqn previous;
  for (apqn q : m.apqns()) {
    if (count > 0) {
      EXPECT_LT(previous, q);
    }
    EXPECT_TRUE(m.contains(q));
    previous = q;
    ++count;
  }
  EXPECT_EQ(count, 65536u);
}

TEST(IdMask, FirstLastNextAndAnyAbove) {
  const domain_mask aqm = aqm_of({7, 16, 130});
  EXPECT_EQ(aqm.first(), apqi{7});
  EXPECT_EQ(aqm.last(), apqi{130});
  EXPECT_EQ(aqm.next(apqi{7}), apqi{16});
  EXPECT_EQ(aqm.next(apqi{130}), std::nullopt);
  EXPECT_EQ(domain_mask{}.first(), std::nullopt);
  EXPECT_EQ(domain_mask{}.last(), std::nullopt);
  EXPECT_EQ(aqm_of({255}).next(apqi{254}), apqi{255});
  EXPECT_EQ(aqm_of({255}).next(apqi{255}), std::nullopt);  // no wrap past 255
  EXPECT_TRUE(aqm.any_above(apqi{15}));
  EXPECT_FALSE(aqm.any_above(apqi{130}));
  EXPECT_FALSE(aqm_of({255}).any_above(apqi{255}));
  EXPECT_EQ(aqm_of({0}).last(), apqi{0});
  EXPECT_EQ(aqm_of({63, 64}).last(), apqi{64});
}

TEST(IdMask, SetOperationsStayWithinOneKind) {
  const adapter_mask a = apm_of({1, 2, 3});
  const adapter_mask b = apm_of({3, 4});
  EXPECT_EQ(ids_of(a & b), (std::vector<unsigned>{3}));
  EXPECT_EQ(ids_of(a | b), (std::vector<unsigned>{1, 2, 3, 4}));
  EXPECT_EQ(ids_of(a ^ b), (std::vector<unsigned>{1, 2, 4}));
  EXPECT_EQ(ids_of(a.andnot(b)), (std::vector<unsigned>{1, 2}));
  EXPECT_EQ(andnot(a, b), a & ~b);
  EXPECT_EQ((~a).weight(), 253u);
  EXPECT_TRUE(apm_of({1, 3}).is_subset_of(a));
  EXPECT_FALSE(b.is_subset_of(a));
  EXPECT_TRUE(a.intersects(b));
  EXPECT_FALSE(apm_of({9}).intersects(a));
  EXPECT_TRUE(adapter_mask{}.empty());
  EXPECT_EQ(adapter_mask::all().weight(), 256u);
  EXPECT_EQ(adapter_mask::of(apid{1}, apid{2}, apid{3}), a);
  adapter_mask c = a;
  EXPECT_TRUE(c.test_and_clear(apid{2}));
  EXPECT_FALSE(c.test_and_clear(apid{2}));
  EXPECT_FALSE(c.test_and_set(apid{9}));
  EXPECT_TRUE(c.test(apid{9}));
  c &= b;
  EXPECT_EQ(ids_of(c), (std::vector<unsigned>{3}));
  c |= a;
  c ^= b;
  EXPECT_EQ(ids_of(c), (std::vector<unsigned>{1, 2, 4}));
  EXPECT_EQ(c.fill().weight(), 256u);
  EXPECT_TRUE(c.zero().empty());
}

TEST(IdMask, FromQciWordsJoinsBigEndianHalves) {
  std::array<std::uint32_t, 8> w32{};
  w32[0] = 0x80000000u;  // ID 0
  w32[1] = 0x00000001u;  // ID 63
  w32[7] = 0x00000001u;  // ID 255
  EXPECT_EQ(ids_of(control_domain_mask::from_qci_words(w32)),
            (std::vector<unsigned>{0, 63, 255}));
}

// Every typed-mask operation against std::bitset<256> indexed by ID.
TEST(IdMask, PropertyMatchesStdBitsetById) {
  std::mt19937_64 rng(0x61706d);  // "apm"
  const auto random_mask = [&rng](std::bitset<256>& ref) {
    static constexpr double densities[] = {0.0, 0.01, 0.1, 0.5, 0.97, 1.0};
    std::bernoulli_distribution bit(densities[rng() % std::size(densities)]);
    domain_mask m;
    ref.reset();
    for (unsigned n = 0; n < 256; ++n) {
      if (bit(rng)) {
        m.set(apqi(static_cast<std::uint8_t>(n)));
        ref.set(n);
      }
    }
    return m;
  };
  const auto same = [](const domain_mask& m, const std::bitset<256>& ref) {
    std::vector<unsigned> expected;
    for (unsigned n = 0; n < 256; ++n) {
      if (ref.test(n)) expected.push_back(n);
      if (m.test(apqi(static_cast<std::uint8_t>(n))) != ref.test(n)) return false;
    }
    return ids_of(m) == expected;
  };
  for (int round = 0; round < 5000; ++round) {
    std::bitset<256> ra, rb;
    const domain_mask a = random_mask(ra);
    const domain_mask b = random_mask(rb);
    SCOPED_TRACE(round);
    ASSERT_TRUE(same(a & b, ra & rb));
    ASSERT_TRUE(same(a | b, ra | rb));
    ASSERT_TRUE(same(a ^ b, ra ^ rb));
    ASSERT_TRUE(same(~a, ~ra));
    ASSERT_TRUE(same(a.andnot(b), ra & ~rb));
    ASSERT_EQ(a == b, ra == rb);
    ASSERT_EQ(a.weight(), ra.count());
    ASSERT_EQ(a.empty(), ra.none());
    ASSERT_EQ(a.intersects(b), (ra & rb).any());
    ASSERT_EQ(a.is_subset_of(b), (ra & ~rb).none());
    ASSERT_EQ(a.is_subset_of(a | b), true);
    // to_string / parse_hex round trip.
    const auto parsed = domain_mask::parse_hex(a.to_string());
    ASSERT_TRUE(parsed);
    ASSERT_EQ(parsed.value, a);
  }
}

// ---- kstrtoul ------------------------------------------------------------

struct ulong_case {
  std::string text;
  int error;
  std::uint64_t value;
};

TEST(ParseUlong, KstrtoulBaseZeroTable) {
  const ulong_case cases[] = {
      // decimal, octal, hex
      {"0", kOk, 0},
      {"5", kOk, 5},
      {"255", kOk, 255},
      {"010", kOk, 8},
      {"00", kOk, 0},
      {"0x0", kOk, 0},
      {"0xab\n", kOk, 171},
      {"0XAB", kOk, 171},
      {"0xAb", kOk, 171},
      // optional '+', one trailing newline
      {"+5", kOk, 5},
      {"+0x10", kOk, 16},
      {"+010", kOk, 8},
      {"5\n", kOk, 5},
      {"0\n", kOk, 0},
      // EINVAL
      {"08", EINVAL, 0},          // octal: '8' is trailing garbage
      {"09\n", EINVAL, 0},
      {"0x", EINVAL, 0},          // no hex digit after 0x: octal 0, then 'x'
      {"0x\n", EINVAL, 0},
      {"0xg", EINVAL, 0},
      {"0x1g", EINVAL, 0},
      {" 5", EINVAL, 0},          // no leading whitespace
      {"\t5", EINVAL, 0},
      {"5 ", EINVAL, 0},
      {"-1", EINVAL, 0},
      {"-0", EINVAL, 0},
      {"+-1", EINVAL, 0},
      {"++5", EINVAL, 0},
      {"+", EINVAL, 0},
      {"", EINVAL, 0},
      {"\n", EINVAL, 0},
      {"5\n\n", EINVAL, 0},       // only one newline
      {"5\r\n", EINVAL, 0},
      {"1e3", EINVAL, 0},
      {"0b1", EINVAL, 0},
      {"abc", EINVAL, 0},
      {"5x", EINVAL, 0},
      // 64-bit range
      {"18446744073709551615", kOk, 18446744073709551615ull},
      {"0xffffffffffffffff", kOk, 18446744073709551615ull},
      {"01777777777777777777777", kOk, 18446744073709551615ull},
      {"18446744073709551616", ERANGE, 0},
      {"0x10000000000000000", ERANGE, 0},
      {"02000000000000000000000", ERANGE, 0},
      {"99999999999999999999999999999", ERANGE, 0},
      {"99999999999999999999x", ERANGE, 0},  // overflow is reported before garbage
      // the kernel sees a C string: it ends at the first NUL
      {"5\0garbage"s, kOk, 5},
      {"\0"s, EINVAL, 0},
  };
  for (const ulong_case& c : cases) {
    SCOPED_TRACE("text: \"" + c.text + "\"");
    const auto r = parse_ulong(c.text);
    EXPECT_EQ(errno_of(r.error), c.error);
    EXPECT_EQ(r.value, c.value);
    EXPECT_EQ(static_cast<bool>(r), c.error == kOk);
  }
}

TEST(ParseUlong, NeverLooksPastTheEndOfTheView) {
  // "0x5" cut to "0": the kernel's look-ahead at s[1] must see the end.
  const std::string buffer = "0x5";
  const auto r = parse_ulong(std::string_view(buffer.data(), 1));
  EXPECT_OK(r.error);
  EXPECT_EQ(r.value, 0u);
  const auto cut_newline = parse_ulong(std::string_view("7\nx", 2));
  EXPECT_EQ(cut_newline.value, 7u);
}

// An independent oracle for kstrtoul built on std::from_chars, for random
// inputs.
ulong_case kstrtoul_oracle(std::string_view s) {
  s = s.substr(0, s.find('\0'));
  ulong_case out{std::string(s), EINVAL, 0};
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  int base = 10;
  if (s.size() >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
      std::isxdigit(static_cast<unsigned char>(s[2]))) {
    base = 16;
    s.remove_prefix(2);
  } else if (!s.empty() && s[0] == '0') {
    base = 8;
  }
  std::uint64_t v = 0;
  // from_chars accepts a '-' sign for signed types only; ours is unsigned.
  if (!s.empty() && s[0] == '-') return out;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec == std::errc::result_out_of_range) {
    out.error = ERANGE;
    return out;
  }
  if (ec != std::errc{}) return out;
  std::string_view rest(end, static_cast<std::size_t>(s.data() + s.size() - end));
  if (!rest.empty() && rest[0] == '\n') rest.remove_prefix(1);
  if (!rest.empty()) return out;
  out.error = kOk;
  out.value = v;
  return out;
}

TEST(ParseUlong, RandomInputsMatchAnIndependentOracle) {
  std::mt19937_64 rng(0x6b737472);
  static constexpr char alphabet[] = "0123456789abcdefxX+-\n \0g9";
  std::uniform_int_distribution<std::size_t> length(0, 24);
  std::uniform_int_distribution<std::size_t> letter(0, sizeof(alphabet) - 2);
  for (int round = 0; round < 50000; ++round) {
    const std::size_t n = length(rng);
    // An exactly sized heap buffer: ASan reports any read past the view.
    auto buffer = std::make_unique<char[]>(n);
    for (std::size_t i = 0; i < n; ++i) {
      buffer[i] = round % 4 == 0 && i > 0 ? alphabet[letter(rng) % 10] : alphabet[letter(rng)];
    }
    const std::string_view text(buffer.get(), n);
    const ulong_case expected = kstrtoul_oracle(text);
    const auto got = parse_ulong(text);
    ASSERT_EQ(errno_of(got.error), expected.error) << '"' << std::string(text) << '"';
    ASSERT_EQ(got.value, expected.value) << '"' << std::string(text) << '"';
  }
}

struct id_case {
  std::string text;
  unsigned max;
  int error;
  unsigned value;
};

TEST(ParseId, ParseThenMaximumLikeAssignAdapter) {
  const id_case cases[] = {
      {"5", 63, kOk, 5},         {"63", 63, kOk, 63},      {"64", 63, ENODEV, 0},
      {"0x40", 63, ENODEV, 0},   {"0xff\n", 255, kOk, 255}, {"256", 255, ENODEV, 0},
      {"300", 255, ENODEV, 0},   {"abc", 255, EINVAL, 0},  {"08", 255, EINVAL, 0},
      {"99999999999999999999", 255, ERANGE, 0},  // ERANGE before ENODEV
      {"", 15, EINVAL, 0},       {"0", 0, kOk, 0},         {"1", 0, ENODEV, 0},
  };
  for (const id_case& c : cases) {
    SCOPED_TRACE("text: \"" + c.text + "\" max " + std::to_string(c.max));
    const auto a = parse_id(c.text, apid(static_cast<std::uint8_t>(c.max)));
    static_assert(std::is_same_v<decltype(a.value), apid>);
    EXPECT_EQ(errno_of(a.error), c.error);
    EXPECT_EQ(a.value.value(), c.value);
    const auto d = parse_id(c.text, cdom(static_cast<std::uint8_t>(c.max)));
    static_assert(std::is_same_v<decltype(d.value), cdom>);
    EXPECT_EQ(errno_of(d.error), c.error);
  }
}

// ---- ap_hex2bitmap -------------------------------------------------------

struct hex_case {
  std::string text;
  int error;
  std::vector<unsigned> ids;
};

std::string hex_digits_string(std::size_t n, char digit) { return std::string(n, digit); }

TEST(ParseHex, ApHex2bitmapTable) {
  const hex_case cases[] = {
      // zero digits are accepted: the empty mask
      {"", kOk, {}},
      {"\n", kOk, {}},
      {"0x", kOk, {}},
      {"x", kOk, {}},
      {"0x\n", kOk, {}},
      {"0", kOk, {}},
      {"0x0", kOk, {}},
      // MSB first, short input padded on the right
      {"8", kOk, {0}},
      {"0x8", kOk, {0}},
      {"x8", kOk, {0}},
      {"1", kOk, {3}},
      {"0x4", kOk, {1}},
      {"f", kOk, {0, 1, 2, 3}},
      {"F\n", kOk, {0, 1, 2, 3}},
      {"0xAb", kOk, {0, 2, 4, 6, 7}},
      {"0x00000000000000008", kOk, {64}},  // 17th digit is word 1
      {"0x8" + hex_digits_string(62, '0') + "1", kOk, {0, 255}},
      {hex_digits_string(64, '0') + "\n", kOk, {}},
      // EINVAL
      {"0x" + hex_digits_string(65, '0'), EINVAL, {}},  // a 65th digit
      {hex_digits_string(65, 'f'), EINVAL, {}},
      {"0X8", EINVAL, {}},  // only a lowercase 'x' is a prefix
      {"00x8", EINVAL, {}},
      {"xx8", EINVAL, {}},
      {"0xx8", EINVAL, {}},  // the "0x" test skips only the '0', then one 'x'
      {" 8", EINVAL, {}},
      {"8 ", EINVAL, {}},
      {"8\n\n", EINVAL, {}},
      {"g", EINVAL, {}},
      {"-1", EINVAL, {}},
      {"+1", EINVAL, {}},  // relative form is parse_update's, not ap_hex2bitmap's
      {"8,", EINVAL, {}},
      // the kernel sees a C string
      {"8\0zz"s, kOk, {0}},
  };
  for (const hex_case& c : cases) {
    SCOPED_TRACE("text: \"" + c.text + "\"");
    const auto r = adapter_mask::parse_hex(c.text);
    EXPECT_EQ(errno_of(r.error), c.error);
    EXPECT_EQ(ids_of(r.value), c.ids);
  }
  const auto all = domain_mask::parse_hex("0x" + hex_digits_string(64, 'f'));
  ASSERT_TRUE(all);
  EXPECT_EQ(all.value.weight(), 256u);
}

TEST(ParseHex, NeverReadsPastAnExactlySizedBuffer) {
  std::mt19937_64 rng(0x686578);
  static constexpr char alphabet[] = "0123456789abcdefABCDEFxX\n,+- ";
  std::uniform_int_distribution<std::size_t> length(0, 80);
  std::uniform_int_distribution<std::size_t> letter(0, sizeof(alphabet) - 2);
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::size_t n = length(rng);
    auto buffer = std::make_unique<char[]>(n);
    for (std::size_t i = 0; i < n; ++i) {
      buffer[i] = round % 2 == 0 ? alphabet[letter(rng) % 16] : alphabet[letter(rng)];
    }
    const std::string_view text(buffer.get(), n);
    const auto r = adapter_mask::parse_hex(text);
    const auto u = adapter_mask::parse_update(text, adapter_mask::all());
    const auto c = parse_ap_config(text);
    if (!r) {
      ASSERT_TRUE(r.value.empty());
    } else {
      ++accepted;
      // What was accepted re-parses from its canonical form.
      ASSERT_EQ(adapter_mask::parse_hex(r.value.to_string()).value, r.value);
    }
    if (!u) {
      ASSERT_TRUE(u.value.empty());
    }
    if (!c) {
      ASSERT_EQ(c.value, ap_config_masks{});
    }
  }
  EXPECT_GT(accepted, 100);
}

// ---- ap_parse_bitmap_str (apmask / aqmask) -------------------------------

struct update_case {
  std::string text;
  int error;
  std::vector<unsigned> ids;
};

TEST(ParseUpdate, RelativeEditsAndAbsoluteMasks) {
  const adapter_mask current = apm_of({3, 5, 200});
  const update_case cases[] = {
      {"+0", kOk, {0, 3, 5, 200}},
      {"-5", kOk, {3, 200}},
      {"+0-3", kOk, {0, 1, 2, 3, 5, 200}},
      {"-0-255", kOk, {}},
      {"-0-255,+7", kOk, {7}},
      {"+1,+2\n", kOk, {1, 2, 3, 5, 200}},
      {"+1,,\n,+2", kOk, {1, 2, 3, 5, 200}},
      {"+0x10", kOk, {3, 5, 16, 200}},
      {"+010", kOk, {3, 5, 8, 200}},
      {"+0xff", kOk, {3, 5, 200, 255}},
      {"+3-3", kOk, {3, 5, 200}},
      {"+0-255,-1-254", kOk, {0, 255}},  // the last term wins
      {"+1-0x3", kOk, {1, 2, 3, 5, 200}},
      // simple_strtoul wraps silently: 2^64 + 1 is 1 (a kernel quirk)
      {"+18446744073709551617", kOk, {1, 3, 5, 200}},
      // absolute masks replace the current one
      {"0x8", kOk, {0}},
      {"", kOk, {}},
      {"\n", kOk, {}},
      // EINVAL
      {"+256", EINVAL, {}},
      {"+5-3", EINVAL, {}},
      {"+0-256", EINVAL, {}},
      {"+", EINVAL, {}},
      {"-", EINVAL, {}},
      {"+a", EINVAL, {}},
      {"+-1", EINVAL, {}},
      {"+1-", EINVAL, {}},
      {"+08", EINVAL, {}},  // octal 0, then '8' is not a sign
      {"+0x", EINVAL, {}},  // octal 0, then 'x' is not a sign
      {"+1 ", EINVAL, {}},
      {"+1;+2", EINVAL, {}},
      {"+1,x", EINVAL, {}},
      {"+18446744073709551872", EINVAL, {}},  // wraps to 256
  };
  for (const update_case& c : cases) {
    SCOPED_TRACE("text: \"" + c.text + "\"");
    const auto r = adapter_mask::parse_update(c.text, current);
    EXPECT_EQ(errno_of(r.error), c.error);
    EXPECT_EQ(ids_of(r.value), c.ids);
  }
  EXPECT_EQ(ids_of(current), (std::vector<unsigned>{3, 5, 200}));  // never changed
}

// ---- ap_config -----------------------------------------------------------

TEST(ApConfig, FormatIsThreeMasksIn201Bytes) {
  ap_matrix m;
  m.apm = apm_of({0});
  m.aqm = aqm_of({255});
  m.adm = adm_of({4});
  const std::string text = format_ap_config(m);
  EXPECT_EQ(text.size(), 201u);
  EXPECT_EQ(text.size(), ap_config_strlen);
  EXPECT_EQ(text,
            "0x8000000000000000000000000000000000000000000000000000000000000000,"
            "0x0000000000000000000000000000000000000000000000000000000000000001,"
            "0x0800000000000000000000000000000000000000000000000000000000000000\n");
  EXPECT_EQ(format_ap_config(ap_matrix{}).size(), 201u);
}

struct config_case {
  std::string text;
  int error;
  std::vector<unsigned> apm, aqm, adm;
};

TEST(ApConfig, ParseFollowsApConfigStore) {
  const std::string full = "0x" + hex_digits_string(64, 'f');
  const std::string field65 = "0x" + hex_digits_string(65, '0');
  const config_case cases[] = {
      {"0x8,0x4,0x2\n", kOk, {0}, {1}, {2}},
      {"8,4,2", kOk, {0}, {1}, {2}},        // third field ended by the string
      {"0x8,0x4\n", kOk, {0}, {1}, {}},     // empty third field: adm = 0
      {",,\n", kOk, {}, {}, {}},
      {",,", kOk, {}, {}, {}},
      {"\n\n\n", kOk, {}, {}, {}},          // '\n' separates fields too
      {"8\n4\n2\n", kOk, {0}, {1}, {2}},
      {"8,4,2,zz,yy", kOk, {0}, {1}, {2}},  // fields after the third are ignored
      {"8,4,2\nrest", kOk, {0}, {1}, {2}},
      {"0x8,0x4", EINVAL, {}, {}, {}},      // no third field
      {"0x8", EINVAL, {}, {}, {}},
      {"", EINVAL, {}, {}, {}},
      {"8,4,2 ", EINVAL, {}, {}, {}},
      {"8,g,2\n", EINVAL, {}, {}, {}},
      {field65 + ",0,0\n", EINVAL, {}, {}, {}},
      {"8,4\0,2\n"s, EINVAL, {}, {}, {}},   // the kernel's string ends at the NUL
  };
  for (const config_case& c : cases) {
    SCOPED_TRACE("text: \"" + c.text + "\"");
    const auto r = parse_ap_config(c.text);
    EXPECT_EQ(errno_of(r.error), c.error);
    EXPECT_EQ(ids_of(r.value.apm), c.apm);
    EXPECT_EQ(ids_of(r.value.aqm), c.aqm);
    EXPECT_EQ(ids_of(r.value.adm), c.adm);
  }
}

TEST(ApConfig, InputIsCutTo201BytesLikeKstrndup) {
  const std::string full = "0x" + hex_digits_string(64, 'f');
  const std::string line = full + "," + full + "," + full + "\n";
  ASSERT_EQ(line.size(), 201u);
  const auto whole = parse_ap_config(line + "garbage beyond the cut");
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole.value.adm.weight(), 256u);
  // A 65th adm digit is byte 201, inside the cut: EINVAL.
  EXPECT_EQ(errno_of(parse_ap_config(full + "," + full + "," + full + "f\n").error), EINVAL);
  // A field is at most 66 valid bytes ("0x" + 64 digits), so the cut can only
  // fall after the third field: whatever follows byte 201 never matters.
  const auto tail = parse_ap_config(full + "," + full + "," + full + "\n" + std::string(500, 'g'));
  EXPECT_TRUE(tail);
}

TEST(ApConfig, FormatAndParseRoundTrip) {
  std::mt19937_64 rng(0x636667);
  for (int round = 0; round < 2000; ++round) {
    ap_config_masks masks;
    masks.apm = adapter_mask::from_words({rng(), rng(), rng(), rng()});
    masks.aqm = domain_mask::from_words({rng(), rng() & rng(), 0, rng()});
    masks.adm = control_domain_mask::from_words({rng() | rng(), rng(), rng(), ~0ull});
    const std::string text = format_ap_config(masks.apm, masks.aqm, masks.adm);
    ASSERT_EQ(text.size(), 201u);
    const auto parsed = parse_ap_config(text);
    ASSERT_TRUE(parsed);
    ASSERT_EQ(parsed.value, masks);
  }
}

// ---- host configuration and ap_matrix ------------------------------------

TEST(ApMatrix, MaximaComeFromTheHostConfiguration) {
  host_config apxa;
  apxa.apxa = true;
  apxa.na = 0x50;
  apxa.nd = 0x20;
  const ap_matrix m(apxa);
  EXPECT_EQ(m.apm_max, apid{0x50});
  EXPECT_EQ(m.aqm_max, apqi{0x20});
  EXPECT_EQ(m.adm_max, cdom{0x20});
  EXPECT_TRUE(m.apm.empty() && m.aqm.empty() && m.adm.empty());

  host_config legacy = apxa;
  legacy.apxa = false;  // na/nd are not valid without APXA
  const ap_matrix l(legacy);
  EXPECT_EQ(l.apm_max, apid{63});
  EXPECT_EQ(l.aqm_max, apqi{15});
  EXPECT_EQ(l.adm_max, cdom{15});
  EXPECT_EQ(ap_matrix{}, ap_matrix(host_config{}));
  static_assert(ap_matrix(host_config{}).apm_max == apid{63});
}

TEST(ApMatrix, OverflowCheckAndContains) {
  ap_matrix m;  // 63 / 15 / 15
  m.apm.set(apid{63});
  m.aqm.set(apqi{15});
  m.adm.set(cdom{15});
  EXPECT_OK(m.overflow_check());
  EXPECT_TRUE(m.contains(apqn(apid{63}, apqi{15})));
  EXPECT_FALSE(m.contains(apqn(apid{62}, apqi{15})));
  ap_matrix over = m;
  over.apm.set(apid{64});
  EXPECT_EQ(errno_of(over.overflow_check()), ENODEV);
  over = m;
  over.adm.set(cdom{16});
  EXPECT_EQ(errno_of(over.overflow_check()), ENODEV);
}

// ---- matrix / guest_matrix / control_domains -----------------------------

struct matrix_case {
  const char* name;
  std::vector<unsigned> apm, aqm;
  unsigned apm_max, aqm_max;
  std::string expected;
};

ap_matrix make_matrix(const matrix_case& c) {
  ap_matrix m;
  m.apm_max = apid(static_cast<std::uint8_t>(c.apm_max));
  m.aqm_max = apqi(static_cast<std::uint8_t>(c.aqm_max));
  for (unsigned a : c.apm) m.apm.set(apid(static_cast<std::uint8_t>(a)));
  for (unsigned q : c.aqm) m.aqm.set(apqi(static_cast<std::uint8_t>(q)));
  return m;
}

TEST(FormatMatrix, FollowsVfioApMdevMatrixShow) {
  const matrix_case cases[] = {
      {"empty", {}, {}, 255, 255, ""},
      {"one queue", {5}, {0xab}, 255, 255, "05.00ab\n"},
      {"adapter-major order", {6, 5}, {2, 1}, 255, 255, "05.0001\n05.0002\n06.0001\n06.0002\n"},
      {"adapters only", {5, 0xff}, {}, 255, 255, "05.\nff.\n"},
      {"domains only", {}, {0xab, 0}, 255, 255, ".0000\n.00ab\n"},
      {"above maxima hidden", {5, 70}, {3, 16}, 63, 15, "05.0003\n"},
      {"apm beyond max counts as empty", {70}, {3}, 63, 15, ".0003\n"},
      {"aqm beyond max counts as empty", {1}, {16}, 63, 15, "01.\n"},
      {"max is inclusive", {63}, {15}, 63, 15, "3f.000f\n"},
  };
  for (const matrix_case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(format_matrix(make_matrix(c)), c.expected);
  }
}

TEST(FormatMatrix, IsCappedAtAPageLikeSysfsEmitAt) {
  ap_matrix m;
  m.apm_max = apid{255};
  m.aqm_max = apqi{255};
  m.apm.fill();
  m.aqm.fill();
  const std::string out = format_matrix(m);  // 65536 lines of 8 bytes
  ASSERT_EQ(out.size(), 4095u);
  EXPECT_EQ(out.substr(0, 16), "00.0000\n00.0001\n");
  EXPECT_EQ(out.substr(4080, 8), "01.00fe\n");
  EXPECT_EQ(out.substr(4088), "01.00ff");  // line 512 cut, no newline

  // 511 lines (4088 bytes) fit whole.
  ap_matrix fits;
  fits.apm_max = apid{255};
  fits.aqm_max = apqi{255};
  for (unsigned a = 0; a < 7; ++a) fits.apm.set(apid(static_cast<std::uint8_t>(a)));
  for (unsigned q = 0; q < 73; ++q) fits.aqm.set(apqi(static_cast<std::uint8_t>(q)));
  const std::string whole = format_matrix(fits);
  EXPECT_EQ(whole.size(), 511u * 8);
  EXPECT_EQ(whole.back(), '\n');

  // Short lines never reach the cap: 256 adapters * 4 bytes.
  ap_matrix adapters;
  adapters.apm_max = apid{255};
  adapters.apm.fill();
  EXPECT_EQ(format_matrix(adapters).size(), 1024u);
}

TEST(FormatControlDomains, FollowsControlDomainsShow) {
  ap_matrix m;
  m.adm_max = cdom{255};
  EXPECT_EQ(format_control_domains(m), "");
  m.adm = adm_of({255, 0, 0xab});
  EXPECT_EQ(format_control_domains(m), "0000\n00ab\n00ff\n");
  m.adm_max = cdom{15};
  m.adm = adm_of({3, 20});
  EXPECT_EQ(format_control_domains(m), "0003\n");
  m.adm.fill();
  m.adm_max = cdom{255};
  EXPECT_EQ(format_control_domains(m).size(), 256u * 5);
}

TEST(MaskText, IsZeroXAndSixtyFourLowercaseDigits) {
  EXPECT_EQ(adapter_mask{}.to_string(), "0x" + hex_digits_string(64, '0'));
  EXPECT_EQ(domain_mask::all().to_string(), "0x" + hex_digits_string(64, 'f'));
  // ID 171 = word 2, bit 63 - 43 = 20.
  EXPECT_EQ(control_domain_mask::of(cdom{0xab}).to_string(),
            "0x" + hex_digits_string(32, '0') + "0000000000100000" + hex_digits_string(16, '0'));
  std::ostringstream os;
  os << apm_of({0});
  EXPECT_EQ(os.str(), "0x8" + hex_digits_string(63, '0'));
}

}  // namespace
