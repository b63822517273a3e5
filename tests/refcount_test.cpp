// Tests for ordo/refcount.hpp: zones, saturation, reports, orderings in use.
#include "ordo/refcount.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

std::atomic<int> report_count{0};
std::atomic<int> last_report{-1};
int reports() { return report_count.load(); }
ordo::refcount_error last_error() { return static_cast<ordo::refcount_error>(last_report.load()); }

// Collects reports instead of aborting, for the duration of a test.
class RefcountReports : public ::testing::Test {
 protected:
  void SetUp() override {
    report_count.store(0);
    last_report.store(-1);
    previous_ = ordo::set_refcount_report_handler([](const ordo::refcount_report& r) {
      report_count.fetch_add(1);
      last_report.store(static_cast<int>(r.error));
    });
  }
  void TearDown() override { ordo::set_refcount_report_handler(previous_); }

 private:
  ordo::refcount_report_handler previous_ = nullptr;
};

// Both counters share refcount_t's interface and semantics; every test below
// runs on each.
template <class Counter>
class Refcount : public RefcountReports {};
using Counters = ::testing::Types<ordo::refcount, ordo::rcuref>;
TYPED_TEST_SUITE(Refcount, Counters);

TYPED_TEST(Refcount, StartsAtTheGivenCount) {
  TypeParam one(1);
  EXPECT_EQ(one.read(), 1u);
  TypeParam many(5);
  EXPECT_EQ(many.read(), 5u);
  TypeParam dead(0);
  EXPECT_EQ(dead.read(), 0u);
  EXPECT_FALSE(dead.inc_not_zero());
  EXPECT_EQ(reports(), 0);
}

TYPED_TEST(Refcount, IncAndDecAndTestCountExactly) {
  TypeParam r(1);
  r.inc();
  r.inc();
  EXPECT_EQ(r.read(), 3u);
  EXPECT_FALSE(r.dec_and_test());
  EXPECT_FALSE(r.dec_and_test());
  EXPECT_EQ(r.read(), 1u);
  EXPECT_TRUE(r.dec_and_test());
  EXPECT_EQ(r.read(), 0u);
  EXPECT_EQ(reports(), 0);
}

TYPED_TEST(Refcount, IncNotZeroFailsOnceDeadAndStaysDead) {
  TypeParam r(1);
  EXPECT_TRUE(r.inc_not_zero());
  EXPECT_FALSE(r.dec_and_test());
  EXPECT_TRUE(r.dec_and_test());
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(r.inc_not_zero());
  EXPECT_FALSE(r.add_not_zero(7));
  EXPECT_EQ(r.read(), 0u);  // late getters moved it back to DEAD each time (I2)
  EXPECT_EQ(reports(), 0);
}

TYPED_TEST(Refcount, AddAndSubAndTest) {
  TypeParam r(1);
  r.add(9);
  EXPECT_EQ(r.read(), 10u);
  EXPECT_TRUE(r.add_not_zero(5));
  EXPECT_EQ(r.read(), 15u);
  EXPECT_FALSE(r.sub_and_test(14));
  EXPECT_EQ(r.read(), 1u);
  r.add(0);  // no-op
  EXPECT_FALSE(r.sub_and_test(0));
  EXPECT_EQ(r.read(), 1u);
  r.add(3);
  EXPECT_TRUE(r.sub_and_test(4));
  EXPECT_EQ(r.read(), 0u);
  EXPECT_EQ(reports(), 0);
}

TYPED_TEST(Refcount, DecIfOneOnlyKillsTheLastReference) {
  TypeParam r(2);
  EXPECT_FALSE(r.dec_if_one());
  EXPECT_EQ(r.read(), 2u);
  r.dec();
  EXPECT_TRUE(r.dec_if_one());
  EXPECT_EQ(r.read(), 0u);
  EXPECT_FALSE(r.inc_not_zero());
  EXPECT_FALSE(r.dec_if_one());
  EXPECT_EQ(reports(), 0);
}

TYPED_TEST(Refcount, SetReinitialises) {
  TypeParam r(1);
  ASSERT_TRUE(r.dec_and_test());
  r.set(3);
  EXPECT_EQ(r.read(), 3u);
  r.set(0);
  EXPECT_FALSE(r.inc_not_zero());
  r.set(0xFFFFFFFFu);
  EXPECT_TRUE(r.is_saturated());
}

