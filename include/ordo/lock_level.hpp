// ordo/lock_level.hpp — lock levels: a declared DAG of lock classes and its
// compile-time order.
//
// What it is
//   A lock level is an empty type that names a class of locks ("every
//   guests_lock", "every kvm->lock") and lists the levels that may already be
//   held when one of its locks is taken:
//
//     struct ap_attr_level : ordo::level<> {};               // a root
//     struct guests_level  : ordo::level<ap_attr_level> {};  // after ap_attr
//     struct mdevs_level   : ordo::level<guests_level> {};   // after guests
//
//   The lock order is the transitive closure of those lists:
//   ordo::lock_before_v<ap_attr_level, mdevs_level> is true. This replaces
//   the comment at the top of a kernel file ("lock order: A -> B -> C") with
//   something the compiler checks at every acquisition (ordered_mutex.hpp).
//   ordo::rank<N> is a ready-made numeric level: rank<1> before rank<2>.
//   A level declared with ordo::nestable_level<...> may be taken while
//   another lock of the same level is held; the order between those
//   instances is checked at run time by the validator (lockdep.hpp).
//
// When not to use it
//   For a single lock that is never nested with another, a level adds
//   nothing but a name; a plain ordered_mutex<ordo::level<>>... still works,
//   but the value of levels is in declaring how locks nest.
//
// Thread-safety contract / memory ordering
//   Compile-time only: no objects, no state, nothing to order.
//
// Invariants
//   I1  lock_before_v<A, B> is true iff A is listed, directly or through a
//       chain of level<...> lists, as a predecessor of B. It is irreflexive
//       for acyclic declarations.
//   I2  The closure walk is bounded by max_level_depth steps, so a declared
//       cycle (a before b before a) terminates and is reported by
//       level_is_acyclic_v / the ordered_mutex static_assert instead of an
//       endless instantiation.
//   I3  rank<M> is before rank<N> iff M < N; ranks have no named
//       predecessors, and a named level may list a rank as a predecessor.
//
// Misuse
//   compile error  a cycle among levels used by a mutex:
//                  "ordo: lock order violation: lock levels are declared in a
//                  cycle"; a mutex over a type that is not a level:
//                  "ordo: ordered_mutex<Level>: Level must be a lock level".
//   runtime report none here.
//   undefined      none.
//
// Example
//   struct guests_level : ordo::level<> {};
//   struct mdevs_level  : ordo::level<guests_level> {};
//   static_assert(ordo::lock_before_v<guests_level, mdevs_level>);
//   static_assert(!ordo::lock_before_v<mdevs_level, guests_level>);
#ifndef ORDO_LOCK_LEVEL_HPP
#define ORDO_LOCK_LEVEL_HPP

#include <ordo/detail/config.hpp>

#include <cstddef>
#include <string_view>
#include <type_traits>

