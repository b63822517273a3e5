// The refcount scenarios of the kernel's LKDTM (drivers/misc/lkdtm/refcount.c),
// run against ordo::refcount and ordo::rcuref. Each test is named after its
// LKDTM scenario and asserts where the kernel's refcount_t ends: the value
// read at the end (LKDTM's overflow_check / check_zero / check_negative /
// check_from_zero / check_saturated accept "saturated" as the kernel's
// answer), every return value LKDTM calls "Weird" when wrong, and whether a
// report was made (the kernel's refcount_warn_saturate WARN).
//
// The kernel's constants, in ordo's terms:
//   REFCOUNT_MAX        INT_MAX          == Counter::max_count
//   REFCOUNT_SATURATED  INT_MIN / 2      == Counter::saturated as read()
//   REFCOUNT_INIT(n)    Counter c(n)
// On a counter that is already saturated the kernel re-runs
// refcount_warn_saturate, whose WARN is WARN_ONCE (and LKDTM asks for "at
// most" a warning); ordo reports only the entry into saturation (refcount.hpp
// I4), so the *_SATURATED scenarios assert no report.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <vector>

#include "ordo/refcount.hpp"

namespace {

std::vector<ordo::refcount_error>& recorded() {
  static std::vector<ordo::refcount_error> errors;
  return errors;
}

template <class Counter>
class LkdtmRefcount : public ::testing::Test {
 protected:
  void SetUp() override {
    recorded().clear();
    previous_ = ordo::set_refcount_report_handler(
        [](const ordo::refcount_report& r) { recorded().push_back(r.error); });
  }
  void TearDown() override { ordo::set_refcount_report_handler(previous_); }

  static constexpr std::uint32_t refcount_max = Counter::max_count;  // REFCOUNT_MAX
  static constexpr std::uint32_t refcount_saturated = Counter::saturated;

  // Exactly one report, of this kind.
  static void expect_one_report(ordo::refcount_error error) {
    ASSERT_EQ(recorded().size(), 1u);
    EXPECT_EQ(recorded().front(), error);
  }
  static void expect_no_report() { EXPECT_TRUE(recorded().empty()); }