TYPED_TEST(Refcount, IncrementFromZeroIsReportedAndSaturates) {
  TypeParam r(1);
  ASSERT_TRUE(r.dec_and_test());
  r.inc();
  EXPECT_EQ(reports(), 1);
  EXPECT_EQ(last_error(), ordo::refcount_error::add_on_zero);
  EXPECT_TRUE(r.is_saturated());
  EXPECT_EQ(r.read(), TypeParam::saturated);
  // A saturated object is never freed (I4).
  EXPECT_FALSE(r.dec_and_test());
  EXPECT_EQ(reports(), 1);
}

// refcount_t: a put on a dead counter saturates it (REFCOUNT_SUB_UAF), so
// that no later put frees it again; reported once, on entry (I4).
TYPED_TEST(Refcount, UnderflowIsReportedAndSaturates) {
  TypeParam r(1);
  ASSERT_TRUE(r.dec_and_test());
  EXPECT_FALSE(r.dec_and_test());
  EXPECT_EQ(reports(), 1);
  EXPECT_EQ(last_error(), ordo::refcount_error::underflow);
  EXPECT_TRUE(r.is_saturated());
  EXPECT_EQ(r.read(), TypeParam::saturated);
  r.dec();
  EXPECT_FALSE(r.dec_and_test());
  EXPECT_FALSE(r.dec_if_one());
  EXPECT_EQ(reports(), 1);
  EXPECT_TRUE(r.is_saturated());

  TypeParam s(1);
  ASSERT_TRUE(s.dec_and_test());
  s.dec();  // a plain dec() of a dead counter: underflow too
  EXPECT_EQ(reports(), 2);
  EXPECT_EQ(last_error(), ordo::refcount_error::underflow);
  EXPECT_TRUE(s.is_saturated());
}

// More puts than references in one step: reported, and no later put may
// free the object the other holders still point to (refcount parks it dead,
// rcuref saturated: either way it leaks instead).
TYPED_TEST(Refcount, SubBelowZeroFromLiveIsUnderflowAndNeverFrees) {
  TypeParam r(2);
  EXPECT_FALSE(r.sub_and_test(3));
  EXPECT_EQ(reports(), 1);
  EXPECT_EQ(last_error(), ordo::refcount_error::underflow);
  EXPECT_FALSE(r.dec_and_test());
  EXPECT_FALSE(r.dec_and_test());
  EXPECT_FALSE(r.dec_if_one());
}

TYPED_TEST(Refcount, PlainDecToZeroIsAReportedLeak) {
  TypeParam r(1);
  r.dec();
  EXPECT_EQ(reports(), 1);
  EXPECT_EQ(last_error(), ordo::refcount_error::dec_to_zero);
  EXPECT_TRUE(r.is_saturated());
}

TYPED_TEST(Refcount, OverflowSaturatesOnceAndStaysParked) {
  TypeParam r(TypeParam::max_count);
  EXPECT_EQ(r.read(), TypeParam::max_count);
  EXPECT_EQ(reports(), 0);
  r.inc();
  EXPECT_EQ(reports(), 1);
  EXPECT_EQ(last_error(), ordo::refcount_error::overflow);
  EXPECT_TRUE(r.is_saturated());
  // Further traffic in either direction keeps it parked, unreported (I4).
  for (int i = 0; i < 100; ++i) {
    r.inc();
    EXPECT_TRUE(r.inc_not_zero());
    EXPECT_FALSE(r.dec_and_test());
    r.dec();
  }
  EXPECT_FALSE(r.dec_if_one());
  EXPECT_TRUE(r.is_saturated());
  EXPECT_EQ(reports(), 1);
}

TYPED_TEST(Refcount, IncNotZeroAtTheLimitSaturatesAndSucceeds) {
  TypeParam r(TypeParam::max_count);
  EXPECT_TRUE(r.inc_not_zero());
  EXPECT_EQ(reports(), 1);
  EXPECT_EQ(last_error(), ordo::refcount_error::overflow);
  EXPECT_TRUE(r.is_saturated());
}

// Steps above max_step take the compare-and-swap path and end exactly as
// refcount_t does: no report while the result stays in 1 .. INT_MAX.
TYPED_TEST(Refcount, LargeStepsAreExact) {
  constexpr unsigned big = TypeParam::max_step + 1;
  TypeParam r(1);
  r.add(big);
  EXPECT_EQ(r.read(), 1u + big);
  EXPECT_TRUE(r.add_not_zero(big));
  EXPECT_EQ(r.read(), 1u + 2 * big);
  EXPECT_FALSE(r.sub_and_test(2 * big));
  EXPECT_EQ(r.read(), 1u);
  EXPECT_EQ(reports(), 0);
  // Past INT_MAX in one step: overflow, saturated.
  r.add(TypeParam::max_count);
  EXPECT_EQ(reports(), 1);
  EXPECT_EQ(last_error(), ordo::refcount_error::overflow);
  EXPECT_TRUE(r.is_saturated());
  // More than the count in one step: underflow, saturated.
  TypeParam s(1);
  EXPECT_FALSE(s.sub_and_test(big));
  EXPECT_EQ(reports(), 2);
  EXPECT_EQ(last_error(), ordo::refcount_error::underflow);
  EXPECT_TRUE(s.is_saturated());
}

