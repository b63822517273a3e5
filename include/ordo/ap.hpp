// ordo/ap.hpp — s390 AP (crypto adjunct processor) identifiers, typed ID
// masks, the vfio-ap matrix, and their kernel-exact text forms.
//
// What it is
//   The vocabulary of drivers/s390/crypto (ap_bus, vfio_ap) as C++ types:
//
//     apid, apqi, cdom       adapter, usage-domain and control-domain IDs
//                            (0..255): distinct types, never mixed up
//     apqn                   AP queue number (AP_MKQID(card, queue)),
//                            text form "xx.yyyy"
//     adapter_mask (apm)     256-ID masks in the kernel's MSB-0 layout (ID n
//     domain_mask (aqm)      is word n/64, bit 63 - n%64; set_bit_inv), each
//     control_domain_mask    indexed only by its own ID type
//       (adm)
//     ap_config_info         the host configuration (PQAP(QCI)): apxa, na,
//       (= host_config)      nd, apm, aqm, adm
//     ap_matrix              struct ap_matrix: the three masks and their
//                            maxima (vfio_ap_matrix_init)
//     apqns(apm, aqm)        apm x aqm as APQNs, adapter-major (the kernel's
//                            nested for_each_set_bit_inv loops)
//
//   and the kernel's parsing and formatting, byte for byte:
//
//     parse_ulong            kstrtoul(buf, 0, &v)            (ref. §2.0)
//     parse_id               kstrtoul + "id > max" -> ENODEV (§2.1 steps 1-2)
//     id_mask::parse_hex     ap_hex2bitmap into a cleared mask (§2.9)
//     id_mask::parse_update  ap_parse_bitmap_str: a hex mask, or a relative
//                            "+N,-N-M" edit of the current mask
//                            (/sys/bus/ap/apmask, aqmask)
//     parse_ap_config        ap_config_store's parsing (§2.9)
//     format_matrix          vfio_ap_mdev_matrix_show (§2.8), PAGE_SIZE cap
//     format_control_domains control_domains_show (§2.7)
//     format_ap_config       ap_config_show (§2.9), 201 bytes
//     id_mask::to_string     "0x" + 64 lowercase hex digits (apmask_show
//                            without its newline)
//
//   Errors are std::error_code values of std::errc whose value is the
//   kernel's errno: EINVAL (invalid_argument), ERANGE (result_out_of_range),
//   ENODEV (no_such_device). The "section" references are to
//   docs/vfio-ap-model.md.
//
// When not to use it
//   For generic bit sets use ordo::bitmap<N> (bitmap.hpp); these types exist
//   to make an adapter mask and a domain mask different types.
//
// Thread-safety contract
//   Plain value types: concurrent const access is safe, writes need
//   exclusive access (the vfio-ap model keeps them under mdevs_lock). The
//   free functions are pure and thread-safe.
//
// Memory ordering
//   None: nothing here is atomic.
//
// Invariants
//   I1  An ID is 8 bits, so every ID indexes a 256-ID mask in range: a mask
//       operation never reads or writes outside its four words.
//   I2  A mask of one kind is never combined with, assigned from, compared
//       with or indexed by another kind (compile error, see Misuse).
//   I3  Parsers never throw, never read past the given string_view, stop at
//       the first NUL byte (the kernel sees a C string), and leave nothing
//       half-done: on error the result's value is the empty mask / 0 and the
//       caller's state is untouched.
//   I4  Formatters produce exactly the kernel's bytes (lowercase hex;
//       format_matrix is capped at 4095 bytes like sysfs_emit_at into a
//       4096-byte page: the line that crosses the cap is cut, later lines are
//       dropped).
//   I5  Iterating a mask visits its IDs in ascending order
//       (for_each_set_bit_inv).
//
// Misuse
//   compile error  apm & aqm, apm == adm, apm = aqm, adapter_mask(aqm),
//                  apm.set(apqi{3}), apm.test(7) (a raw number): "ordo: ap: ...".
//                  apid{256}: narrowing error. A range into a temporary
//                  ((apm & x).up_to(max), apqns(apm & x, aqm)): deleted
//                  overload (it would dangle).
//   runtime report none: bad text is an error_code, not a report.
//   undefined      none.
//
// Example (from examples/ap_matrix.cpp)
//   namespace ap = ordo::ap;
//   int assign_adapter(ap::ap_matrix& m, std::string_view buf) {
//     auto [id, error] = ap::parse_id(buf, m.apm_max);  // EINVAL/ERANGE/ENODEV
//     if (error) return -error.value();
//     m.apm.set(id);
//     return static_cast<int>(buf.size());
//   }
//   ap::ap_matrix matrix(host);                  // vfio_ap_matrix_init
//   assign_adapter(matrix, "0x07\n");
//   ap::ap_matrix shadow(host);
//   shadow.apm = matrix.apm & host.apm;          // matrix.apm & host.aqm: compile error
//   shadow.aqm = matrix.aqm & host.aqm;
//   for (ap::apqn q : shadow.apqns()) plug(q);  // adapter-major, ascending
//   std::string text = ap::format_matrix(shadow);  // "05.0004\n05.0047\n"
#ifndef ORDO_AP_HPP
#define ORDO_AP_HPP

#include <ordo/detail/config.hpp>

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "ordo/bitmap.hpp"

namespace ordo::ap {

/// Number of adapter IDs and of domain IDs (AP_DEVICES, AP_DOMAINS).
inline constexpr std::size_t max_ids = 256;

// ---------------------------------------------------------------------------
// IDs

/// An adapter (card) ID, 0..255. Construct from a std::uint8_t
/// (apid{5}); a wider number goes through parse_id or a checked cast.
class apid {
 public:
  constexpr apid() noexcept = default;
  /// The ID `value`.
  constexpr explicit apid(std::uint8_t value) noexcept : value_(value) {}
  /// The ID as a number.
  [[nodiscard]] constexpr std::uint8_t value() const noexcept { return value_; }
  /// IDs order by number.
  friend constexpr auto operator<=>(const apid&, const apid&) noexcept = default;

 private:
  std::uint8_t value_ = 0;
};

/// A usage-domain (queue index) ID, 0..255.
class apqi {
 public:
  constexpr apqi() noexcept = default;
  /// The ID `value`.
  constexpr explicit apqi(std::uint8_t value) noexcept : value_(value) {}
  /// The ID as a number.
  [[nodiscard]] constexpr std::uint8_t value() const noexcept { return value_; }
  /// IDs order by number.
  friend constexpr auto operator<=>(const apqi&, const apqi&) noexcept = default;

