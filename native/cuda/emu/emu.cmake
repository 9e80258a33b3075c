# The CUDA backend built for cuemu, the CPU emulator (BIOFEG_CUDA=EMU): the same sources,
# compiled by the C++ compiler against emu/include instead of the CUDA toolkit, as the static
# library `biofeg_cuda`. A test build: `cuda` tensors live in host memory and every kernel runs
# on fibers, so the CUDA code paths can be executed and compared on a machine without a GPU.
set(_cuemu_dir "${CMAKE_CURRENT_LIST_DIR}")
set(_cuda_dir "${_cuemu_dir}/..")
set(_cuemu_gen "${CMAKE_CURRENT_BINARY_DIR}/cuemu")
set(_cuemu_srcs "${_cuda_dir}/runtime.cpp" "${_cuda_dir}/cublas_loader.cpp" "${_cuemu_dir}/cuemu.cpp" "${_cuemu_dir}/cudart_emu.cpp" "${_cuemu_dir}/cublas_emu.cpp")
function(_cuemu_rewrite cu out)
  add_custom_command(OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DIN=${cu} -DOUT=${out} -P ${_cuemu_dir}/rewrite.cmake
    DEPENDS "${cu}" "${_cuemu_dir}/rewrite.cmake"
    COMMENT "cuemu: rewriting ${cu}")
endfunction()
foreach(_cu gemm_fallback ${BIOFEG_FAMILIES})
  _cuemu_rewrite("${_cuda_dir}/${_cu}.cu" "${_cuemu_gen}/${_cu}.cpp")
  list(APPEND _cuemu_srcs "${_cuemu_gen}/${_cu}.cpp")
endforeach()
file(MAKE_DIRECTORY "${_cuemu_gen}")
add_library(biofeg_cuda STATIC ${_cuemu_srcs})
set_target_properties(biofeg_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
# emu/include stands in for the toolkit's headers; native/cuda resolves the kernels' own includes.
target_include_directories(biofeg_cuda BEFORE PRIVATE "${_cuemu_dir}/include" "${_cuda_dir}")
get_filename_component(_biofeg_native_dir "${_cuda_dir}/.." ABSOLUTE)
target_include_directories(biofeg_cuda PUBLIC "${_biofeg_native_dir}")
# -ffp-contract=off: __fmul_rn and friends must round once per operation, as on the device.
# -fno-strict-aliasing: kernels reuse a __shared__ buffer under another type (k_gemm_tc's bf16
# stages become its f32 epilogue scratch), which nvcc permits.
target_compile_options(biofeg_cuda PRIVATE -ffp-contract=off -fno-strict-aliasing)
target_compile_definitions(biofeg_cuda PRIVATE BIOFEG_CUEMU=1)
target_link_libraries(biofeg_cuda PRIVATE ${CMAKE_DL_LIBS})

# Both selftests are always built here (the whole point of an emulated build): the backend's
# biofeg_cuda_selftest, and cuemu_selftest, the emulator's own test.
add_executable(biofeg_cuda_selftest "${_cuda_dir}/selftest.cpp" ${BIOFEG_REF_SOURCES} ${BIOFEG_CHECK_SOURCES})
set_target_properties(biofeg_cuda_selftest PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
target_include_directories(biofeg_cuda_selftest BEFORE PRIVATE "${_cuemu_dir}/include")
target_link_libraries(biofeg_cuda_selftest PRIVATE biofeg_cuda)
# The emulator's own test: correct kernels run right, each bug class it claims to catch is caught.
_cuemu_rewrite("${_cuemu_dir}/emu_selftest.cu" "${_cuemu_gen}/emu_selftest.cpp")
add_executable(cuemu_selftest "${_cuemu_gen}/emu_selftest.cpp")
set_target_properties(cuemu_selftest PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
target_include_directories(cuemu_selftest BEFORE PRIVATE "${_cuemu_dir}/include" "${_cuemu_dir}")
target_compile_options(cuemu_selftest PRIVATE -ffp-contract=off)
target_link_libraries(cuemu_selftest PRIVATE biofeg_cuda)