// A large add_not_zero on a dead counter fails and leaves it dead (I2).
TYPED_TEST(Refcount, LargeAddNotZeroOnDeadFailsAndWritesNothing) {
  TypeParam r(0);
  EXPECT_FALSE(r.add_not_zero(TypeParam::max_step + 1));
  EXPECT_FALSE(r.add_not_zero(0xFFFFFFFFu));
  EXPECT_EQ(r.read(), 0u);
  EXPECT_FALSE(r.is_saturated());
  EXPECT_FALSE(r.inc_not_zero());
  EXPECT_EQ(reports(), 0);
}

// The put of exactly the whole count is the final one, however large.
TYPED_TEST(Refcount, LargeSubOfTheWholeCountIsTheFinalPut) {
  constexpr unsigned n = 2 * TypeParam::max_step;
  TypeParam r(n);
  EXPECT_TRUE(r.sub_and_test(n));
  EXPECT_EQ(r.read(), 0u);
  EXPECT_FALSE(r.inc_not_zero());
  TypeParam full(TypeParam::max_count);
  EXPECT_FALSE(full.sub_and_test(TypeParam::max_count - 1));
  EXPECT_EQ(full.read(), 1u);
  EXPECT_TRUE(full.dec_and_test());
  EXPECT_EQ(reports(), 0);
}

// The live range ends at INT_MAX (REFCOUNT_MAX), as refcount_t's.
TYPED_TEST(Refcount, LiveRangeEndsAtIntMax) {
  static_assert(TypeParam::max_count == 0x7FFFFFFFu);
  static_assert(TypeParam::saturated == 0xC0000000u);  // REFCOUNT_SATURATED
  TypeParam r(TypeParam::max_count - 1);
  r.inc();
  EXPECT_EQ(r.read(), TypeParam::max_count);
  EXPECT_EQ(reports(), 0);
  EXPECT_TRUE(r.add_not_zero(0));
  r.add(1);
  EXPECT_EQ(reports(), 1);
  EXPECT_EQ(last_error(), ordo::refcount_error::overflow);
  EXPECT_EQ(r.read(), TypeParam::saturated);
  TypeParam too_many(TypeParam::max_count + 1u);
  EXPECT_TRUE(too_many.is_saturated());
  // add_not_zero exactly at the limit, and one past it.
  TypeParam q(TypeParam::max_count - 2);
  EXPECT_TRUE(q.add_not_zero(2));
  EXPECT_EQ(q.read(), TypeParam::max_count);
  EXPECT_EQ(reports(), 1);
  TypeParam p(TypeParam::max_count - 1);
  EXPECT_TRUE(p.add_not_zero(2));
  EXPECT_EQ(p.read(), TypeParam::saturated);
  EXPECT_EQ(reports(), 2);
  EXPECT_EQ(last_error(), ordo::refcount_error::overflow);
}

// Traffic on a saturated counter moves it by at most max_step per operation
// before the slow path re-parks it; 64 maximal steps each way (2^30, more
// than the 2^29 margin) must leave it saturated (I4).
TYPED_TEST(Refcount, SaturatedStaysParkedUnderManyLargeSteps) {
  TypeParam r(TypeParam::saturated);
  for (int i = 0; i < 64; ++i) EXPECT_FALSE(r.sub_and_test(TypeParam::max_step));
  EXPECT_EQ(r.read(), TypeParam::saturated);
  for (int i = 0; i < 64; ++i) r.add(TypeParam::max_step);
  EXPECT_EQ(r.read(), TypeParam::saturated);
  EXPECT_EQ(reports(), 0);
}

// Late getters of a dead counter: 64 maximal add_not_zero steps (2^30, more
// than the dead zone's margin) all fail and leave it dead (I2).
TYPED_TEST(Refcount, DeadStaysDeadUnderManyLargeGets) {
  TypeParam r(0);
  for (int i = 0; i < 64; ++i) EXPECT_FALSE(r.add_not_zero(TypeParam::max_step));
  EXPECT_EQ(r.read(), 0u);
  EXPECT_FALSE(r.inc_not_zero());
  EXPECT_EQ(reports(), 0);
}

