# Makes the environment variable BIOFEG_CUDA hold in a build folder that is already configured.
#
# `cmake-js compile` (npm run build:*) and `cmake --build` only run the build tool in an existing
# folder; CMake configures again only when a file it depends on changed, never because an
# environment variable did. So `BIOFEG_CUDA=OFF cmake-js compile` after a CUDA build would keep
# the CUDA backend ("no work to do"). Here:
#   - configure writes the value it saw into <build>/biofeg-env.stamp (only when it changed), and
#     the stamp is a configure dependency (a newer stamp makes the build tool rerun CMake);
#   - a check (this file in script mode) runs at the start of every build and rewrites the stamp
#     when the environment now says something else.
# With Ninja the stamp is a byproduct of that check and build.ninja depends on it, so Ninja runs
# the check while it decides whether build.ninja is up to date (restat: an unchanged stamp changes
# nothing), reconfigures at once with the new value and builds the right variant in the same run.
# With other generators the check runs as the first target of the build; on a change it stops
# that build with a message, and the next run reconfigures (cmake-js compile retries by itself).

set(_biofeg_env_vars BIOFEG_CUDA)

# The stamp's text: one "NAME=value" line per variable ("<unset>" when not set).
function(_biofeg_env_text out)
  set(t "")
  foreach(v IN LISTS _biofeg_env_vars)
    if(DEFINED ENV{${v}})
      string(APPEND t "${v}=$ENV{${v}}\n")
    else()
      string(APPEND t "${v}=<unset>\n")
    endif()
  endforeach()
  set(${out} "${t}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE)
  # cmake -DSTAMP=<file> [-DSTOP_ON_CHANGE=ON] -P build_env.cmake
  _biofeg_env_text(now)
  set(old "")
  if(EXISTS "${STAMP}")
    file(READ "${STAMP}" old)
  endif()
  if(NOT old STREQUAL now)
    file(WRITE "${STAMP}" "${now}")
    string(STRIP "${old}" o)
    string(STRIP "${now}" n)
    string(REPLACE "\n" ", " o "${o}")
    string(REPLACE "\n" ", " n "${n}")
    if(STOP_ON_CHANGE)
      message(FATAL_ERROR "biofeg: the build environment changed (${o} -> ${n}) since this folder was "
                          "configured; it has been marked for reconfiguration: run the build again.")
    endif()
    message(STATUS "biofeg: the build environment changed (${o} -> ${n}): reconfiguring")
  endif()
  return()
endif()

set(_biofeg_env_script "${CMAKE_CURRENT_LIST_FILE}")

function(biofeg_env_stamp_configure)
  set(stamp "${CMAKE_BINARY_DIR}/biofeg-env.stamp")
  _biofeg_env_text(now)
  set(old "")
  if(EXISTS "${stamp}")
    file(READ "${stamp}" old)
  endif()
  if(NOT old STREQUAL now)
    file(WRITE "${stamp}" "${now}")
  endif()
  set_property(DIRECTORY "${CMAKE_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${stamp}")
endfunction()

# The check, ordered before the given targets.
function(biofeg_env_check_target)
  set(stamp "${CMAKE_BINARY_DIR}/biofeg-env.stamp")
  set(always "${CMAKE_BINARY_DIR}/biofeg-env-check.always")  # never created: the check always runs
  set(stop ON)
  if(CMAKE_GENERATOR MATCHES "Ninja")
    set(stop OFF)
  endif()
  add_custom_command(OUTPUT "${always}" BYPRODUCTS "${stamp}"
    COMMAND "${CMAKE_COMMAND}" "-DSTAMP=${stamp}" "-DSTOP_ON_CHANGE=${stop}" -P "${_biofeg_env_script}"
    COMMENT "biofeg: checking the build environment (BIOFEG_CUDA)"
    VERBATIM)
  set_source_files_properties("${always}" PROPERTIES SYMBOLIC TRUE)
  add_custom_target(biofeg_env_check ALL DEPENDS "${always}")
  foreach(t IN LISTS ARGN)
    add_dependencies(${t} biofeg_env_check)
  endforeach()
endfunction()
