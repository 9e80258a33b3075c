// State shared by cuemu's scheduler (cuemu.cpp) and its cudart (cudart_emu.cpp).
#pragma once
#include <cstddef>
#include <string>

#include "include/cuda_runtime_api.h"

namespace cuemu {

constexpr size_t kSmemOptin = 227 * 1024;  // an sm_90 block's dynamic shared-memory ceiling
// Records the error that cudaGetLastError returns next (per host thread); returns e.
cudaError_t set_error(cudaError_t e, std::string msg);
// The dynamic shared memory a launch may use: 48 KiB, or the largest value any kernel was given
// with cudaFuncSetAttribute (a launch does not know which kernel it runs).
size_t max_dynamic_smem();

}  // namespace cuemu