TYPED_TEST(Refcount, ReportCarriesCounterAndCallSite) {
  static const void* seen_counter = nullptr;
  static unsigned seen_line = 0;
  auto previous = ordo::set_refcount_report_handler([](const ordo::refcount_report& report) {
    seen_counter = report.counter;
    seen_line = report.where.line();
  });
  TypeParam r(1);
  r.dec();
  const unsigned line = __LINE__ - 1;
  EXPECT_EQ(seen_counter, &r);
  EXPECT_EQ(seen_line, line);
  ordo::set_refcount_report_handler(previous);
}

TEST(RefcountReportText, NamesEveryError) {
  EXPECT_EQ(ordo::to_string(ordo::refcount_error::add_on_zero),
            "ordo::refcount: increment from zero; use-after-free");
  EXPECT_EQ(ordo::to_string(ordo::refcount_error::underflow), "ordo::refcount: underflow; use-after-free");
  EXPECT_EQ(ordo::to_string(ordo::refcount_error::dec_to_zero), "ordo::refcount: dec() hit zero; leaking memory");
  EXPECT_EQ(ordo::to_string(ordo::refcount_error::overflow),
            "ordo::refcount: overflow, saturated; leaking memory");
}

// The default handler prints and aborts in every build (no NDEBUG
// dependency, so translation units cannot disagree), and nullptr restores it.
TEST(RefcountDeathTest, DefaultHandlerPrintsAndAbortsInEveryBuild) {
  auto previous = ordo::set_refcount_report_handler(nullptr);
  EXPECT_EQ(ordo::set_refcount_report_handler(nullptr), &ordo::refcount_report_abort);
  EXPECT_DEATH(
      {
        ordo::refcount r(0);
        r.inc();
      },
      "ordo::refcount: increment from zero; use-after-free \\(counter 0x[0-9a-f]+\\) at .*refcount_test.cpp");
  ordo::set_refcount_report_handler(previous);
}

TEST(RefcountDeathTest, AbortHandlerPrintsEachKind) {
  auto previous = ordo::set_refcount_report_handler(&ordo::refcount_report_abort);
  EXPECT_DEATH(
      {
        ordo::refcount r(1);
        (void)r.dec_and_test();
        (void)r.dec_and_test();
      },
      "ordo::refcount: underflow; use-after-free");
  EXPECT_DEATH(
      {
        ordo::refcount r(1);
        r.dec();
      },
      "ordo::refcount: dec\\(\\) hit zero; leaking memory");
  EXPECT_DEATH(
      {
        ordo::refcount r(ordo::refcount::max_count);
        r.inc();
      },
      "ordo::refcount: overflow, saturated; leaking memory");
  ordo::set_refcount_report_handler(previous);
}

// Two threads: gets and puts on a shared count that one owner holds; the
// owner's final put must come out true exactly once, after all others.
TYPED_TEST(Refcount, ConcurrentGetPutThenFinalPutIsExactlyOnce) {
  TypeParam r(1);
  std::atomic<int> finals{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        if (r.inc_not_zero()) {
          if (r.dec_and_test()) finals.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(finals.load(), 0);  // the owner's reference was held throughout
  EXPECT_EQ(r.read(), 1u);
  EXPECT_TRUE(r.dec_and_test());
  EXPECT_EQ(reports(), 0);
}

// refcount_dec_not_one (the fast path of put_locked / kref_put_mutex):
// drops every reference but the last, which it leaves to the caller.
TEST_F(RefcountReports, DecNotOneDropsAllButTheLastReference) {
  ordo::refcount r(3);
  EXPECT_TRUE(r.dec_not_one());
  EXPECT_TRUE(r.dec_not_one());
  EXPECT_EQ(r.read(), 1u);
  EXPECT_FALSE(r.dec_not_one());  // the last: unchanged
  EXPECT_EQ(r.read(), 1u);
  EXPECT_TRUE(r.dec_and_test());
  EXPECT_EQ(reports(), 0);
  EXPECT_TRUE(r.dec_not_one());  // dead: nothing to release, reported
  EXPECT_EQ(reports(), 1);
  EXPECT_EQ(last_error(), ordo::refcount_error::underflow);
  EXPECT_EQ(r.read(), 0u);

  ordo::refcount saturated(ordo::refcount::max_count + 1);
  ASSERT_TRUE(saturated.is_saturated());
  EXPECT_TRUE(saturated.dec_not_one());  // parked: never released (I4)
  EXPECT_TRUE(saturated.is_saturated());
  EXPECT_EQ(reports(), 1);
}

}  // namespace
