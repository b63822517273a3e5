// ordo/version.hpp agrees with the CMake project version (passed in by
// tests/CMakeLists.txt as ORDO_TEST_PROJECT_VERSION_*).
#include <ordo/version.hpp>

#include <gtest/gtest.h>

#include <string>

#ifndef ORDO_TEST_PROJECT_VERSION_MAJOR
#error "tests/CMakeLists.txt passes the CMake project version to this test"
#endif

TEST(Version, EqualsTheCMakeProjectVersion) {
  EXPECT_EQ(ORDO_VERSION_MAJOR, ORDO_TEST_PROJECT_VERSION_MAJOR);
  EXPECT_EQ(ORDO_VERSION_MINOR, ORDO_TEST_PROJECT_VERSION_MINOR);
  EXPECT_EQ(ORDO_VERSION_PATCH, ORDO_TEST_PROJECT_VERSION_PATCH);
  EXPECT_EQ(std::string(ORDO_VERSION_STRING),
            std::to_string(ORDO_TEST_PROJECT_VERSION_MAJOR) + "." +
                std::to_string(ORDO_TEST_PROJECT_VERSION_MINOR) + "." +
                std::to_string(ORDO_TEST_PROJECT_VERSION_PATCH));
}

TEST(Version, MakeVersionOrdersLikeTheTriple) {
  static_assert(ORDO_MAKE_VERSION(0, 2, 0) < ORDO_MAKE_VERSION(0, 10, 0));
  static_assert(ORDO_MAKE_VERSION(0, 99, 99) < ORDO_MAKE_VERSION(1, 0, 0));
  EXPECT_EQ(ORDO_VERSION, ORDO_MAKE_VERSION(ORDO_VERSION_MAJOR, ORDO_VERSION_MINOR,
                                            ORDO_VERSION_PATCH));
}
