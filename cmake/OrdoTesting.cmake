# Test helpers shared by the library's tests (tests/) and the vfio-ap model's
# (vfio_ap/tests/).
find_package(GTest CONFIG REQUIRED)
include(GoogleTest)
set(ORDO_TEST_SUPPORT_DIR ${CMAKE_CURRENT_LIST_DIR}/../tests/support)

# ordo_add_gtest(NAME LABEL SOURCE...): one test binary, one CTest test per
# GoogleTest case, labelled LABEL. Links ordo::ordo and the dev flags; add
# more with target_link_libraries(NAME PRIVATE ...). tests/support (EXPECT_OK)
# is on the include path.
function(ordo_add_gtest name label)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE ordo::ordo ordo_dev_flags
                        GTest::gtest GTest::gmock GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${ORDO_TEST_SUPPORT_DIR})
  gtest_discover_tests(${name}
    DISCOVERY_TIMEOUT 120
    PROPERTIES LABELS ${label})
endfunction()