 private:
  std::uint8_t value_ = 0;
};

/// A control-domain ID, 0..255. The same number space as apqi, but a
/// different role: control domains may be shared and host-reserved, usage
/// domains may not, so the two are kept apart. Convert explicitly:
/// cdom{q.value()}.
class cdom {
 public:
  constexpr cdom() noexcept = default;
  /// The ID `value`.
  constexpr explicit cdom(std::uint8_t value) noexcept : value_(value) {}
  /// The ID as a number.
  [[nodiscard]] constexpr std::uint8_t value() const noexcept { return value_; }
  /// IDs order by number.
  friend constexpr auto operator<=>(const cdom&, const cdom&) noexcept = default;

 private:
  std::uint8_t value_ = 0;
};

/// AP_MKQID(card, queue) = ((card & 0xff) << 8) | (queue & 0xff).
[[nodiscard]] constexpr std::uint32_t mkqid(std::uint32_t card, std::uint32_t queue) noexcept {
  return ((card & 0xff) << 8) | (queue & 0xff);
}

/// An AP queue number: (apid, apqi), the kernel's ap_qid_t. Orders by qid,
/// i.e. adapter first, then domain (the order of the matrix attribute).
class apqn {
 public:
  constexpr apqn() noexcept = default;
  /// The queue `queue` of adapter `card`: AP_MKQID(card, queue).
  constexpr apqn(apid card, apqi queue) noexcept
      : qid_(static_cast<std::uint16_t>(mkqid(card.value(), queue.value()))) {}
  /// From an ap_qid_t: AP_QID_CARD / AP_QID_QUEUE keep 8 bits each.
  [[nodiscard]] static constexpr apqn from_qid(std::uint32_t qid) noexcept {
    return apqn(apid(static_cast<std::uint8_t>((qid >> 8) & 0xff)),
                apqi(static_cast<std::uint8_t>(qid & 0xff)));
  }
  /// AP_MKQID(card, queue).
  [[nodiscard]] constexpr std::uint32_t qid() const noexcept { return qid_; }
  /// AP_QID_CARD(qid).
  [[nodiscard]] constexpr apid card() const noexcept {
    return apid(static_cast<std::uint8_t>(qid_ >> 8));
  }
  /// AP_QID_QUEUE(qid).
  [[nodiscard]] constexpr apqi queue() const noexcept {
    return apqi(static_cast<std::uint8_t>(qid_ & 0xff));
  }
  /// "%02x.%04x": "05.00ab", the queue device name.
  [[nodiscard]] std::string to_string() const;
  /// Appends to_string()'s seven characters to `out`.
  void append_to(std::string& out) const;
  /// Orders by qid: adapter first, then domain.
  friend constexpr auto operator<=>(const apqn&, const apqn&) noexcept = default;

 private:
  std::uint16_t qid_ = 0;
};

// ---------------------------------------------------------------------------
// Parse results

/// The result of a parser: a value, or an error_code (then value is the
/// default value, I3). `if (auto r = parse...(text))` tests for success;
/// `auto [value, error] = parse...(text)` unpacks it.
template <class T>
struct parse_result {
  /// The parsed value; the default value when `error` is set.
  T value{};
  /// Empty on success; the kernel's errno otherwise.
  std::error_code error;

