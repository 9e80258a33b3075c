// cuemu stand-in for <cuda_runtime.h>.
#pragma once
#include "cuda_runtime_api.h"
#include "cuemu.h"
