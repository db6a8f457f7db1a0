# One helper to declare a test and what it needs from the machine.
#
#   vswitch_add_test(NAME name SOURCES a.cc b.cc [LIBS lib...] [NEEDS hugepages root qemu ...]
#                    [LABELS label...] [TIMEOUT seconds] [SERIAL])
#
# NEEDS becomes the CTest label set and the VSWITCH_TEST_NEEDS environment variable; the
# test's own main (tests/support/test_main.cc) checks each need before any test runs and
# fails loudly, naming what is missing and the command that provides it. Nothing is
# skipped quietly: a machine without hugepages fails the hugepage tests. LABELS adds labels
# that are not needs, for choosing what a run takes or leaves out (README):
# `timing` marks a test whose assertions are latency or CPU-use bounds (what it measures
# is speed, which a sanitizer's slowdown changes); `sanitize-ci` a test of the sanitized
# CI run (`deploy/vswitch test --sanitize --ci-subset`). The build target `sanitize-ci`
# (tests/CMakeLists.txt) builds exactly those tests and, through each test's
# add_dependencies, the programs it starts, so that run compiles only what it runs.
function(vswitch_add_test)
  cmake_parse_arguments(T "SERIAL" "NAME;TIMEOUT" "SOURCES;LIBS;NEEDS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE vswitch_test_support ${T_LIBS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  string(REPLACE ";" "," needs "${T_NEEDS}")
  set(labels ${T_NEEDS} ${T_LABELS})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} --gtest_color=no)
  set_tests_properties(${T_NAME} PROPERTIES
    TIMEOUT ${T_TIMEOUT}
    LABELS "${labels}"
    ENVIRONMENT "VSWITCH_TEST_NEEDS=${needs};VSWITCH_SOURCE_DIR=${PROJECT_SOURCE_DIR};VSWITCH_BINARY_DIR=${PROJECT_BINARY_DIR}")
  if(T_SERIAL)
    set_tests_properties(${T_NAME} PROPERTIES RUN_SERIAL TRUE)
  endif()
  if("sanitize-ci" IN_LIST T_LABELS)
    set_property(GLOBAL APPEND PROPERTY VSWITCH_SANITIZE_CI_TESTS ${T_NAME})
  endif()
endfunction()
