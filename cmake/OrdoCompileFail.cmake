# ordo_add_compile_fail_test(NAME SOURCE REGEX [FLAGS flag...] [LABELS label...])
#
# Adds the CTest test `compile_fail.NAME` (label `compile_fail`). It compiles
# SOURCE twice with the project's compiler and warning flags:
#   1. as the valid twin, without ORDO_COMPILE_FAIL: this must build;
#   2. with -DORDO_COMPILE_FAIL=1, which turns on the misuse: this must fail,
#      and the compiler's output must match REGEX (our own static_assert text).
# The test fails if the twin does not build, if the misuse builds, or if the
# misuse fails for another reason than the one REGEX names.
set(ORDO_COMPILE_FAIL_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/compile_fail_check.cmake)

function(ordo_add_compile_fail_test NAME SOURCE REGEX)
  cmake_parse_arguments(ARG "" "" "FLAGS;LABELS" ${ARGN})
  get_filename_component(source "${SOURCE}" ABSOLUTE)

  set(flags -std=c++20 -Wall -Wextra -Wpedantic -Werror
            -I${PROJECT_SOURCE_DIR}/include)
  get_target_property(absl_includes absl::base INTERFACE_INCLUDE_DIRECTORIES)
  foreach(dir IN LISTS absl_includes)
    # Re-adding an implicit directory such as /usr/include as -isystem breaks
    # libstdc++'s #include_next; the compiler searches those already.
    if(NOT dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
      list(APPEND flags -isystem ${dir})
    endif()
  endforeach()
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    list(APPEND flags -Wthread-safety -Wthread-safety-beta)
  endif()
  if(ORDO_LOCKDEP)
    list(APPEND flags -DORDO_LOCKDEP=1)
  endif()
  list(APPEND flags ${ARG_FLAGS})
  list(JOIN flags "|" flags_joined)

  add_test(NAME compile_fail.${NAME}
    COMMAND ${CMAKE_COMMAND}
      -DCOMPILER=${CMAKE_CXX_COMPILER}
      -DSOURCE=${source}
      -DREGEX=${REGEX}
      -DFLAGS=${flags_joined}
      -DWORKDIR=${CMAKE_CURRENT_BINARY_DIR}/compile_fail/${NAME}
      -P ${ORDO_COMPILE_FAIL_SCRIPT})
  set_tests_properties(compile_fail.${NAME} PROPERTIES
    LABELS "compile_fail;${ARG_LABELS}")
endfunction()

# ordo_add_compile_fail_dir(DIR [LABELS label...] [FLAGS flag...])
#
# Adds one compile-fail test for every DIR/*.cpp. Each file states what it
# expects in comment lines at its top:
#   // ordo-compile-fail: REGEX          (required)
#   // ordo-compile-fail-flags: -Wfoo    (optional, space separated)
#   // ordo-compile-fail-compiler: clang (optional: skip on other compilers)
#
# FLAGS adds flags for every case of DIR (the vfio-ap model's cases add its
# include directory).
function(ordo_add_compile_fail_dir DIR)
  cmake_parse_arguments(ARG "" "" "LABELS;FLAGS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${DIR}/*.cpp)
  foreach(source IN LISTS sources)
    get_filename_component(name ${source} NAME_WE)
    file(STRINGS ${source} regex_line REGEX "^// ordo-compile-fail: " LIMIT_COUNT 1)
    if(NOT regex_line)
      message(FATAL_ERROR "${source}: no '// ordo-compile-fail: REGEX' line")
    endif()
    string(REGEX REPLACE "^// ordo-compile-fail: " "" regex "${regex_line}")
    file(STRINGS ${source} flags_line REGEX "^// ordo-compile-fail-flags: " LIMIT_COUNT 1)
    string(REGEX REPLACE "^// ordo-compile-fail-flags: " "" flags "${flags_line}")
    separate_arguments(flags UNIX_COMMAND "${flags}")
    file(STRINGS ${source} compiler_line REGEX "^// ordo-compile-fail-compiler: " LIMIT_COUNT 1)
    if(compiler_line)
      string(REGEX REPLACE "^// ordo-compile-fail-compiler: " "" only "${compiler_line}")
      if(only STREQUAL "clang" AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
        continue()
      endif()
      if(only STREQUAL "gcc" AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        continue()
      endif()
    endif()
    ordo_add_compile_fail_test(${name} ${source} "${regex}" FLAGS ${ARG_FLAGS} ${flags} LABELS ${ARG_LABELS})
  endforeach()
endfunction()
