// ordo/bitmap.hpp — fixed-size bitmaps with both bit numberings of the
// kernel: LSB-0 (set_bit) and MSB-0, the s390 "inverted" numbering
// (set_bit_inv).
//
// What it is
//   ordo::bitmap<N> is DECLARE_BITMAP(x, N) as a value type: N/64 words of
//   std::uint64_t, with the kernel's two ways of numbering the bits of one
//   word array:
//
//     LSB-0  test / set / clear / find_first / find_next / ones
//            bit n is word n/64, bit n%64          (set_bit(n, p))
//     MSB-0  test_inv / set_inv / clear_inv / find_first_inv /
//            find_next_inv / ones_inv
//            bit n is word n/64, bit 63 - n%64     (set_bit_inv(n, p))
//
//   and the whole-map operations of <linux/bitmap.h>: and, or, xor, andnot,
//   complement, equality, subset, intersects, empty, weight, zero, fill.
//   Whole-map operations do not care about the numbering. The s390 AP masks
//   (apm, aqm, adm) are MSB-0: ID 0 is the most significant bit of word 0,
//   so the hex form of the words reads left to right in ID order. The typed
//   AP masks of ordo/ap.hpp are built on this class.
//
//   Everything is constexpr and noexcept, with no heap and no branches on the
//   data in the whole-map operations; countl_zero/countr_zero come from
//   <bit>. At run time equality and weight() use 16-byte vectors (SSE2 is
//   baseline on x86-64; without a popcount instruction std::popcount is a
//   library call per word). bench/bitmap_bench.cpp measures the MSB-0 masks
//   against std::bitset<256>: and, equality, weight and iteration are all
//   at or below the anchor's time.
//
// When not to use it
//   For a bit count that is not a multiple of 64, or that changes at run
//   time: use std::bitset or std::vector<bool>. For bits shared between
//   threads without a lock: a bitmap is a plain value (use std::atomic words
//   and the kernel's atomic bitops instead).
//
// Thread-safety contract
//   A plain value type, like std::bitset: concurrent const access is safe;
//   any write needs exclusive access (keep it under the lock that guards the
//   object that contains it).
//
// Memory ordering
//   None: no operation here is atomic or orders anything.
//
// Invariants
//   I1  N is a positive multiple of 64: both numberings address the same
//       whole words, and each numbering is a bijection between [0, N) and the
//       N storage bits. (A partial last word would hold different bits in the
//       two numberings.)
//   I2  Every operation reads and writes only words_[0 .. N/64): an index
//       >= N is never a member; test*() returns false for it and set*/clear*
//       do nothing (no UB, no out-of-bounds access).
//   I3  find_* return the smallest member >= the start that is below the
//       limit, or the limit when there is none (the kernel's find_next_bit
//       convention); the limit is clamped to N.
//   I4  ones() / ones_inv() visit members in ascending index order of their
//       numbering, each exactly once.
//
// Misuse
//   compile error  N not a positive multiple of 64:
//                  "ordo: bitmap<N>: N must be a positive multiple of 64".
//                  ones()/ones_inv() on a temporary bitmap: deleted (the
//                  range would dangle).
//   runtime report none.
//   unspecified    changing the bitmap while a ones()/ones_inv() range
//                  over it is walked: clearing the member being visited or
//                  members already visited is fine (the walk is unchanged);
//                  other changes may or may not be seen by the walk.
//   undefined      none from bad indices (I2). Using a range or iterator
//                  after its bitmap is gone.
//
// Example (the layout is checked in tests/bitmap_test.cpp)
//   ordo::bitmap<256> apm;
//   apm.set_inv(5).set_inv(200);                  // IDs 5 and 200
//   assert(apm.words()[0] == 0x0400000000000000); // bit 63-5 of word 0
//   for (std::size_t id : apm.ones_inv()) use(id); // 5, then 200
//   ordo::bitmap<256> removed = old_apm.andnot(apm);
#ifndef ORDO_BITMAP_HPP
#define ORDO_BITMAP_HPP

#include <ordo/detail/config.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <type_traits>

#if defined(__GNUC__) && (defined(__SSE2__) || defined(__aarch64__))
#define ORDO_BITMAP_SIMD 1
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#else
#define ORDO_BITMAP_SIMD 0
#endif

