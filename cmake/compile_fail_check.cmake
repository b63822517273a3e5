# Run by CTest for each compile-fail test (see OrdoCompileFail.cmake).
# Inputs: COMPILER, SOURCE, REGEX, FLAGS ('|'-separated), WORKDIR.
string(REPLACE "|" ";" flags "${FLAGS}")
file(MAKE_DIRECTORY "${WORKDIR}")

execute_process(
  COMMAND ${COMPILER} ${flags} -c ${SOURCE} -o ${WORKDIR}/twin.o
  RESULT_VARIABLE twin_result OUTPUT_VARIABLE twin_out ERROR_VARIABLE twin_out)
if(NOT twin_result EQUAL 0)
  message(FATAL_ERROR "the valid twin of ${SOURCE} does not build:\n${twin_out}")
endif()

execute_process(
  COMMAND ${COMPILER} ${flags} -DORDO_COMPILE_FAIL=1 -c ${SOURCE} -o ${WORKDIR}/misuse.o
  RESULT_VARIABLE misuse_result OUTPUT_VARIABLE misuse_out ERROR_VARIABLE misuse_out)
if(misuse_result EQUAL 0)
  message(FATAL_ERROR "the misuse in ${SOURCE} compiled; it must not")
endif()
if(NOT misuse_out MATCHES "${REGEX}")
  message(FATAL_ERROR
    "the misuse in ${SOURCE} failed, but not with the expected diagnostic\n"
    "expected (regex): ${REGEX}\ncompiler said:\n${misuse_out}")
endif()
message(STATUS "twin builds; misuse rejected with: ${CMAKE_MATCH_0}")
