# cmake -DSIM=... -DSCRIPT=x.sim -DEXPECTED=x.expected [-DSTATUS_FILE=x.status]
#       [-DSTDIN=1] -DACTUAL_DIR=dir -P run_sim_test.cmake
#
# Runs `SIM SCRIPT` (or `SIM < SCRIPT` with STDIN) and fails unless its standard output equals EXPECTED byte
# for byte and its exit status is 0 (or the number in STATUS_FILE, if that file
# exists). On a difference the actual output is left in ACTUAL_DIR and a diff
# is printed.
foreach(var SIM SCRIPT EXPECTED ACTUAL_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_sim_test.cmake: ${var} is not set")
  endif()
endforeach()

if(STDIN)  # the script on standard input instead of as an argument
  execute_process(COMMAND ${SIM}
    INPUT_FILE ${SCRIPT}
    OUTPUT_VARIABLE actual
    ERROR_VARIABLE errors
    RESULT_VARIABLE status)
else()
  execute_process(COMMAND ${SIM} ${SCRIPT}
    OUTPUT_VARIABLE actual
    ERROR_VARIABLE errors
    RESULT_VARIABLE status)
endif()

set(want_status 0)
if(DEFINED STATUS_FILE AND EXISTS ${STATUS_FILE})
  file(STRINGS ${STATUS_FILE} want_status LIMIT_COUNT 1)
  string(STRIP "${want_status}" want_status)
endif()
file(READ ${EXPECTED} expected)

get_filename_component(name ${SCRIPT} NAME_WE)
set(failed FALSE)
if(NOT actual STREQUAL expected)
  set(actual_file ${ACTUAL_DIR}/${name}.actual)
  file(WRITE ${actual_file} "${actual}")
  execute_process(COMMAND diff -u ${EXPECTED} ${actual_file}
    OUTPUT_VARIABLE diff_text)
  message("${name}: standard output differs from ${EXPECTED}\n${diff_text}")
  set(failed TRUE)
endif()
if(NOT status STREQUAL want_status)
  message("${name}: exit status ${status}, expected ${want_status}")
  set(failed TRUE)
endif()
if(failed)
  message("${name}: standard error was:\n${errors}")
  message(FATAL_ERROR "${name}: FAILED")
endif()
if(NOT errors STREQUAL "")
  message("${name}: standard error:\n${errors}")
endif()