namespace ordo {

/// The two bit numberings of the kernel's bitops.
enum class bit_numbering {
  lsb0,  ///< bit n is bit n%64 of word n/64 (set_bit)
  msb0,  ///< bit n is bit 63 - n%64 of word n/64 (set_bit_inv)
};

namespace detail {

inline constexpr std::uint64_t word_top_bit = std::uint64_t{1} << 63;

// The storage bit of index-in-word `bit` (0..63) in numbering Order.
template <bit_numbering Order>
[[nodiscard]] constexpr std::uint64_t bit_in_word(std::size_t bit) noexcept {
  if constexpr (Order == bit_numbering::lsb0) {
    return std::uint64_t{1} << (bit & 63);
  } else {
    return word_top_bit >> (bit & 63);
  }
}

// The storage bits of indexes-in-word [0, count) in numbering Order;
// count in [0, 64].
template <bit_numbering Order>
[[nodiscard]] constexpr std::uint64_t bits_below(std::size_t count) noexcept {
  if (count >= 64) return ~std::uint64_t{0};
  if (count == 0) return 0;
  if constexpr (Order == bit_numbering::lsb0) {
    return (std::uint64_t{1} << count) - 1;
  } else {
    return ~std::uint64_t{0} << (64 - count);
  }
}

// The storage bits of indexes-in-word [from, 64) in numbering Order;
// from in [0, 63].
template <bit_numbering Order>
[[nodiscard]] constexpr std::uint64_t bits_from(std::size_t from) noexcept {
  if constexpr (Order == bit_numbering::lsb0) {
    return ~std::uint64_t{0} << (from & 63);
  } else {
    return ~std::uint64_t{0} >> (from & 63);
  }
}

// The lowest index-in-word that is set in a non-zero word.
template <bit_numbering Order>
[[nodiscard]] constexpr std::size_t first_in_word(std::uint64_t word) noexcept {
  if constexpr (Order == bit_numbering::lsb0) {
    return static_cast<std::size_t>(std::countr_zero(word));
  } else {
    return static_cast<std::size_t>(std::countl_zero(word));
  }
}

#if ORDO_BITMAP_SIMD
// Two words at a time in a 128-bit vector (GCC/clang vector extension; SSE2
// is baseline on x86-64): one xor and one or per 16 bytes, a single test at
// the end, no branch on the data.
using u64x2 = std::uint64_t __attribute__((vector_size(16)));

template <std::size_t Words>
[[nodiscard]] inline bool equal_words_simd(const std::uint64_t* a, const std::uint64_t* b) noexcept {
  // The words are 16-byte aligned (see words_): vector loads are aligned.
  const auto* va = static_cast<const u64x2*>(__builtin_assume_aligned(a, 16));
  const auto* vb = static_cast<const u64x2*>(__builtin_assume_aligned(b, 16));
  u64x2 differ = {0, 0};
  for (std::size_t i = 0; i < Words / 2; ++i) differ |= va[i] ^ vb[i];
#if defined(__SSE2__)
  // One compare and one mask move instead of two vector-to-GPR moves.
  const __m128i zero_bytes = _mm_cmpeq_epi8(reinterpret_cast<__m128i>(differ), _mm_setzero_si128());
  return _mm_movemask_epi8(zero_bytes) == 0xffff;
#else
  return (differ[0] | differ[1]) == 0;
#endif
}
#endif

#if ORDO_BITMAP_SIMD && defined(__SSE2__)
// Population count of 16-byte-aligned words without a popcount instruction:
// the SWAR bit count on two words per vector, two vectors added while their
// counts are still nibbles (<= 8 per nibble), then psadbw adds the byte
// counts into two 64-bit lanes.
[[nodiscard]] inline __m128i nibble_counts(__m128i x) noexcept {
  const __m128i m1 = _mm_set1_epi8(0x55);
  const __m128i m2 = _mm_set1_epi8(0x33);
  x = _mm_sub_epi8(x, _mm_and_si128(_mm_srli_epi64(x, 1), m1));
  return _mm_add_epi8(_mm_and_si128(x, m2), _mm_and_si128(_mm_srli_epi64(x, 2), m2));
}
[[nodiscard]] inline __m128i byte_sums(__m128i nibbles) noexcept {
  const __m128i m4 = _mm_set1_epi8(0x0f);
  // Mask before adding: two summed vectors can have 8 + 8 = 16 in a byte.
  const __m128i bytes =
      _mm_add_epi8(_mm_and_si128(nibbles, m4), _mm_and_si128(_mm_srli_epi64(nibbles, 4), m4));
  return _mm_sad_epu8(bytes, _mm_setzero_si128());
}

template <std::size_t Words>
[[nodiscard]] inline std::size_t weight_simd(const std::uint64_t* words) noexcept {
  const auto* v = static_cast<const __m128i*>(__builtin_assume_aligned(words, 16));
  constexpr std::size_t vectors = Words / 2;
  __m128i total = _mm_setzero_si128();
  std::size_t i = 0;
  for (; i + 2 <= vectors; i += 2) {
    const __m128i pair = _mm_add_epi8(nibble_counts(_mm_load_si128(v + i)),
                                      nibble_counts(_mm_load_si128(v + i + 1)));
    total = _mm_add_epi64(total, byte_sums(pair));
  }
  if (i < vectors) total = _mm_add_epi64(total, byte_sums(nibble_counts(_mm_load_si128(v + i))));
  const __m128i high = _mm_unpackhi_epi64(total, total);
  return static_cast<std::size_t>(_mm_cvtsi128_si64(_mm_add_epi64(total, high)));
}
#endif

/// Forward iterator over the set bits of a word array, ascending in the
/// numbering Order (I4). Reads the words live: see "Misuse" above for what
/// changes during a walk are allowed. End is std::default_sentinel.
template <bit_numbering Order>
class set_bit_iterator {
 public:
  using value_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using iterator_concept = std::forward_iterator_tag;
  using iterator_category = std::forward_iterator_tag;

