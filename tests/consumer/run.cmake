# Consumer tests: build a small program against ukikit the way another project
# would, with the generator and compiler of the build that runs the test.
#
#   cmake -DMODE=find_package|add_subdirectory -DSOURCE_DIR=<ukikit source>
#         -DWORK_DIR=<scratch dir, wiped first> -DEXPECTED_VERSION=<x.y.z>
#         -DGENERATOR=<generator> [-DMAKE_PROGRAM=<path>] -DCXX_COMPILER=<path>
#         [-DPKG_CONFIG=<path>] -P run.cmake
#
# find_package: configure ukikit alone (tools, tests, fuzzers, benchmarks
#   off), install it with `cmake --install --prefix` into a prefix other than
#   the configured one, check the pkg-config file (cflags, version, and a
#   program compiled with its flags), then move the prefix elsewhere and build
#   and run the find_package(ukikit CONFIG REQUIRED) consumer against the
#   moved prefix, which proves the CMake package is relocatable.
# add_subdirectory: build and run the consumer that vendors the source tree.
cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS MODE SOURCE_DIR WORK_DIR EXPECTED_VERSION GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake: -D${var}=... is required")
  endif()
endforeach()

set(generator_args -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(MAKE_PROGRAM)
  list(APPEND generator_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()

# Run a command; stop with its output on failure.
function(step what)
  message(STATUS "consumer ${MODE}: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer ${MODE}: ${what} failed (${rc}):\n${out}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

# Configure, build and run the consumer project in tests/consumer/<MODE>.
function(build_and_run_consumer)
  set(build "${WORK_DIR}/consumer-build")
  step("configure consumer" ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer/${MODE}" -B "${build}"
       ${generator_args} -DCMAKE_BUILD_TYPE=Release "-DUKIKIT_EXPECTED_VERSION=${EXPECTED_VERSION}"
       ${ARGN})
  step("build consumer" ${CMAKE_COMMAND} --build "${build}")
  step("run consumer" "${build}/consumer")
  message(STATUS "${step_output}")
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

if(MODE STREQUAL "find_package")
  set(prefix "${WORK_DIR}/prefix")
  set(moved "${WORK_DIR}/moved-prefix")

  step("configure ukikit" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/ukikit-build"
       ${generator_args} -DCMAKE_BUILD_TYPE=Release
       "-DCMAKE_INSTALL_PREFIX=${WORK_DIR}/configured-prefix-not-used"
       -DUKIKIT_INSTALL=ON -DUKIKIT_BUILD_TOOLS=OFF -DUKIKIT_BUILD_TESTS=OFF
       -DUKIKIT_BUILD_FUZZERS=OFF -DUKIKIT_BUILD_BENCHMARKS=OFF)
  step("build ukikit" ${CMAKE_COMMAND} --build "${WORK_DIR}/ukikit-build")
  step("install ukikit" ${CMAKE_COMMAND} --install "${WORK_DIR}/ukikit-build" --prefix "${prefix}")

  foreach(f IN ITEMS include/ukikit/result.hpp include/ukikit/bytes.hpp include/ukikit/version.hpp
                     share/cmake/ukikit/ukikitConfig.cmake
                     share/cmake/ukikit/ukikitConfigVersion.cmake
                     share/cmake/ukikit/ukikitTargets.cmake share/pkgconfig/ukikit.pc)
    if(NOT EXISTS "${prefix}/${f}")
      message(FATAL_ERROR "consumer find_package: ${f} is not installed under ${prefix}")
    endif()
  endforeach()

  # pkg-config: version, cflags, and a program built with exactly its flags.
  if(NOT PKG_CONFIG)
    find_program(PKG_CONFIG NAMES pkg-config pkgconf REQUIRED)
  endif()
  set(pc ${CMAKE_COMMAND} -E env "PKG_CONFIG_PATH=${prefix}/share/pkgconfig" "${PKG_CONFIG}")
  step("pkg-config --modversion ukikit" ${pc} --modversion ukikit)
  string(STRIP "${step_output}" pc_version)
  if(NOT pc_version STREQUAL EXPECTED_VERSION)
    message(FATAL_ERROR "consumer find_package: pkg-config says ${pc_version}, expected ${EXPECTED_VERSION}")
  endif()
  step("pkg-config --cflags ukikit" ${pc} --cflags ukikit)
  string(STRIP "${step_output}" pc_cflags)
  message(STATUS "pkg-config --cflags ukikit: ${pc_cflags}")
  string(FIND "${pc_cflags}" "-I${prefix}/include" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "consumer find_package: pkg-config cflags lack -I${prefix}/include: ${pc_cflags}")
  endif()
  step("pkg-config --libs ukikit" ${pc} --libs ukikit)
  string(STRIP "${step_output}" pc_libs)
  separate_arguments(pc_cflags_list UNIX_COMMAND "${pc_cflags}")
  separate_arguments(pc_libs_list UNIX_COMMAND "${pc_libs}")
  step("compile with pkg-config flags" "${CXX_COMPILER}" ${pc_cflags_list} -Wall -Wextra -Werror
       "-DUKIKIT_EXPECTED_VERSION=\"${EXPECTED_VERSION}\"" "${SOURCE_DIR}/tests/consumer/main.cpp"
       -o "${WORK_DIR}/pkg-config-consumer" ${pc_libs_list})
  step("run pkg-config consumer" "${WORK_DIR}/pkg-config-consumer")
  message(STATUS "${step_output}")

  # The CMake package locates itself: move the prefix, then consume it.
  file(RENAME "${prefix}" "${moved}")
  build_and_run_consumer("-DCMAKE_PREFIX_PATH=${moved}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
  # The package must have been found in the moved prefix, not elsewhere.
  file(STRINGS "${WORK_DIR}/consumer-build/CMakeCache.txt" found_dir REGEX "^ukikit_DIR:")
  if(NOT found_dir MATCHES "moved-prefix")
    message(FATAL_ERROR "consumer find_package: ukikit found in the wrong place: ${found_dir}")
  endif()
elseif(MODE STREQUAL "add_subdirectory")
  build_and_run_consumer("-DUKIKIT_SOURCE_TREE=${SOURCE_DIR}")
else()
  message(FATAL_ERROR "run.cmake: unknown MODE '${MODE}'")
endif()

message(STATUS "consumer ${MODE}: OK")
