// EXPECT_OK / ASSERT_OK: "this call succeeded", for functions that return a
// std::error_code, in every test of the library and of the vfio-ap model
// (tests/support is on the include path of every ordo_add_gtest binary).
//
// Why: `EXPECT_FALSE(h.kvm_create("g"))` reads backwards ("expect false:
// create") and, when it fails, prints only "Value of: ... Actual: true".
// `EXPECT_OK(h.kvm_create("g"))` says what is expected and, on failure,
// names the error (category, value and message). The expression is
// evaluated once. Like every GoogleTest assertion, both take a streamed
// message: `ASSERT_OK(write(path, "1\n")) << path;`.
#ifndef ORDO_TESTS_SUPPORT_EXPECT_OK_HPP
#define ORDO_TESTS_SUPPORT_EXPECT_OK_HPP

#include <gtest/gtest.h>

#include <system_error>

namespace ordo_test {

/// The predicate-formatter behind EXPECT_OK / ASSERT_OK.
inline ::testing::AssertionResult is_ok(const char* expression, const std::error_code& ec) {
  if (!ec) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << expression << " failed with " << ec.category().name()
                                       << " error " << ec.value() << ": " << ec.message();
}

}  // namespace ordo_test

#if defined(EXPECT_OK) || defined(ASSERT_OK)
#error "EXPECT_OK/ASSERT_OK are already defined; this header defines its own"
#endif
/// Non-fatal: the std::error_code `expression` is empty (success).
#define EXPECT_OK(expression) EXPECT_PRED_FORMAT1(::ordo_test::is_ok, expression)
/// Fatal: the std::error_code `expression` is empty (success).
#define ASSERT_OK(expression) ASSERT_PRED_FORMAT1(::ordo_test::is_ok, expression)

#endif  // ORDO_TESTS_SUPPORT_EXPECT_OK_HPP