  constexpr set_bit_iterator() noexcept = default;

  // Walks the members below `limit` of words[0 .. ceil(limit/64)).
  constexpr set_bit_iterator(const std::uint64_t* words, std::size_t limit) noexcept
      : words_(words),
        end_word_((limit + 63) / 64),
        last_mask_(bits_below<Order>(limit % 64 == 0 ? 64 : limit % 64)) {
    if (end_word_ == 0) return;
    rest_ = load(0);
    settle();
  }

  [[nodiscard]] constexpr std::size_t operator*() const noexcept { return current_; }

  constexpr set_bit_iterator& operator++() noexcept {
    rest_ &= ~bit_in_word<Order>(current_);
    settle();
    return *this;
  }
  constexpr set_bit_iterator operator++(int) noexcept {
    set_bit_iterator before = *this;
    ++*this;
    return before;
  }

  [[nodiscard]] friend constexpr bool operator==(const set_bit_iterator& it,
                                                 std::default_sentinel_t) noexcept {
    return it.index_ == it.end_word_;
  }
  [[nodiscard]] friend constexpr bool operator==(const set_bit_iterator&,
                                                 const set_bit_iterator&) noexcept = default;

 private:
  [[nodiscard]] constexpr std::uint64_t load(std::size_t index) const noexcept {
    return words_[index] & (index + 1 == end_word_ ? last_mask_ : ~std::uint64_t{0});
  }
  // Moves to the first member at or after the current position.
  constexpr void settle() noexcept {
    while (rest_ == 0) {
      if (++index_ == end_word_) return;
      rest_ = load(index_);
    }
    current_ = index_ * 64 + first_in_word<Order>(rest_);
  }

  const std::uint64_t* words_ = nullptr;
  std::size_t index_ = 0;      // word being walked; end_word_ when done
  std::size_t end_word_ = 0;   // one past the last word to walk
  std::uint64_t last_mask_ = 0;  // limit mask of word end_word_ - 1
  std::uint64_t rest_ = 0;     // members of word index_ not yet visited
  std::size_t current_ = 0;    // the member *this denotes
};

/// A range of set-bit indexes: begin() is a set_bit_iterator, end() the
/// default sentinel. Holds a pointer to the bitmap, not a copy.
template <bit_numbering Order>
class set_bit_range {
 public:
  constexpr set_bit_range(const std::uint64_t* words, std::size_t limit) noexcept
      : words_(words), limit_(limit) {}
  [[nodiscard]] constexpr set_bit_iterator<Order> begin() const noexcept {
    return set_bit_iterator<Order>(words_, limit_);
  }
  [[nodiscard]] constexpr std::default_sentinel_t end() const noexcept { return {}; }

 private:
  const std::uint64_t* words_;
  std::size_t limit_;
};

}  // namespace detail

/// A fixed-size bitmap of N bits (N a positive multiple of 64, I1) stored as
/// N/64 std::uint64_t words, addressable in LSB-0 and MSB-0 numbering.
/// Zero-initialised. Not thread-safe (a plain value).
template <std::size_t N>
class bitmap {
  static_assert(N > 0 && N % 64 == 0,
                "ordo: bitmap<N>: N must be a positive multiple of 64 (both bit numberings "
                "address whole 64-bit words)");