namespace ordo {
namespace detail {

template <class... T>
struct type_list {};

// A false that depends on T (for static_asserts in primary templates).
template <class T>
inline constexpr bool always_false_v = false;

// Common base of every level, so that "is a level" is a type trait.
struct level_base {};

}  // namespace detail

/// A lock level that may be taken while any of Before... (and, by
/// transitivity, anything before them) is held. Derive from it:
/// `struct kvm_level : ordo::level<guests_level> {};`. Before... may be
/// incomplete at that point (levels are only looked into when used).
template <class... Before>
struct level : detail::level_base {
  /// The levels that may be held when this level is taken.
  using before_list = detail::type_list<Before...>;
  /// Two locks of this level may not be held together except through
  /// ordo::lock_all.
  static constexpr bool nestable = false;
};

/// Like level<Before...>, but two locks of this level may be nested one by
/// one; the validator checks at run time that instances are taken in
/// ascending instance key (see ordered_mutex's key constructor).
template <class... Before>
struct nestable_level : level<Before...> {
  /// Two locks of this level may be nested in ascending key order.
  static constexpr bool nestable = true;
};

/// A numeric level: rank<M> is before rank<N> when M < N (I3).
template <unsigned N>
struct rank : level<> {
  /// The rank's number: lower ranks are taken first.
  static constexpr unsigned value = N;
};

/// Closure walks stop after this many steps (I2). Longer acyclic chains are
/// not expected in practice; a longer chain simply reads as "not before".
inline constexpr int max_level_depth = 64;

namespace detail {

template <class T>
inline constexpr bool is_rank_v = false;
template <unsigned N>
inline constexpr bool is_rank_v<rank<N>> = true;

template <class A, class B, int Depth>
struct reaches;

template <class A, class List, int Depth>
struct reaches_any;

template <class A, int Depth>
struct reaches_any<A, type_list<>, Depth> : std::false_type {};

template <class A, class First, class... Rest, int Depth>
struct reaches_any<A, type_list<First, Rest...>, Depth>
    : std::bool_constant<std::is_same_v<A, First> || reaches<A, First, Depth - 1>::value ||
                         reaches_any<A, type_list<Rest...>, Depth>::value> {};

// reaches<A, B, D>: A is a (transitive) predecessor of B within D steps.
template <class A, class B, int Depth>
struct reaches {
  static constexpr bool value = [] {
    if constexpr (Depth <= 0) {
      return false;  // I2: bounded walk
    } else if constexpr (is_rank_v<A> && is_rank_v<B>) {
      return A::value < B::value;  // I3
    } else if constexpr (is_rank_v<B>) {
      return false;  // I3: ranks have no named predecessors
    } else if constexpr (!requires { typename B::before_list; }) {
      return false;  // not a level: the mutex using it reports is_a_level
    } else {
      return reaches_any<A, typename B::before_list, Depth>::value;
    }
  }();
};

template <class L>
inline constexpr bool is_level_v =
    std::is_class_v<L> && std::is_base_of_v<level_base, L> && std::is_empty_v<L>;

// The first direct predecessor P of L that L also precedes: the other end
// of a cycle through L (used to name both levels in the diagnostic).
template <class L, class List>
struct cycle_partner_in {
  using type = void;
};
template <class L, class First, class... Rest>
struct cycle_partner_in<L, type_list<First, Rest...>> {
  using type =
      std::conditional_t<std::is_same_v<First, L> || reaches<L, First, max_level_depth>::value,
                         First, typename cycle_partner_in<L, type_list<Rest...>>::type>;
};

// The readable name of a type, taken from the compiler's pretty function
// name ("vfio::guests_level", "ordo::rank<2>"). Used by the runtime
// validator's reports.
template <class T>
constexpr std::string_view type_name() noexcept {
#if defined(__clang__)
  constexpr std::string_view pretty = __PRETTY_FUNCTION__;
  constexpr std::string_view open = "T = ";
  constexpr std::string_view close = "]";
#else
  constexpr std::string_view pretty = __PRETTY_FUNCTION__;
  constexpr std::string_view open = "T = ";
  constexpr std::string_view close = ";]";
#endif
  const std::size_t begin = pretty.find(open);
  if (begin == std::string_view::npos) return pretty;
  const std::size_t first = begin + open.size();
  std::size_t last = pretty.find_first_of(close, first);
  if (last == std::string_view::npos) last = pretty.size();
  return pretty.substr(first, last - first);
}

// type_name<T>() evaluated once, at compile time.
template <class T>
inline constexpr std::string_view type_name_v = type_name<T>();

}  // namespace detail

/// True when L is a lock level (derives from ordo::level<...> or rank<N>).
template <class L>
inline constexpr bool is_level_v = detail::is_level_v<L>;

/// True when A must be taken before B: A is in B's declared predecessors or
/// their closure (I1). False for A == B and for unrelated levels.
template <class A, class B>
inline constexpr bool lock_before_v =
    !std::is_same_v<A, B> && detail::reaches<A, B, max_level_depth>::value;

/// True when A and B may be held together in some order.
template <class A, class B>
inline constexpr bool levels_related_v = lock_before_v<A, B> || lock_before_v<B, A>;

/// True when L is declared nestable (ordo::nestable_level).
template <class L>
inline constexpr bool level_nestable_v = L::nestable;

/// False when L precedes itself: its declarations form a cycle (I2).
template <class L>
inline constexpr bool level_is_acyclic_v = !detail::reaches<L, L, max_level_depth>::value;

/// The compile-time checks behind every acquisition. Their names appear in
/// the compiler's diagnostic next to our static_assert text, which is how
/// the diagnostic names both levels: "taking<mdevs_level>::
/// while_holding<guests_level>".
namespace lock_order {

/// Checks that Level is not declared in a cycle (Partner: a level of it).
template <class Level, class Partner>
struct declared_cycle {
  /// False when Level precedes itself.
  static constexpr bool levels_are_acyclic = level_is_acyclic_v<Level>;
  /// Fails to compile (our static_assert) on a cycle; else true.
  static constexpr bool check() {
    static_assert(levels_are_acyclic,
                  "ordo: lock order violation: lock levels are declared in a cycle "
                  "(see declared_cycle<Level, Partner>: each is listed, directly or "
                  "transitively, as taken before the other)");
    return levels_are_acyclic;
  }
};

/// Checks that Level is a lock level (derives from ordo::level or is a rank).
template <class Level>
struct is_a_level {
  /// True when Level is a lock level.
  static constexpr bool value = is_level_v<Level>;
  /// Fails to compile (our static_assert) on a non-level; else true.
  static constexpr bool check() {
    static_assert(value,
                  "ordo: ordered_mutex<Level>: Level must be a lock level (derive it "
                  "from ordo::level<Before...>, or use ordo::rank<N>)");
    return value;
  }
};

/// Checks a level on first use: it is a level and it is not in a cycle.
template <class Level>
constexpr bool check_level() {
  if constexpr (!is_a_level<Level>::check()) {
    return false;
  } else {
    using partner = typename detail::cycle_partner_in<Level, typename Level::before_list>::type;
    return declared_cycle<Level, partner>::check();
  }
}

template <class Taking>
struct taking {
  /// Checks that a Taking lock may be taken while a Held lock is held.
  template <class Held>
  struct while_holding {
    /// True when Taking and Held are the same level.
    static constexpr bool same_level = std::is_same_v<Taking, Held>;
    /// False when the same, non-nestable level is taken again.
    static constexpr bool is_not_already_held = !same_level || level_nestable_v<Taking>;
    /// True when the levels are the same or one is (transitively) before the other.
    static constexpr bool is_related = same_level || levels_related_v<Taking, Held>;
    /// True when Held is before Taking, or the levels are the same or unrelated.
    static constexpr bool is_declared_after = same_level || !is_related ||
                                              lock_before_v<Held, Taking>;

    /// Fails to compile (our static_assert) on an order violation; true otherwise.
    static constexpr bool check() {
      static_assert(is_not_already_held,
                    "ordo: lock order violation: this level is already held (take "
                    "several locks of one level with ordo::lock_all, or declare the "
                    "level ordo::nestable_level)");
      static_assert(is_related,
                    "ordo: lock order violation: unrelated levels cannot be held "
                    "together (list one in the other's ordo::level<...>)");
      static_assert(is_declared_after,
                    "ordo: lock order violation: the level being taken is declared "
                    "before a level already held (wrong order)");
      return is_not_already_held && is_related && is_declared_after;
    }
  };
};

}  // namespace lock_order
}  // namespace ordo

#endif  // ORDO_LOCK_LEVEL_HPP
