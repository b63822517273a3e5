# ordo_add_fuzz_replay(NAME SOURCE DIR... [LIBS lib...]): builds the libFuzzer
# target SOURCE without libFuzzer (tests/fuzz/replay_main.cpp supplies main)
# as NAME_replay and adds the CTest test fuzz_replay.NAME (label fuzz) that
# feeds it every file in each DIR: its regressions (every input that ever
# crashed it) and its seeds. Meant for sanitizer builds (the asan preset).
function(ordo_add_fuzz_replay name source)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "" "LIBS")
  add_executable(${name}_replay ${source} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cpp)
  target_link_libraries(${name}_replay PRIVATE ordo::ordo ordo_dev_flags ${arg_LIBS})
  add_test(NAME fuzz_replay.${name} COMMAND ${name}_replay ${arg_UNPARSED_ARGUMENTS})
  set_tests_properties(fuzz_replay.${name} PROPERTIES LABELS fuzz TIMEOUT 120)
endfunction()