 public:
  /// One storage word.
  using word_type = std::uint64_t;
  /// Bits per word.
  static constexpr std::size_t word_bits = 64;
  /// Words in the map.
  static constexpr std::size_t word_count = N / 64;
  /// The storage: word_count words.
  using words_type = std::array<word_type, word_count>;

  /// The empty bitmap.
  constexpr bitmap() noexcept = default;

  /// The bitmap whose storage words are `words` (word 0 first), as the
  /// kernel's `unsigned long[]` holds them.
  [[nodiscard]] static constexpr bitmap from_words(const words_type& words) noexcept {
    bitmap result;
    result.words_ = words;
    return result;
  }

  /// Number of bits, N.
  [[nodiscard]] static constexpr std::size_t size() noexcept { return N; }

  /// The storage words, word 0 first.
  [[nodiscard]] constexpr const words_type& words() const noexcept { return words_; }

  // ---- LSB-0 numbering (set_bit, test_bit, find_first_bit) ---------------

  /// Is bit n set (LSB-0)? False for n >= N (I2).
  [[nodiscard]] constexpr bool test(std::size_t n) const noexcept {
    return test_in<bit_numbering::lsb0>(n);
  }
  /// Sets bit n (LSB-0); no-op for n >= N (I2). Returns *this.
  constexpr bitmap& set(std::size_t n) noexcept { return set_in<bit_numbering::lsb0>(n); }
  /// Clears bit n (LSB-0); no-op for n >= N (I2). Returns *this.
  constexpr bitmap& clear(std::size_t n) noexcept { return clear_in<bit_numbering::lsb0>(n); }
  /// Sets bit n (LSB-0) and returns whether it was set before.
  constexpr bool test_and_set(std::size_t n) noexcept {
    const bool was = test(n);
    set(n);
    return was;
  }
  /// Clears bit n (LSB-0) and returns whether it was set before.
  constexpr bool test_and_clear(std::size_t n) noexcept {
    const bool was = test(n);
    clear(n);
    return was;
  }
  /// Lowest set bit below `limit` (LSB-0), or `limit` if none (I3).
  [[nodiscard]] constexpr std::size_t find_first(std::size_t limit = N) const noexcept {
    return find_in<bit_numbering::lsb0>(0, limit);
  }
  /// Lowest set bit in [from, limit) (LSB-0), or `limit` if none (I3).
  [[nodiscard]] constexpr std::size_t find_next(std::size_t from,
                                                std::size_t limit = N) const noexcept {
    return find_in<bit_numbering::lsb0>(from, limit);
  }
  /// The set bits below `limit`, ascending in LSB-0 numbering (I4).
  [[nodiscard]] constexpr detail::set_bit_range<bit_numbering::lsb0> ones(
      std::size_t limit = N) const& noexcept {
    return {words_.data(), limit < N ? limit : N};
  }
  /// Deleted: the range points into the bitmap, a temporary would dangle.
  void ones(std::size_t limit = N) const&& = delete;

  // ---- MSB-0 numbering (set_bit_inv, test_bit_inv, find_first_bit_inv) ---

  /// Is bit n set (MSB-0)? False for n >= N (I2).
  [[nodiscard]] constexpr bool test_inv(std::size_t n) const noexcept {
    return test_in<bit_numbering::msb0>(n);
  }
  /// Sets bit n (MSB-0); no-op for n >= N (I2). Returns *this.
  constexpr bitmap& set_inv(std::size_t n) noexcept { return set_in<bit_numbering::msb0>(n); }
  /// Clears bit n (MSB-0); no-op for n >= N (I2). Returns *this.
  constexpr bitmap& clear_inv(std::size_t n) noexcept {
    return clear_in<bit_numbering::msb0>(n);
  }
  /// Sets bit n (MSB-0) and returns whether it was set before.
  constexpr bool test_and_set_inv(std::size_t n) noexcept {
    const bool was = test_inv(n);
    set_inv(n);
    return was;
  }
  /// Clears bit n (MSB-0) and returns whether it was set before
  /// (test_and_clear_bit_inv).
  constexpr bool test_and_clear_inv(std::size_t n) noexcept {
    const bool was = test_inv(n);
    clear_inv(n);
    return was;
  }
  /// Lowest set bit below `limit` (MSB-0), or `limit` if none (I3).
  [[nodiscard]] constexpr std::size_t find_first_inv(std::size_t limit = N) const noexcept {
    return find_in<bit_numbering::msb0>(0, limit);
  }
  /// Lowest set bit in [from, limit) (MSB-0), or `limit` if none (I3).
  [[nodiscard]] constexpr std::size_t find_next_inv(std::size_t from,
                                                    std::size_t limit = N) const noexcept {
    return find_in<bit_numbering::msb0>(from, limit);
  }
  /// The set bits below `limit`, ascending in MSB-0 numbering (I4):
  /// for_each_set_bit_inv(bit, addr, limit).
  [[nodiscard]] constexpr detail::set_bit_range<bit_numbering::msb0> ones_inv(
      std::size_t limit = N) const& noexcept {
    return {words_.data(), limit < N ? limit : N};
  }
  /// Deleted: the range points into the bitmap, a temporary would dangle.
  void ones_inv(std::size_t limit = N) const&& = delete;