  /// True when the parse succeeded.
  [[nodiscard]] constexpr bool ok() const noexcept { return !error; }
  /// True when the parse succeeded.
  constexpr explicit operator bool() const noexcept { return !error; }
};

namespace detail {

template <class T>
inline constexpr bool dependent_false_v = false;

template <class Id>
inline constexpr bool is_ap_id_v =
    std::is_same_v<Id, apid> || std::is_same_v<Id, apqi> || std::is_same_v<Id, cdom>;

// I2: a mask is indexed only by its own ID type.
template <class MaskId, class Index>
constexpr void require_own_id() noexcept {
  static_assert(std::is_same_v<MaskId, Index>,
                "ordo: ap: a mask is indexed only by its own ID type: adapter_mask by apid, "
                "domain_mask by apqi, control_domain_mask by cdom (no raw numbers, no other "
                "kind)");
}

// I2: two masks in one operation must be of one kind.
template <class A, class B>
constexpr void require_same_kind() noexcept {
  static_assert(std::is_same_v<A, B>,
                "ordo: ap: cannot mix mask kinds (adapter_mask / domain_mask / "
                "control_domain_mask) in one operation; convert explicitly through bits()");
}

[[nodiscard]] constexpr bool is_xdigit(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
// Value of a character as a digit of any base up to 16, or 16 if none.
[[nodiscard]] constexpr unsigned digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
  return 16;
}
[[nodiscard]] constexpr char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// The kernel sees a NUL-terminated buffer: the text ends at the first NUL.
[[nodiscard]] constexpr std::string_view c_string(std::string_view text) noexcept {
  const std::size_t nul = text.find('\0');
  return nul == std::string_view::npos ? text : text.substr(0, nul);
}

// A reader of a C string that returns '\0' past its end (the kernel's
// terminator), so the kernel's "s[1]", "s[2]" look-aheads are never out of
// bounds (I3).
class cursor {
 public:
  constexpr explicit cursor(std::string_view text) noexcept : text_(text) {}
  [[nodiscard]] constexpr char at(std::size_t ahead = 0) const noexcept {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  constexpr void skip(std::size_t n = 1) noexcept { pos_ += n; }
  [[nodiscard]] constexpr std::size_t pos() const noexcept { return pos_; }
  [[nodiscard]] constexpr bool done() const noexcept { return pos_ >= text_.size(); }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// _parse_integer_fixup_radix with base 0: "0x"+hex digit -> 16 (prefix
// skipped), other leading '0' -> 8 (the 0 is parsed as a digit), else 10.
constexpr unsigned fixup_radix(cursor& in) noexcept {
  if (in.at() == '0') {
    if (to_lower(in.at(1)) == 'x' && is_xdigit(in.at(2))) {
      in.skip(2);
      return 16;
    }
    return 8;
  }
  return 10;
}

struct digits {
  std::uint64_t value = 0;  // modulo 2^64 (simple_strtoul wraps)
  std::size_t count = 0;
  bool overflow = false;
};

// _parse_integer: as many digits of `base` as there are.
constexpr digits parse_digits(cursor& in, unsigned base) noexcept {
  digits result;
  while (true) {
    const unsigned d = digit_value(in.at());
    if (d >= base) break;
    if (result.value > (~std::uint64_t{0} - d) / base) result.overflow = true;
    result.value = result.value * base + d;  // unsigned: wraps, defined
    ++result.count;
    in.skip();
  }
  return result;
}

// kstrtoul(s, 0, &v) (lib/kstrtox.c), errno as std::errc.
constexpr std::errc kstrtoul(std::string_view text, std::uint64_t& value) noexcept {
  cursor in(c_string(text));
  if (in.at() == '+') in.skip();
  const unsigned base = fixup_radix(in);
  const digits parsed = parse_digits(in, base);
  if (parsed.overflow) return std::errc::result_out_of_range;
  if (parsed.count == 0) return std::errc::invalid_argument;
  if (in.at() == '\n') in.skip();
  if (!in.done()) return std::errc::invalid_argument;
  value = parsed.value;
  return std::errc{};
}

// ap_hex2bitmap(str, bits, 256) on an all-zero bitmap.
constexpr std::errc hex2bitmap(std::string_view text, bitmap<max_ids>& bits) noexcept {
  cursor in(text);
  if (in.at() == '0' && in.at(1) == 'x') in.skip();
  if (in.at() == 'x') in.skip();
  std::size_t bit = 0;
  for (; is_xdigit(in.at()) && bit < max_ids; in.skip(), bit += 4) {
    const unsigned nibble = digit_value(in.at());
    for (unsigned n = 0; n < 4; ++n) {
      if ((nibble & (0x8u >> n)) != 0) bits.set_inv(bit + n);
    }
  }
  if (in.at() == '\n') in.skip();
  if (!in.done()) return std::errc::invalid_argument;
  return std::errc{};
}

// modify_bitmap(str, bits, 256): "+a[-z]" sets, "-a[-z]" clears, terms
// separated by any run of ',' and '\n'. Numbers are simple_strtoul base 0
// (no '+', wraps on overflow).
constexpr std::errc modify_bitmap(std::string_view text, bitmap<max_ids>& bits) noexcept {
  cursor in(text);
  while (!in.done()) {
    const char sign = in.at();
    in.skip();
    if (sign != '+' && sign != '-') return std::errc::invalid_argument;
    unsigned base = fixup_radix(in);
    const digits first = parse_digits(in, base);
    if (first.count == 0 || first.value >= max_ids) return std::errc::invalid_argument;
    std::uint64_t last = first.value;
    if (in.at() == '-') {
      in.skip();
      base = fixup_radix(in);
      const digits second = parse_digits(in, base);
      if (second.count == 0 || first.value > second.value || second.value >= max_ids) {
        return std::errc::invalid_argument;
      }
      last = second.value;
    }
    for (std::uint64_t id = first.value; id <= last; ++id) {
      if (sign == '+') {
        bits.set_inv(static_cast<std::size_t>(id));
      } else {
        bits.clear_inv(static_cast<std::size_t>(id));
      }
    }
    while (in.at() == ',' || in.at() == '\n') in.skip();
  }
  return std::errc{};
}

[[nodiscard]] inline std::error_code to_error_code(std::errc e) noexcept {
  return e == std::errc{} ? std::error_code{} : std::make_error_code(e);
}

inline constexpr char hex_digits[] = "0123456789abcdef";

// Appends `value` as exactly `width` lowercase hex digits ("%0<width>x" for a
// value that fits).
inline void append_hex(std::string& out, std::uint64_t value, int width) {
  // Into a buffer, then one append: a show of ap_config is 192 digits.
  char digits[16];
  const int n = width < 0 ? 0 : (width > 16 ? 16 : width);
  for (int i = n - 1; i >= 0; --i, value >>= 4) digits[i] = hex_digits[value & 0xf];
  out.append(digits, static_cast<std::size_t>(n));
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Typed masks

template <class Id>
class id_mask;

/// An adapter mask (apm), indexed by apid.
using adapter_mask = id_mask<apid>;
/// A usage-domain mask (aqm), indexed by apqi.
using domain_mask = id_mask<apqi>;
/// A control-domain mask (adm), indexed by cdom.
using control_domain_mask = id_mask<cdom>;

/// Ascending iterator over the IDs of an id_mask (I5).
template <class Id>
class id_iterator {
 public:
  /// An AP ID type.
  using value_type = Id;
  /// Iterators of one mask are ptrdiff_t apart.
  using difference_type = std::ptrdiff_t;
  /// A forward iterator.
  using iterator_concept = std::forward_iterator_tag;
  /// A forward iterator.
  using iterator_category = std::forward_iterator_tag;

  constexpr id_iterator() noexcept = default;
  /// An iterator at the set bit `it` points to.
  constexpr explicit id_iterator(ordo::detail::set_bit_iterator<bit_numbering::msb0> it) noexcept
      : it_(it) {}
  /// The ID at the current position.
  [[nodiscard]] constexpr Id operator*() const noexcept {
    return Id(static_cast<std::uint8_t>(*it_));
  }
  /// Moves to the next larger ID.
  constexpr id_iterator& operator++() noexcept {
    ++it_;
    return *this;
  }
  /// Moves to the next larger ID; returns the position before.
  constexpr id_iterator operator++(int) noexcept {
    id_iterator before = *this;
    ++it_;
    return before;
  }
  /// True when past the last ID.
  [[nodiscard]] friend constexpr bool operator==(const id_iterator& a,
                                                 std::default_sentinel_t s) noexcept {
    return a.it_ == s;
  }
  /// Two iterators are equal at the same position of the same mask.
  [[nodiscard]] friend constexpr bool operator==(const id_iterator&,
                                                 const id_iterator&) noexcept = default;

 private:
  ordo::detail::set_bit_iterator<bit_numbering::msb0> it_;
};

/// The IDs of a mask up to an inclusive maximum, ascending: the kernel's
/// for_each_set_bit_inv(id, mask, max + 1). Points into the mask.
template <class Id>
class id_range {
 public:
  /// The IDs of `bits` below `limit`.
  constexpr id_range(const bitmap<max_ids>& bits, std::size_t limit) noexcept
      : bits_(&bits), limit_(limit) {}
  /// The smallest ID in the range.
  [[nodiscard]] constexpr id_iterator<Id> begin() const noexcept {
    return id_iterator<Id>(bits_->ones_inv(limit_).begin());
  }
  /// The end of the range.
  [[nodiscard]] constexpr std::default_sentinel_t end() const noexcept { return {}; }

 private:
  const bitmap<max_ids>* bits_;
  std::size_t limit_;
};

/// A set of AP IDs of one kind in the kernel's 256-bit MSB-0 layout: ID n
/// is bit 63 - n%64 of word n/64. Only its own ID type indexes it, and only
/// a mask of the same kind combines with it (I2). Iterating yields Id values
/// in ascending order. Not thread-safe (a plain value).
template <class Id>
class id_mask {
  static_assert(detail::is_ap_id_v<Id>, "ordo: ap: id_mask<Id> needs Id = apid, apqi or cdom");

 public:
  /// The ID type that indexes the mask.
  using id_type = Id;
  /// The bitmap underneath (MSB-0).
  using bits_type = bitmap<max_ids>;
  /// The mask as four 64-bit words.
  using words_type = bits_type::words_type;

  /// The empty mask.
  constexpr id_mask() noexcept = default;
  /// A mask with exactly the bits of `bits` (MSB-0: bit n is ID n).
  constexpr explicit id_mask(const bits_type& bits) noexcept : bits_(bits) {}

  /// Another kind of mask does not convert (I2): compile error.
  template <class Other>
    requires(!std::is_same_v<Other, Id>)
  constexpr id_mask(const id_mask<Other>&) noexcept {  // NOLINT: implicit on purpose
    detail::require_same_kind<Id, Other>();
  }
  /// Copies a mask of the same kind.
  constexpr id_mask(const id_mask&) noexcept = default;
  /// Assigns a mask of the same kind.
  constexpr id_mask& operator=(const id_mask&) noexcept = default;
  /// Assigning another kind of mask (I2): compile error.
  template <class Other>
    requires(!std::is_same_v<Other, Id>)
  constexpr id_mask& operator=(const id_mask<Other>&) noexcept {
    detail::require_same_kind<Id, Other>();
    return *this;
  }

  /// The mask holding exactly `ids`: adapter_mask::of(apid{1}, apid{5}).
  template <class... Ids>
  [[nodiscard]] static constexpr id_mask of(Ids... ids) noexcept {
    (detail::require_own_id<Id, Ids>(), ...);
    id_mask result;
    if constexpr ((std::is_same_v<Ids, Id> && ...)) (result.bits_.set_inv(ids.value()), ...);
    return result;
  }
  /// The mask whose words are `words` (word 0 holds IDs 0..63, ID 0 in its
  /// most significant bit), as the kernel's `unsigned long[4]`.
  [[nodiscard]] static constexpr id_mask from_words(const words_type& words) noexcept {
    return id_mask(bits_type::from_words(words));
  }
  /// The mask from ap_config_info's `unsigned int[8]` (big-endian 32-bit
  /// words, as PQAP(QCI) stores them): word k = w32[2k] << 32 | w32[2k+1].
  [[nodiscard]] static constexpr id_mask from_qci_words(
      const std::array<std::uint32_t, 8>& w32) noexcept {
    words_type words{};
    for (std::size_t k = 0; k < words.size(); ++k) {
      words[k] = (std::uint64_t{w32[2 * k]} << 32) | w32[2 * k + 1];
    }
    return from_words(words);
  }
  /// Every ID 0..255.
  [[nodiscard]] static constexpr id_mask all() noexcept {
    id_mask result;
    result.bits_.fill();
    return result;
  }

  /// The underlying bitmap (MSB-0), for kind-free bit work.
  [[nodiscard]] constexpr const bits_type& bits() const noexcept { return bits_; }
  /// The four storage words.
  [[nodiscard]] constexpr const words_type& words() const noexcept { return bits_.words(); }

  /// Is `id` in the mask (test_bit_inv)? `I` must be Id (I2).
  template <class I>
  [[nodiscard]] constexpr bool test(I id) const noexcept {
    detail::require_own_id<Id, I>();
    if constexpr (std::is_same_v<I, Id>) {
      return bits_.test_inv(id.value());
    } else {
      return false;
    }
  }
  /// Adds `id` (set_bit_inv). Returns *this.
  template <class I>
  constexpr id_mask& set(I id) noexcept {
    detail::require_own_id<Id, I>();
    if constexpr (std::is_same_v<I, Id>) bits_.set_inv(id.value());
    return *this;
  }
  /// Removes `id` (clear_bit_inv). Returns *this.
  template <class I>
  constexpr id_mask& clear(I id) noexcept {
    detail::require_own_id<Id, I>();
    if constexpr (std::is_same_v<I, Id>) bits_.clear_inv(id.value());
    return *this;
  }
  /// Adds `id`; returns whether it was there before.
  template <class I>
  constexpr bool test_and_set(I id) noexcept {
    detail::require_own_id<Id, I>();
    if constexpr (std::is_same_v<I, Id>) {
      return bits_.test_and_set_inv(id.value());
    } else {
      return false;
    }
  }
  /// Removes `id`; returns whether it was there before
  /// (test_and_clear_bit_inv).
  template <class I>
  constexpr bool test_and_clear(I id) noexcept {
    detail::require_own_id<Id, I>();
    if constexpr (std::is_same_v<I, Id>) {
      return bits_.test_and_clear_inv(id.value());
    } else {
      return false;
    }
  }

  /// No ID set (bitmap_empty).
  [[nodiscard]] constexpr bool empty() const noexcept { return bits_.empty(); }
  /// Number of IDs (bitmap_weight).
  [[nodiscard]] constexpr std::size_t weight() const noexcept { return bits_.weight(); }
  /// Removes every ID (bitmap_zero). Returns *this.
  constexpr id_mask& zero() noexcept {
    bits_.zero();
    return *this;
  }
  /// Adds every ID 0..255 (bitmap_fill). Returns *this.
  constexpr id_mask& fill() noexcept {
    bits_.fill();
    return *this;
  }

  /// The lowest ID, if any (find_first_bit_inv).
  [[nodiscard]] constexpr std::optional<Id> first() const noexcept {
    return to_id(bits_.find_first_inv());
  }
  /// The lowest ID greater than `after`, if any (find_next_bit_inv).
  template <class I>
  [[nodiscard]] constexpr std::optional<Id> next(I after) const noexcept {
    detail::require_own_id<Id, I>();
    if constexpr (std::is_same_v<I, Id>) {
      return to_id(bits_.find_next_inv(std::size_t{after.value()} + 1));
    } else {
      return std::nullopt;
    }
  }
  /// The highest ID, if any.
  [[nodiscard]] constexpr std::optional<Id> last() const noexcept {
    for (std::size_t w = bits_type::word_count; w-- > 0;) {
      if (const std::uint64_t word = bits_.words()[w]; word != 0) {
        return Id(static_cast<std::uint8_t>(w * 64 + 63 -
                                            static_cast<std::size_t>(std::countr_zero(word))));
      }
    }
    return std::nullopt;
  }
  /// Is any ID above `max` set? (ap_matrix_overflow_check's test.)
  template <class I>
  [[nodiscard]] constexpr bool any_above(I max) const noexcept {
    detail::require_own_id<Id, I>();
    if constexpr (std::is_same_v<I, Id>) {
      return bits_.find_next_inv(std::size_t{max.value()} + 1) < max_ids;
    } else {
      return false;
    }
  }

  /// Ascending iteration over all IDs (I5): for (apid a : apm).
  [[nodiscard]] constexpr id_iterator<Id> begin() const noexcept {
    return id_iterator<Id>(bits_.ones_inv().begin());
  }
  /// The end of the iteration.
  [[nodiscard]] constexpr std::default_sentinel_t end() const noexcept { return {}; }
  /// The IDs <= max, ascending: for_each_set_bit_inv(id, mask, max + 1).
  template <class I>
  [[nodiscard]] constexpr id_range<Id> up_to(I max) const& noexcept {
    detail::require_own_id<Id, I>();
    if constexpr (std::is_same_v<I, Id>) {
      return id_range<Id>(bits_, std::size_t{max.value()} + 1);
    } else {
      return id_range<Id>(bits_, 0);
    }
  }
  /// Deleted: the range points into the mask, a temporary would dangle
  /// (name the mask first: `const auto usable = apm & host.apm;`).
  template <class I>
  void up_to(I max) const&& = delete;

  /// The IDs of *this not in `other` (bitmap_andnot). Same kind only (I2).
  template <class Other>
  [[nodiscard]] constexpr id_mask andnot(const id_mask<Other>& other) const noexcept {
    detail::require_same_kind<Id, Other>();
    return id_mask(bits_.andnot(other.bits()));
  }
  /// Is every ID of *this in `other` (bitmap_subset)? Same kind only (I2).
  template <class Other>
  [[nodiscard]] constexpr bool is_subset_of(const id_mask<Other>& other) const noexcept {
    detail::require_same_kind<Id, Other>();
    return bits_.is_subset_of(other.bits());
  }
  /// Do the masks share an ID (bitmap_intersects)? Same kind only (I2).
  template <class Other>
  [[nodiscard]] constexpr bool intersects(const id_mask<Other>& other) const noexcept {
    detail::require_same_kind<Id, Other>();
    return bits_.intersects(other.bits());
  }

  /// Keeps only the IDs that are also in `other` (same kind only, I2).
  template <class Other>
  constexpr id_mask& operator&=(const id_mask<Other>& other) noexcept {
    detail::require_same_kind<Id, Other>();
    bits_ &= other.bits();
    return *this;
  }
  /// Adds the IDs of `other` (same kind only, I2).
  template <class Other>
  constexpr id_mask& operator|=(const id_mask<Other>& other) noexcept {
    detail::require_same_kind<Id, Other>();
    bits_ |= other.bits();
    return *this;
  }
  /// Keeps the IDs that are in exactly one of the two masks (same kind only, I2).
  template <class Other>
  constexpr id_mask& operator^=(const id_mask<Other>& other) noexcept {
    detail::require_same_kind<Id, Other>();
    bits_ ^= other.bits();
    return *this;
  }
  /// Every ID not in the mask.
  [[nodiscard]] constexpr id_mask operator~() const noexcept { return id_mask(~bits_); }

  /// "0x" + 64 lowercase hex digits, words 0..3 (apmask_show, ap_config_show
  /// fields, without separator). ID 0 is the leftmost bit.
  [[nodiscard]] std::string to_string() const {
    std::string out;
    out.reserve(2 + 64);
    append_to(out);
    return out;
  }
  /// Appends to_string() to `out`.
  void append_to(std::string& out) const {
    out += "0x";
    for (std::uint64_t word : bits_.words()) detail::append_hex(out, word, 16);
  }

  /// ap_hex2bitmap into an empty mask: optional "0x" (or "x"), hex digits
  /// most significant first (ID 0 is the top bit of the first digit), a
  /// short string padded with zeros on the right, at most 64 digits, one
  /// optional '\n'. Zero digits give the empty mask. Any other byte, or a
  /// 65th digit: EINVAL. Never throws (I3).
  [[nodiscard]] static parse_result<id_mask> parse_hex(std::string_view text) noexcept {
    bits_type bits;
    if (const std::errc e = detail::hex2bitmap(detail::c_string(text), bits); e != std::errc{}) {
      return {id_mask{}, detail::to_error_code(e)};
    }
    return {id_mask(bits), {}};
  }
  /// ap_parse_bitmap_str: text starting with '+' or '-' edits `current`
  /// ("+0-15,+32,-0x80": '+' adds, '-' removes, a-z is a range, numbers in
  /// kstrtoul base-0 form, terms separated by ',' or '\n', the last term
  /// wins); anything else is parse_hex. Errors: EINVAL (bad term, ID > 255,
  /// a > z). `current` is never changed (I3).
  [[nodiscard]] static parse_result<id_mask> parse_update(std::string_view text,
                                                          const id_mask& current) noexcept {
    const std::string_view s = detail::c_string(text);
    if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
      bits_type bits = current.bits_;
      if (const std::errc e = detail::modify_bitmap(s, bits); e != std::errc{}) {
        return {id_mask{}, detail::to_error_code(e)};
      }
      return {id_mask(bits), {}};
    }
    return parse_hex(s);
  }

 private:
  [[nodiscard]] static constexpr std::optional<Id> to_id(std::size_t n) noexcept {
    if (n >= max_ids) return std::nullopt;
    return Id(static_cast<std::uint8_t>(n));
  }

  bits_type bits_;
};

/// Mask intersection. Same kind only (I2).
template <class A, class B>
[[nodiscard]] constexpr id_mask<A> operator&(id_mask<A> a, const id_mask<B>& b) noexcept {
  detail::require_same_kind<A, B>();
  return id_mask<A>(a.bits() & b.bits());
}
/// Mask union. Same kind only (I2).
template <class A, class B>
[[nodiscard]] constexpr id_mask<A> operator|(id_mask<A> a, const id_mask<B>& b) noexcept {
  detail::require_same_kind<A, B>();
  return id_mask<A>(a.bits() | b.bits());
}
/// Symmetric difference. Same kind only (I2).
template <class A, class B>
[[nodiscard]] constexpr id_mask<A> operator^(id_mask<A> a, const id_mask<B>& b) noexcept {
  detail::require_same_kind<A, B>();
  return id_mask<A>(a.bits() ^ b.bits());
}
/// Same IDs (bitmap_equal). Same kind only (I2).
template <class A, class B>
[[nodiscard]] constexpr bool operator==(const id_mask<A>& a, const id_mask<B>& b) noexcept {
  detail::require_same_kind<A, B>();
  return a.bits() == b.bits();
}
/// a & ~b as a free function (bitmap_andnot). Same kind only (I2).
template <class A, class B>
[[nodiscard]] constexpr id_mask<A> andnot(const id_mask<A>& a, const id_mask<B>& b) noexcept {
  return a.andnot(b);
}

/// Forward iterator over apm x aqm as APQNs, adapter-major, both ascending
/// (the order of the kernel's nested for_each_set_bit_inv loops).
class apqn_iterator {
 public:
  /// An APQN.
  using value_type = apqn;
  /// Iterators of one range are ptrdiff_t apart.
  using difference_type = std::ptrdiff_t;
  /// A forward iterator.
  using iterator_concept = std::forward_iterator_tag;
  /// A forward iterator.
  using iterator_category = std::forward_iterator_tag;

  constexpr apqn_iterator() noexcept = default;
  /// The first APQN of apm x aqm (at the end when either is empty).
  constexpr apqn_iterator(const adapter_mask& apm, const domain_mask& aqm) noexcept
      : aqm_(&aqm), card_(apm.begin()), queue_(aqm.begin()) {
    if (queue_ == std::default_sentinel) card_ = id_iterator<apid>();  // no domains: no APQN
  }
  /// The current APQN.
  [[nodiscard]] constexpr apqn operator*() const noexcept { return apqn(*card_, *queue_); }
  /// Moves to the next APQN, adapter-major.
  constexpr apqn_iterator& operator++() noexcept {
    if (++queue_ == std::default_sentinel) {
      ++card_;
      queue_ = aqm_->begin();
    }
    return *this;
  }
  /// Moves to the next APQN; returns the position before.
  constexpr apqn_iterator operator++(int) noexcept {
    apqn_iterator before = *this;
    ++*this;
    return before;
  }
  /// True when past the last APQN.
  [[nodiscard]] friend constexpr bool operator==(const apqn_iterator& it,
                                                 std::default_sentinel_t s) noexcept {
    return it.card_ == s;
  }
  /// Two iterators are equal at the same position.
  [[nodiscard]] friend constexpr bool operator==(const apqn_iterator&,
                                                 const apqn_iterator&) noexcept = default;

 private:
  const domain_mask* aqm_ = nullptr;
  id_iterator<apid> card_;  // a default id_iterator is already at its end
  id_iterator<apqi> queue_;
};

/// The APQNs of apm x aqm, adapter-major: for (apqn q : apqns(m.apm, m.aqm)).
/// Points into both masks.
class apqn_range {
 public:
  /// The APQNs of `apm` x `aqm`; points into both.
  constexpr apqn_range(const adapter_mask& apm, const domain_mask& aqm) noexcept
      : apm_(&apm), aqm_(&aqm) {}
  /// The first APQN.
  [[nodiscard]] constexpr apqn_iterator begin() const noexcept { return {*apm_, *aqm_}; }
  /// The end of the range.
  [[nodiscard]] constexpr std::default_sentinel_t end() const noexcept { return {}; }

 private:
  const adapter_mask* apm_;
  const domain_mask* aqm_;
};

/// Every APQN (a, q) with a in apm and q in aqm, adapter-major.
[[nodiscard]] constexpr apqn_range apqns(const adapter_mask& apm, const domain_mask& aqm) noexcept {
  return {apm, aqm};
}
/// Deleted for temporaries: the range points into the masks.
void apqns(adapter_mask&&, const domain_mask&) = delete;
void apqns(const adapter_mask&, domain_mask&&) = delete;

// ---------------------------------------------------------------------------
// Host configuration and the matrix

/// struct ap_config_info (asm/ap.h), as PQAP(QCI) reports it: facility
/// flags, the maximum adapter and domain IDs, and the configured masks.
/// All zero when QCI is not available.
struct ap_config_info {
  /// APSC facility bit.
  bool apsc = false;
  bool apxa = false;  ///< N bit: na/nd are valid, 256-ID masks
  /// QACT facility bit.
  bool qact = false;
  /// RC8A facility bit.
  bool rc8a = false;
  /// APSB facility bit.
  bool apsb = false;
  std::uint8_t na = 0;  ///< maximum adapter ID
  std::uint8_t nd = 0;  ///< maximum domain ID
  /// The configured adapters.
  adapter_mask apm;
  /// The configured usage domains.
  domain_mask aqm;
  /// The configured control domains.
  control_domain_mask adm;

  /// Member-wise equality.
  friend constexpr bool operator==(const ap_config_info&, const ap_config_info&) noexcept = default;
};
/// The host's AP configuration (the model's name for ap_config_info).
using host_config = ap_config_info;

/// struct ap_matrix: the adapters, usage domains and control domains of an
/// mdev (or of its shadow APCB), each with its maximum ID. Default: the
/// maxima of a host without APXA (63, 15, 15) and empty masks.
struct ap_matrix {
  /// The largest assignable adapter ID.
  apid apm_max{63};
  /// The adapters.
  adapter_mask apm;
  /// The largest assignable usage domain ID.
  apqi aqm_max{15};
  /// The usage domains.
  domain_mask aqm;
  /// The largest assignable control domain ID.
  cdom adm_max{15};
  /// The control domains.
  control_domain_mask adm;

  constexpr ap_matrix() noexcept = default;
  /// vfio_ap_matrix_init: maxima from the host (apxa ? na : 63 for adapters,
  /// apxa ? nd : 15 for usage and control domains), masks empty.
  constexpr explicit ap_matrix(const host_config& info) noexcept
      : apm_max(info.apxa ? info.na : std::uint8_t{63}),
        aqm_max(info.apxa ? info.nd : std::uint8_t{15}),
        adm_max(info.apxa ? info.nd : std::uint8_t{15}) {}

  /// The APQNs of apm x aqm (all IDs, maxima not applied), adapter-major.
  [[nodiscard]] constexpr apqn_range apqns() const& noexcept { return {apm, aqm}; }
  /// Deleted: the range points into the matrix, a temporary would dangle.
  void apqns() const&& = delete;
  /// Is the queue in apm x aqm?
  [[nodiscard]] constexpr bool contains(apqn q) const noexcept {
    return apm.test(q.card()) && aqm.test(q.queue());
  }
  /// ap_matrix_overflow_check: ENODEV if any mask holds an ID above its
  /// maximum, else no error.
  [[nodiscard]] std::error_code overflow_check() const noexcept {
    if (apm.any_above(apm_max) || aqm.any_above(aqm_max) || adm.any_above(adm_max)) {
      return std::make_error_code(std::errc::no_such_device);
    }
    return {};
  }

  /// Member-wise equality.
  friend constexpr bool operator==(const ap_matrix&, const ap_matrix&) noexcept = default;
};

/// The three masks of an ap_config write.
struct ap_config_masks {
  /// The adapter mask.
  adapter_mask apm;
  /// The usage-domain mask.
  domain_mask aqm;
  /// The control-domain mask.
  control_domain_mask adm;
  /// Member-wise equality.
  friend constexpr bool operator==(const ap_config_masks&,
                                   const ap_config_masks&) noexcept = default;
};

// ---------------------------------------------------------------------------
// Parsing

/// kstrtoul(text, 0, &v) (ref. §2.0): optional '+'; "0x"/"0X" followed by a
/// hex digit selects hex, another leading '0' octal, else decimal; at least
/// one digit; one optional trailing '\n'. Any other byte (leading space,
/// '-', trailing garbage): EINVAL; more than 64 bits: ERANGE. The text ends
/// at the first NUL. Never throws (I3).
[[nodiscard]] inline parse_result<std::uint64_t> parse_ulong(std::string_view text) noexcept {
  std::uint64_t value = 0;
  if (const std::errc e = detail::kstrtoul(text, value); e != std::errc{}) {
    return {0, detail::to_error_code(e)};
  }
  return {value, {}};
}

/// The first two steps of every (un)assign_* store: parse_ulong, then
/// ENODEV when the number exceeds `max` (an Id: m.apm_max, m.aqm_max,
/// m.adm_max). The ID type follows `max`.
template <class Id>
  requires detail::is_ap_id_v<Id>
[[nodiscard]] parse_result<Id> parse_id(std::string_view text, Id max) noexcept {
  const parse_result<std::uint64_t> number = parse_ulong(text);
  if (!number) return {Id{}, number.error};
  if (number.value > max.value()) return {Id{}, std::make_error_code(std::errc::no_such_device)};
  return {Id(static_cast<std::uint8_t>(number.value)), {}};
}

/// "xx.yyyy" (the queue device name, apqn::to_string): exactly two hex
/// digits, '.', four hex digits, any case, one optional '\n'. EINVAL for any
/// other form, ERANGE for a domain above 0xff. Never throws (I3).
[[nodiscard]] inline parse_result<apqn> parse_apqn(std::string_view text) noexcept {
  detail::cursor in(detail::c_string(text));
  std::uint32_t card = 0;
  std::uint32_t queue = 0;
  for (int i = 0; i < 2; ++i, in.skip()) {
    if (!detail::is_xdigit(in.at())) return {apqn{}, std::make_error_code(std::errc::invalid_argument)};
    card = card * 16 + detail::digit_value(in.at());
  }
  if (in.at() != '.') return {apqn{}, std::make_error_code(std::errc::invalid_argument)};
  in.skip();
  for (int i = 0; i < 4; ++i, in.skip()) {
    if (!detail::is_xdigit(in.at())) return {apqn{}, std::make_error_code(std::errc::invalid_argument)};
    queue = queue * 16 + detail::digit_value(in.at());
  }
  if (in.at() == '\n') in.skip();
  if (!in.done()) return {apqn{}, std::make_error_code(std::errc::invalid_argument)};
  if (queue > 0xff) return {apqn{}, std::make_error_code(std::errc::result_out_of_range)};
  return {apqn(apid(static_cast<std::uint8_t>(card)), apqi(static_cast<std::uint8_t>(queue))), {}};
}

/// Bytes of an ap_config line: AP_CONFIG_STRLEN = 3 * (256/4 + 3) = 201.
inline constexpr std::size_t ap_config_strlen = 201;

/// ap_config_store's parsing (ref. §2.9): the text is cut to 201 bytes
/// (kstrndup; a valid field is at most 66 bytes, so the cut only ever drops
/// bytes after the third field), then three fields are taken with
/// strsep(",\n") and each is parse_hex'ed. A missing field ("A,B" without a newline) or a bad field:
/// EINVAL. An empty field is the empty mask ("A,B\n" gives adm = 0); text
/// after the third field is ignored. Never throws (I3).
[[nodiscard]] inline parse_result<ap_config_masks> parse_ap_config(std::string_view text) noexcept {
  std::string_view s = detail::c_string(text);
  if (s.size() > ap_config_strlen) s = s.substr(0, ap_config_strlen);
  // strsep(&rest, ",\n"): `rest` becomes NULL (has_rest false) once a
  // token ends at the end of the string.
  std::string_view rest = s;
  bool has_rest = true;
  ap_config_masks masks;
  bitmap<max_ids> fields[3];
  for (bitmap<max_ids>& field : fields) {
    if (!has_rest) return {{}, std::make_error_code(std::errc::invalid_argument)};
    const std::size_t end = rest.find_first_of(",\n");
    const std::string_view token = rest.substr(0, end);
    if (end == std::string_view::npos) {
      has_rest = false;
    } else {
      rest.remove_prefix(end + 1);
    }
    if (detail::hex2bitmap(token, field) != std::errc{}) {
      return {{}, std::make_error_code(std::errc::invalid_argument)};
    }
  }
  masks.apm = adapter_mask(fields[0]);
  masks.aqm = domain_mask(fields[1]);
  masks.adm = control_domain_mask(fields[2]);
  return {masks, {}};
}

// ---------------------------------------------------------------------------
// Formatting

/// sysfs_emit_at's limit: the output of a show() is at most PAGE_SIZE - 1.
inline constexpr std::size_t sysfs_show_max = 4095;

/// vfio_ap_mdev_matrix_show (ref. §2.8), for `matrix` and `guest_matrix`:
/// with adapters and domains below their maxima+1, "%02x.%04x\n" for each
/// adapter (ascending) and each domain (ascending); adapters only: "%02x.\n";
/// domains only: ".%04x\n"; neither: "". Capped at 4095 bytes like
/// sysfs_emit_at (I4).
[[nodiscard]] inline std::string format_matrix(const ap_matrix& m) {
  std::string out;
  const auto append_capped = [&out](const char* line, std::size_t length) {
    const std::size_t room = sysfs_show_max - out.size();
    out.append(line, length < room ? length : room);
    return out.size() < sysfs_show_max;
  };
  const bool adapters = m.apm.bits().find_first_inv(std::size_t{m.apm_max.value()} + 1) <=
                        m.apm_max.value();
  const bool domains = m.aqm.bits().find_first_inv(std::size_t{m.aqm_max.value()} + 1) <=
                       m.aqm_max.value();
  char line[8];
  const auto put_hex = [&line](std::size_t at, unsigned value, int width) {
    for (int i = width - 1; i >= 0; --i, value >>= 4) line[at + i] = detail::hex_digits[value & 0xf];
  };
  if (adapters && domains) {
    for (apid a : m.apm.up_to(m.apm_max)) {
      put_hex(0, a.value(), 2);
      line[2] = '.';
      line[7] = '\n';
      for (apqi q : m.aqm.up_to(m.aqm_max)) {
        put_hex(3, q.value(), 4);
        if (!append_capped(line, 8)) return out;
      }
    }
  } else if (adapters) {
    for (apid a : m.apm.up_to(m.apm_max)) {
      put_hex(0, a.value(), 2);
      line[2] = '.';
      line[3] = '\n';
      if (!append_capped(line, 4)) return out;
    }
  } else if (domains) {
    for (apqi q : m.aqm.up_to(m.aqm_max)) {
      line[0] = '.';
      put_hex(1, q.value(), 4);
      line[5] = '\n';
      if (!append_capped(line, 6)) return out;
    }
  }
  return out;
}

/// control_domains_show (ref. §2.7): "%04x\n" for each control domain
/// <= adm_max, ascending; "" when there is none.
[[nodiscard]] inline std::string format_control_domains(const ap_matrix& m) {
  std::string out;
  for (cdom d : m.adm.up_to(m.adm_max)) {
    detail::append_hex(out, d.value(), 4);
    out.push_back('\n');
  }
  return out;
}

/// ap_config_show (ref. §2.9): apm, aqm and adm as "0x" + 64 hex digits,
/// separated by ',' and ended by '\n': 201 bytes.
[[nodiscard]] inline std::string format_ap_config(const adapter_mask& apm, const domain_mask& aqm,
                                                  const control_domain_mask& adm) {
  std::string out;
  out.reserve(ap_config_strlen);
  apm.append_to(out);
  out.push_back(',');
  aqm.append_to(out);
  out.push_back(',');
  adm.append_to(out);
  out.push_back('\n');
  return out;
}
/// ap_config_show of a matrix.
[[nodiscard]] inline std::string format_ap_config(const ap_matrix& m) {
  return format_ap_config(m.apm, m.aqm, m.adm);
}

inline void apqn::append_to(std::string& out) const {
  detail::append_hex(out, card().value(), 2);
  out.push_back('.');
  detail::append_hex(out, queue().value(), 4);
}

inline std::string apqn::to_string() const {
  std::string out;
  out.reserve(7);
  append_to(out);
  return out;
}

// ---------------------------------------------------------------------------
// Printing and hashing

inline std::ostream& operator<<(std::ostream& os, apid a) { return os << "apid " << unsigned{a.value()}; }
inline std::ostream& operator<<(std::ostream& os, apqi q) { return os << "apqi " << unsigned{q.value()}; }
inline std::ostream& operator<<(std::ostream& os, cdom d) { return os << "cdom " << unsigned{d.value()}; }
inline std::ostream& operator<<(std::ostream& os, apqn q) { return os << q.to_string(); }
template <class Id>
std::ostream& operator<<(std::ostream& os, const id_mask<Id>& mask) {
  return os << mask.to_string();
}

/// Abseil hashing (absl::flat_hash_map<apqn, ...>).
template <class H>
H AbslHashValue(H h, apqn q) {
  return H::combine(std::move(h), q.qid());
}
template <class H>
H AbslHashValue(H h, apid a) {
  return H::combine(std::move(h), a.value());
}
template <class H>
H AbslHashValue(H h, apqi q) {
  return H::combine(std::move(h), q.value());
}
template <class H>
H AbslHashValue(H h, cdom d) {
  return H::combine(std::move(h), d.value());
}

}  // namespace ordo::ap

/// Hashes an APQN by its qid.
template <>
struct std::hash<ordo::ap::apqn> {
  /// The qid.
  std::size_t operator()(ordo::ap::apqn q) const noexcept { return q.qid(); }
};
/// Hashes an adapter ID by its value.
template <>
struct std::hash<ordo::ap::apid> {
  /// The ID's value.
  std::size_t operator()(ordo::ap::apid a) const noexcept { return a.value(); }
};
/// Hashes a usage-domain ID by its value.
template <>
struct std::hash<ordo::ap::apqi> {
  /// The ID's value.
  std::size_t operator()(ordo::ap::apqi q) const noexcept { return q.value(); }
};
/// Hashes a control-domain ID by its value.
template <>
struct std::hash<ordo::ap::cdom> {
  /// The ID's value.
  std::size_t operator()(ordo::ap::cdom d) const noexcept { return d.value(); }
};

#endif  // ORDO_AP_HPP
