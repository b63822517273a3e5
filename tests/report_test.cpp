// Tests for ordo/detail/report.hpp through the four public installers: one
// meaning of install (returns what it replaced), of nullptr (the concern's
// default) and one default policy (notices return, everything else aborts).
#include "ordo/detail/report.hpp"

#include <gtest/gtest.h>

#include "ordo/hook.hpp"
#include "ordo/lockdep.hpp"
#include "ordo/rcu.hpp"
#include "ordo/refcount.hpp"

namespace {

struct probe_report {
  int value;
};
int probe_seen = 0;
void probe_default(const probe_report& r) { probe_seen = -r.value; }
void probe_mine(const probe_report& r) { probe_seen = r.value; }

TEST(ReportRegistry, StartsAtTheDefaultAndNullRestoresIt) {
  static constinit ordo::detail::report_registry<probe_report, &probe_default> registry;
  registry.report(probe_report{3});
  EXPECT_EQ(probe_seen, -3);
  EXPECT_EQ(registry.install(&probe_mine), &probe_default);
  registry.report(probe_report{4});
  EXPECT_EQ(probe_seen, 4);
  EXPECT_EQ(registry.install(nullptr), &probe_mine);
  EXPECT_EQ(registry.current(), &probe_default);
  registry.report(probe_report{5});
  EXPECT_EQ(probe_seen, -5);
}

// Each installer: install returns the previous handler, nullptr puts the
// documented default back, and the default is never reported as nullptr.
template <class Report, class Set>
void check_installer(Set set, void (*expected_default)(const Report&)) {
  auto mine = +[](const Report&) {};
  const auto before = set(mine);
  EXPECT_NE(before, nullptr);
  EXPECT_EQ(set(nullptr), mine);
  EXPECT_EQ(set(nullptr), expected_default);
  set(before);
}

TEST(ReportRegistry, EveryConcernMeansTheSameByNull) {
  check_installer<ordo::lockdep::report>(&ordo::lockdep::set_report_handler,
                                         &ordo::lockdep::default_report_handler);
  check_installer<ordo::rcu_report>(&ordo::set_rcu_report_handler,
                                    &ordo::detail::rcu_default_report);
  check_installer<ordo::hook_report>(&ordo::set_hook_report_handler,
                                     &ordo::detail::hook_default_report);
  check_installer<ordo::refcount_report>(&ordo::set_refcount_report_handler,
                                         &ordo::refcount_report_abort);
}

// The default policy: a notice prints and returns.
TEST(ReportRegistry, DefaultReturnsOnNotices) {
  testing::internal::CaptureStderr();
  ordo::detail::rcu_default_report(
      ordo::rcu_report{ordo::rcu_report_kind::unlock_without_lock, nullptr, "probe notice"});
  ordo::detail::hook_default_report(
      ordo::hook_report{ordo::hook_report_kind::exchange_inside_call, nullptr, "probe hook"});
  const std::string printed = testing::internal::GetCapturedStderr();
  EXPECT_NE(printed.find("ordo: rcu: probe notice"), std::string::npos);
  EXPECT_NE(printed.find("probe hook"), std::string::npos);
}

// ... and everything else prints and aborts.
TEST(ReportRegistryDeathTest, DefaultAbortsOnEverythingElse) {
  EXPECT_DEATH(ordo::detail::rcu_default_report(ordo::rcu_report{
                   ordo::rcu_report_kind::wait_in_read_section, nullptr, "probe fatal"}),
               "ordo: rcu: probe fatal");
  EXPECT_DEATH(ordo::refcount_report_abort(ordo::refcount_report{
                   ordo::refcount_error::overflow, nullptr, std::source_location::current()}),
               "ordo::refcount: overflow, saturated");
}

}  // namespace