  // ---- whole-map operations (numbering-independent) ---------------------

  /// True when no bit is set (bitmap_empty).
  [[nodiscard]] constexpr bool empty() const noexcept {
    word_type any = 0;
    for (word_type w : words_) any |= w;
    return any == 0;
  }
  /// Number of set bits (bitmap_weight).
  [[nodiscard]] constexpr std::size_t weight() const noexcept {
#if ORDO_BITMAP_SIMD && defined(__SSE2__) && !defined(__POPCNT__)
    if constexpr (word_count % 2 == 0) {
      if (!std::is_constant_evaluated()) return detail::weight_simd<word_count>(words_.data());
    }
#endif
#if defined(__POPCNT__)
    // A popcount instruction: one per word.
    std::size_t count = 0;
    for (word_type w : words_) count += static_cast<std::size_t>(std::popcount(w));
    return count;
#else
    // Without a popcount instruction std::popcount is a library call per
    // word; a SWAR count that sums the per-byte counts of up to 31 words
    // before one horizontal add does the whole map in a few operations per
    // word.
    constexpr word_type m1 = 0x5555555555555555u;
    constexpr word_type m2 = 0x3333333333333333u;
    constexpr word_type m4 = 0x0f0f0f0f0f0f0f0fu;
    std::size_t count = 0;
    for (std::size_t base = 0; base < word_count; base += 31) {
      word_type bytes = 0;  // per-byte bit counts, each <= 8 * 31 = 248
      const std::size_t end = base + 31 < word_count ? base + 31 : word_count;
      for (std::size_t i = base; i < end; ++i) {
        word_type x = words_[i];
        x -= (x >> 1) & m1;
        x = (x & m2) + ((x >> 2) & m2);
        bytes += (x + (x >> 4)) & m4;
      }
      // Widen the byte counts to 16-bit lanes (each <= 496) and add the
      // four lanes with one multiply: at most 31 * 64 = 1984, no overflow.
      constexpr word_type low_bytes = 0x00ff00ff00ff00ffu;
      constexpr word_type lanes = 0x0001000100010001u;
      const word_type pairs = (bytes & low_bytes) + ((bytes >> 8) & low_bytes);
      count += static_cast<std::size_t>((pairs * lanes) >> 48);
    }
    return count;
#endif
  }
  /// Clears every bit (bitmap_zero). Returns *this.
  constexpr bitmap& zero() noexcept {
    for (word_type& w : words_) w = 0;
    return *this;
  }
  /// Sets every bit (bitmap_fill). Returns *this.
  constexpr bitmap& fill() noexcept {
    for (word_type& w : words_) w = ~word_type{0};
    return *this;
  }
  /// Does every bit of *this also appear in `other` (bitmap_subset)?
  [[nodiscard]] constexpr bool is_subset_of(const bitmap& other) const noexcept {
    word_type outside = 0;
    for (std::size_t i = 0; i < word_count; ++i) outside |= words_[i] & ~other.words_[i];
    return outside == 0;
  }
  /// Do *this and `other` share a set bit (bitmap_intersects)?
  [[nodiscard]] constexpr bool intersects(const bitmap& other) const noexcept {
    word_type common = 0;
    for (std::size_t i = 0; i < word_count; ++i) common |= words_[i] & other.words_[i];
    return common != 0;
  }
  /// The bits of *this that are not in `other` (bitmap_andnot).
  [[nodiscard]] constexpr bitmap andnot(const bitmap& other) const noexcept {
    bitmap result;
    for (std::size_t i = 0; i < word_count; ++i) result.words_[i] = words_[i] & ~other.words_[i];
    return result;
  }

