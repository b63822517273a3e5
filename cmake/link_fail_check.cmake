# cmake -P link_fail_check.cmake: the mixed-configuration link test.
#   SOURCE_DIR (tests/abi), ORDO_SOURCE_DIR, WORKDIR, COMPILER,
#   USE_LOCKDEP (0 or 1), REGEX.
# Builds tests/abi, whose define.cpp has ORDO_LOCKDEP=1 and whose use.cpp has
# ORDO_LOCKDEP=USE_LOCKDEP. The same configuration on both sides must link and
# run; different ones must fail to link, with output matching REGEX (the name
# that says why), instead of breaking the one-definition rule silently.
file(REMOVE_RECURSE ${WORKDIR})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORKDIR} -G Ninja
                        -DCMAKE_CXX_COMPILER=${COMPILER} -DORDO_SOURCE_DIR=${ORDO_SOURCE_DIR}
                        -DORDO_USE_LOCKDEP=${USE_LOCKDEP}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the ABI check failed:\n${out}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORKDIR}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(USE_LOCKDEP)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the same configuration on both sides must link:\n${out}")
  endif()
  execute_process(COMMAND ${WORKDIR}/abi_program RESULT_VARIABLE run_rc)
  if(NOT run_rc EQUAL 0)
    message(FATAL_ERROR "the linked program failed (${run_rc})")
  endif()
  return()
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "translation units built with and without ORDO_LOCKDEP linked: "
                      "the one-definition rule is broken silently")
endif()
if(NOT out MATCHES "${REGEX}")
  message(FATAL_ERROR "the link failed without naming the configuration (${REGEX}):\n${out}")
endif()
message(STATUS "the mixed link failed as it must")
