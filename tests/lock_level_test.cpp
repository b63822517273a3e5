// Tests for ordo/lock_level.hpp: the declared order, its closure, ranks,
// nestable levels, bounded cycle detection and readable level names.
#include <ordo/lock_level.hpp>

#include <gtest/gtest.h>

#include <string_view>

namespace lvl {

// The vfio-ap order (docs/vfio-ap-model.md §4.1).
struct ap_attr_level : ordo::level<> {};
struct guests_level : ordo::level<ap_attr_level> {};
struct kvm_level : ordo::level<guests_level> {};
struct hook_level : ordo::level<kvm_level> {};
struct mdevs_level : ordo::level<hook_level, guests_level> {};
struct unrelated_level : ordo::level<> {};

// A declared cycle: cycle_a before cycle_b before cycle_a.
struct cycle_a;
struct cycle_b : ordo::level<cycle_a> {};
struct cycle_a : ordo::level<cycle_b> {};
// A three-level cycle hanging off a healthy root.
struct ring_root : ordo::level<> {};
struct ring_1;
struct ring_3;
struct ring_2 : ordo::level<ring_1> {};
struct ring_3 : ordo::level<ring_2> {};
struct ring_1 : ordo::level<ring_root, ring_3> {};

struct bucket_level : ordo::nestable_level<mdevs_level> {};
struct after_rank : ordo::level<ordo::rank<5>> {};

// A chain longer than max_level_depth: the walk stops and reads "not before".
template <int N>
struct chain : ordo::level<chain<N - 1>> {};
template <>
struct chain<0> : ordo::level<> {};

}  // namespace lvl

namespace {
using namespace lvl;

TEST(LockLevel, DirectPredecessorIsBefore) {
  static_assert(ordo::lock_before_v<guests_level, kvm_level>);
  static_assert(!ordo::lock_before_v<kvm_level, guests_level>);
  EXPECT_TRUE((ordo::lock_before_v<ap_attr_level, guests_level>));
}

TEST(LockLevel, OrderIsTheTransitiveClosure) {
  static_assert(ordo::lock_before_v<ap_attr_level, mdevs_level>);
  static_assert(ordo::lock_before_v<kvm_level, mdevs_level>);
  static_assert(ordo::lock_before_v<guests_level, hook_level>);
  static_assert(!ordo::lock_before_v<mdevs_level, ap_attr_level>);
  EXPECT_FALSE((ordo::lock_before_v<hook_level, kvm_level>));
}

TEST(LockLevel, OrderIsIrreflexive) {
  static_assert(!ordo::lock_before_v<guests_level, guests_level>);
  static_assert(!ordo::lock_before_v<ordo::rank<3>, ordo::rank<3>>);
  EXPECT_FALSE((ordo::lock_before_v<mdevs_level, mdevs_level>));
}

TEST(LockLevel, UnrelatedLevelsAreNeitherBeforeNorAfter) {
  static_assert(!ordo::levels_related_v<unrelated_level, guests_level>);
  static_assert(!ordo::levels_related_v<guests_level, unrelated_level>);
  static_assert(ordo::levels_related_v<mdevs_level, guests_level>);
  EXPECT_FALSE((ordo::levels_related_v<unrelated_level, mdevs_level>));
}

TEST(LockLevel, RanksAreOrderedByNumber) {
  static_assert(ordo::lock_before_v<ordo::rank<1>, ordo::rank<2>>);
  static_assert(ordo::lock_before_v<ordo::rank<1>, ordo::rank<1000000>>);
  static_assert(!ordo::lock_before_v<ordo::rank<7>, ordo::rank<3>>);
  // A named level after rank<5> is after every smaller rank too, but no
  // rank is after a named level (ranks have no named predecessors).
  static_assert(ordo::lock_before_v<ordo::rank<5>, after_rank>);
  static_assert(ordo::lock_before_v<ordo::rank<2>, after_rank>);
  static_assert(!ordo::lock_before_v<ordo::rank<6>, after_rank>);
  static_assert(!ordo::lock_before_v<after_rank, ordo::rank<9>>);
  EXPECT_TRUE(ordo::is_level_v<ordo::rank<4>>);
}

TEST(LockLevel, NestableIsDeclaredPerLevel) {
  static_assert(ordo::level_nestable_v<bucket_level>);
  static_assert(!ordo::level_nestable_v<mdevs_level>);
  static_assert(ordo::lock_before_v<guests_level, bucket_level>);
  EXPECT_TRUE(ordo::is_level_v<bucket_level>);
}

TEST(LockLevel, OnlyLevelsAreLevels) {
  static_assert(!ordo::is_level_v<int>);
  static_assert(!ordo::is_level_v<std::string_view>);
  static_assert(ordo::is_level_v<ap_attr_level>);
  EXPECT_FALSE(ordo::is_level_v<void*>);
}

// I2: a cycle terminates (bounded walk) and is visible as "not acyclic";
// ordered_mutex turns that into a compile error
// (tests/compile_fail/lock_level_cycle.cpp).
TEST(LockLevel, DeclaredCycleIsDetectedNotInstantiatedForever) {
  static_assert(!ordo::level_is_acyclic_v<cycle_a>);
  static_assert(!ordo::level_is_acyclic_v<cycle_b>);
  static_assert(!ordo::level_is_acyclic_v<ring_2>);
  static_assert(ordo::level_is_acyclic_v<ring_root>);
  static_assert(ordo::level_is_acyclic_v<mdevs_level>);
  // Both directions read "before" inside a cycle: that is why it is an error.
  static_assert(ordo::lock_before_v<cycle_a, cycle_b> && ordo::lock_before_v<cycle_b, cycle_a>);
  EXPECT_TRUE((ordo::lock_before_v<ring_root, ring_3>));
}

TEST(LockLevel, WalkIsBoundedByMaxLevelDepth) {
  static_assert(ordo::lock_before_v<chain<0>, chain<ordo::max_level_depth - 1>>);
  static_assert(!ordo::lock_before_v<chain<0>, chain<ordo::max_level_depth + 4>>);
  EXPECT_TRUE((ordo::lock_before_v<chain<10>, chain<20>>));
}

TEST(LockLevel, TypeNamesAreReadable) {
  EXPECT_EQ(ordo::detail::type_name<guests_level>(), "lvl::guests_level");
  // clang spells the unsigned argument "2U", GCC "2".
  EXPECT_TRUE(ordo::detail::type_name<ordo::rank<2>>().starts_with("ordo::rank<2"));
  constexpr std::string_view at_compile_time = ordo::detail::type_name<kvm_level>();
  static_assert(at_compile_time == "lvl::kvm_level");
}

}  // namespace