 private:
  ordo::refcount_report_handler previous_ = nullptr;
};

using Counters = ::testing::Types<ordo::refcount, ordo::rcuref>;
TYPED_TEST_SUITE(LkdtmRefcount, Counters);

static_assert(ordo::refcount::max_count == INT_MAX && ordo::rcuref::max_count == INT_MAX);
static_assert(ordo::refcount::saturated == static_cast<std::uint32_t>(INT_MIN / 2) &&
              ordo::rcuref::saturated == static_cast<std::uint32_t>(INT_MIN / 2));

// An inc past REFCOUNT_MAX saturates and warns; up to it, nothing happens.
TYPED_TEST(LkdtmRefcount, REFCOUNT_INC_OVERFLOW) {
  TypeParam over(this->refcount_max - 1);
  over.dec();
  over.inc();
  EXPECT_EQ(over.read(), this->refcount_max - 1);
  over.inc();  // REFCOUNT_MAX: still live
  EXPECT_EQ(over.read(), this->refcount_max);
  this->expect_no_report();
  over.inc();  // past it
  EXPECT_EQ(over.read(), this->refcount_saturated);
  this->expect_one_report(ordo::refcount_error::overflow);
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_ADD_OVERFLOW) {
  TypeParam over(this->refcount_max - 1);
  for (int i = 0; i < 4; ++i) over.dec();
  over.add(4);
  EXPECT_EQ(over.read(), this->refcount_max - 1);
  this->expect_no_report();
  over.add(4);
  EXPECT_EQ(over.read(), this->refcount_saturated);
  this->expect_one_report(ordo::refcount_error::overflow);
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_INC_NOT_ZERO_OVERFLOW) {
  TypeParam over(this->refcount_max);
  EXPECT_TRUE(over.inc_not_zero());  // "Weird" if it reported zero
  EXPECT_EQ(over.read(), this->refcount_saturated);
  this->expect_one_report(ordo::refcount_error::overflow);
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_ADD_NOT_ZERO_OVERFLOW) {
  TypeParam over(this->refcount_max);
  EXPECT_TRUE(over.add_not_zero(6));
  EXPECT_EQ(over.read(), this->refcount_saturated);
  this->expect_one_report(ordo::refcount_error::overflow);
}

// A refcount_dec() that hits zero saturates (the object leaks) and warns.
TYPED_TEST(LkdtmRefcount, REFCOUNT_DEC_ZERO) {
  TypeParam zero(2);
  zero.dec();
  this->expect_no_report();
  zero.dec();
  EXPECT_EQ(zero.read(), this->refcount_saturated);
  this->expect_one_report(ordo::refcount_error::dec_to_zero);
}

// Going negative saturates (never "still at 0", never wrapped) and warns.
TYPED_TEST(LkdtmRefcount, REFCOUNT_DEC_NEGATIVE) {
  TypeParam neg(0);
  neg.dec();
  EXPECT_EQ(neg.read(), this->refcount_saturated);
  this->expect_one_report(ordo::refcount_error::underflow);
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_DEC_AND_TEST_NEGATIVE) {
  TypeParam neg(0);
  EXPECT_FALSE(neg.dec_and_test());  // "Weird" if it reported zero
  EXPECT_EQ(neg.read(), this->refcount_saturated);
  this->expect_one_report(ordo::refcount_error::underflow);
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_SUB_AND_TEST_NEGATIVE) {
  TypeParam neg(3);
  EXPECT_FALSE(neg.sub_and_test(5));
  EXPECT_EQ(neg.read(), this->refcount_saturated);  // not still 3, not 0
  this->expect_one_report(ordo::refcount_error::underflow);
}

// inc_not_zero() refuses zero and leaves it; inc() from zero saturates.
TYPED_TEST(LkdtmRefcount, REFCOUNT_INC_ZERO) {
  TypeParam zero(0);
  EXPECT_FALSE(zero.inc_not_zero());
  EXPECT_EQ(zero.read(), 0u);  // "Correctly stayed at zero"
  this->expect_no_report();
  zero.inc();
  EXPECT_EQ(zero.read(), this->refcount_saturated);
  this->expect_one_report(ordo::refcount_error::add_on_zero);
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_ADD_ZERO) {
  TypeParam zero(0);
  EXPECT_FALSE(zero.add_not_zero(3));
  EXPECT_EQ(zero.read(), 0u);
  this->expect_no_report();
  zero.add(3);
  EXPECT_EQ(zero.read(), this->refcount_saturated);
  this->expect_one_report(ordo::refcount_error::add_on_zero);
}

// From saturated, every operation leaves it saturated ("at most warn").
TYPED_TEST(LkdtmRefcount, REFCOUNT_INC_SATURATED) {
  TypeParam sat(this->refcount_saturated);
  sat.inc();
  EXPECT_EQ(sat.read(), this->refcount_saturated);
  this->expect_no_report();
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_DEC_SATURATED) {
  TypeParam sat(this->refcount_saturated);
  sat.dec();
  EXPECT_EQ(sat.read(), this->refcount_saturated);
  this->expect_no_report();
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_ADD_SATURATED) {
  TypeParam sat(this->refcount_saturated);
  sat.add(8);
  EXPECT_EQ(sat.read(), this->refcount_saturated);
  this->expect_no_report();
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_INC_NOT_ZERO_SATURATED) {
  TypeParam sat(this->refcount_saturated);
  EXPECT_TRUE(sat.inc_not_zero());
  EXPECT_EQ(sat.read(), this->refcount_saturated);
  this->expect_no_report();
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_ADD_NOT_ZERO_SATURATED) {
  TypeParam sat(this->refcount_saturated);
  EXPECT_TRUE(sat.add_not_zero(7));
  EXPECT_EQ(sat.read(), this->refcount_saturated);
  this->expect_no_report();
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_DEC_AND_TEST_SATURATED) {
  TypeParam sat(this->refcount_saturated);
  EXPECT_FALSE(sat.dec_and_test());
  EXPECT_EQ(sat.read(), this->refcount_saturated);
  this->expect_no_report();
}

TYPED_TEST(LkdtmRefcount, REFCOUNT_SUB_AND_TEST_SATURATED) {
  TypeParam sat(this->refcount_saturated);
  EXPECT_FALSE(sat.sub_and_test(8));
  EXPECT_EQ(sat.read(), this->refcount_saturated);
  this->expect_no_report();
}

// LKDTM's timing run: from 1, INT_MAX - 1 increments reach REFCOUNT_MAX
// without a report, and the decrements are in sync: the INT_MAX-th
// dec_and_test() is the first to return true. 2^32 single atomic operations
// take tens of seconds (minutes under the sanitizers), so the middle of the
// climb and of the descent goes in add()/sub_and_test() strides of at most
// max_step; the first and last 2^16 steps each way are single inc()s and
// dec_and_test()s, where the limits are.
TYPED_TEST(LkdtmRefcount, REFCOUNT_TIMING) {
  constexpr std::uint32_t edge = 1u << 16;
  TypeParam count(1);
  std::uint32_t incs = 0;
  for (; incs < edge; ++incs) count.inc();
  for (std::uint32_t left = (INT_MAX - 1) - 2 * edge; left > 0;) {
    const std::uint32_t step = std::min<std::uint32_t>(left, TypeParam::max_step);
    count.add(step);
    incs += step;
    left -= step;
  }
  for (std::uint32_t i = 0; i < edge; ++i, ++incs) count.inc();
  ASSERT_EQ(incs, static_cast<std::uint32_t>(INT_MAX - 1));
  ASSERT_EQ(count.read(), this->refcount_max);
  this->expect_no_report();

  std::uint32_t puts = 0;  // LKDTM's i counts down from INT_MAX; this counts up
  bool released = false;
  for (std::uint32_t i = 0; i < edge && !released; ++i) released = (++puts, count.dec_and_test());
  for (std::uint32_t left = INT_MAX - 2 * edge; left > 0 && !released;) {
    const std::uint32_t step = std::min<std::uint32_t>(left, TypeParam::max_step);
    released = count.sub_and_test(step);
    puts += step;
    left -= step;
  }
  for (std::uint32_t i = 0; i < edge && !released; ++i) released = (++puts, count.dec_and_test());
  EXPECT_TRUE(released);
  EXPECT_EQ(puts, static_cast<std::uint32_t>(INT_MAX));  // "out of sync up/down cycle" otherwise
  EXPECT_EQ(count.read(), 0u);
  this->expect_no_report();
}

}  // namespace
