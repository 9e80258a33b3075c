# The CUDA backend (native/cuda) as a static library `biofeg_cuda`. The top-level CMakeLists.txt
# does enable_language(CUDA), include()s this file, and links biofeg_cuda into the addon.
# cuBLAS is not linked: cublas_loader.cpp dlopens it at run time.
set(BIOFEG_CUDA_ARCHS "80;90" CACHE STRING "CUDA architectures of the biofeg CUDA backend (e.g. 80;90)")
find_package(CUDAToolkit REQUIRED)

set(_biofeg_cuda_dir "${CMAKE_CURRENT_LIST_DIR}")
# One .cu file per op family (BIOFEG_FAMILIES, CMakeLists.txt), plus the hand-written GEMM.
set(_biofeg_cu "${_biofeg_cuda_dir}/gemm_fallback.cu")
foreach(_f ${BIOFEG_FAMILIES})
  list(APPEND _biofeg_cu "${_biofeg_cuda_dir}/${_f}.cu")
endforeach()
add_library(biofeg_cuda STATIC
  "${_biofeg_cuda_dir}/runtime.cpp"
  "${_biofeg_cuda_dir}/cublas_loader.cpp"
  ${_biofeg_cu})
set_target_properties(biofeg_cuda PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  CUDA_ARCHITECTURES "${BIOFEG_CUDA_ARCHS}"
  CUDA_RUNTIME_LIBRARY Static
  CUDA_SEPARABLE_COMPILATION OFF
  CUDA_STANDARD 17
  CUDA_STANDARD_REQUIRED ON
  CXX_STANDARD 17
  CXX_STANDARD_REQUIRED ON)
# native/, spelled as the stub build spells it, so that switching backends recompiles no binding.
get_filename_component(_biofeg_native_dir "${_biofeg_cuda_dir}/.." ABSOLUTE)
target_include_directories(biofeg_cuda PUBLIC "${_biofeg_native_dir}")
# No fast-math anywhere: the CUDA kernels are checked for parity against the CPU reference.
target_link_libraries(biofeg_cuda PRIVATE CUDA::cudart_static ${CMAKE_DL_LIBS})
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  # Keep the static cudart's symbols out of the addon's dynamic symbol table.
  target_link_options(biofeg_cuda INTERFACE "LINKER:--exclude-libs,libcudart_static.a")
endif()

# A standalone parity check of every CUDA op against the reference backend (needs a GPU):
#   cmake -DBIOFEG_CUDA_SELFTEST=ON ... && make biofeg_cuda_selftest && ./biofeg_cuda_selftest
option(BIOFEG_CUDA_SELFTEST "Build biofeg_cuda_selftest (CUDA ops vs the CPU reference)" OFF)
if(BIOFEG_CUDA_SELFTEST)
  add_executable(biofeg_cuda_selftest "${_biofeg_cuda_dir}/selftest.cpp" ${BIOFEG_REF_SOURCES} ${BIOFEG_CHECK_SOURCES})
  set_target_properties(biofeg_cuda_selftest PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
  target_link_libraries(biofeg_cuda_selftest PRIVATE biofeg_cuda CUDA::cudart_static)
endif()
