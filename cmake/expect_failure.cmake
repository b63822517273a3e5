# cmake -P expect_failure.cmake: a misconfiguration must fail with a message
# that says what is missing.
#   COMMAND (|-separated), REGEX, [WORKDIR (emptied first)].
# Passes when COMMAND exits non-zero and its output matches REGEX.
string(REPLACE "|" ";" command "${COMMAND}")
if(WORKDIR)
  file(REMOVE_RECURSE ${WORKDIR})
endif()
execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "expected a failure, but it succeeded:\n${out}")
endif()
if(NOT out MATCHES "${REGEX}")
  message(FATAL_ERROR "it failed, but without the message (${REGEX}):\n${out}")
endif()
message(STATUS "failed as it must, with the message")