  /// Keeps the bits also set in `other`.
  constexpr bitmap& operator&=(const bitmap& other) noexcept {
    for (std::size_t i = 0; i < word_count; ++i) words_[i] &= other.words_[i];
    return *this;
  }
  /// Adds the bits of `other`.
  constexpr bitmap& operator|=(const bitmap& other) noexcept {
    for (std::size_t i = 0; i < word_count; ++i) words_[i] |= other.words_[i];
    return *this;
  }
  /// Flips the bits set in `other`.
  constexpr bitmap& operator^=(const bitmap& other) noexcept {
    for (std::size_t i = 0; i < word_count; ++i) words_[i] ^= other.words_[i];
    return *this;
  }
  /// The bits set in both.
  [[nodiscard]] friend constexpr bitmap operator&(bitmap a, const bitmap& b) noexcept {
    return a &= b;
  }
  /// The bits set in either.
  [[nodiscard]] friend constexpr bitmap operator|(bitmap a, const bitmap& b) noexcept {
    return a |= b;
  }
  /// The bits set in exactly one.
  [[nodiscard]] friend constexpr bitmap operator^(bitmap a, const bitmap& b) noexcept {
    return a ^= b;
  }
  /// The complement: every bit flipped (bitmap_complement).
  [[nodiscard]] friend constexpr bitmap operator~(bitmap a) noexcept {
    for (word_type& w : a.words_) w = ~w;
    return a;
  }
  /// Same bits (bitmap_equal). Branch-free over all words.
  [[nodiscard]] friend constexpr bool operator==(const bitmap& a, const bitmap& b) noexcept {
#if ORDO_BITMAP_SIMD
    if constexpr (word_count % 2 == 0) {
      if (!std::is_constant_evaluated()) {
        return detail::equal_words_simd<word_count>(a.words_.data(), b.words_.data());
      }
    }
#endif
    word_type differ = 0;
    for (std::size_t i = 0; i < word_count; ++i) differ |= a.words_[i] ^ b.words_[i];
    return differ == 0;
  }

 private:
  // I2 without a branch: the word index is reduced modulo word_count (a mask
  // for power-of-two counts) so the access is always in bounds, and an index
  // >= N contributes an all-zero bit, which makes the write a no-op. (Also
  // keeps GCC from splitting these into size-independent parts that IPA-ICF
  // merges across N, which confuses -Warray-bounds under the sanitizers.)
  template <bit_numbering Order>
  [[nodiscard]] static constexpr word_type bit_if_in_range(std::size_t n) noexcept {
    return n < N ? detail::bit_in_word<Order>(n % 64) : word_type{0};
  }
  [[nodiscard]] static constexpr std::size_t word_of(std::size_t n) noexcept {
    return (n / 64) % word_count;
  }
  template <bit_numbering Order>
  [[nodiscard]] constexpr bool test_in(std::size_t n) const noexcept {
    return (words_[word_of(n)] & bit_if_in_range<Order>(n)) != 0;
  }
  template <bit_numbering Order>
  constexpr bitmap& set_in(std::size_t n) noexcept {
    words_[word_of(n)] |= bit_if_in_range<Order>(n);
    return *this;
  }
  template <bit_numbering Order>
  constexpr bitmap& clear_in(std::size_t n) noexcept {
    words_[word_of(n)] &= ~bit_if_in_range<Order>(n);
    return *this;
  }
  template <bit_numbering Order>
  [[nodiscard]] constexpr std::size_t find_in(std::size_t from, std::size_t limit) const noexcept {
    if (limit > N) limit = N;  // I3
    if (from >= limit) return limit;
    std::size_t index = from / 64;
    word_type word = words_[index] & detail::bits_from<Order>(from % 64);
    while (true) {
      if (word != 0) {
        const std::size_t found = index * 64 + detail::first_in_word<Order>(word);
        return found < limit ? found : limit;
      }
      if (++index * 64 >= limit) return limit;
      word = words_[index];
    }
  }

  // 16-byte alignment lets the vector paths use aligned, foldable loads.
  alignas(word_count % 2 == 0 ? 16 : 8) words_type words_{};
};

}  // namespace ordo

#endif  // ORDO_BITMAP_HPP
