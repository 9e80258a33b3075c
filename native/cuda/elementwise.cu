// CUDA kernels of the elementwise family: grid-stride loops, one element per thread step, f32
// arithmetic whatever the storage type. The formulas are those of cpu/ref/elementwise.cpp.
#include "../core/philox.h"
#include "common.cuh"

namespace biofeg::cuda {
namespace {

constexpr int kThreads = 256;

// y[i] = f(a[i], b[i], i); b may be null (unary ops). No __restrict__: y may alias a or b.
template <typename TI, typename TO, typename Fn>
__global__ void k_map(const TI* a, const TI* b, TO* y, int64_t n, Fn f) {
  for (int64_t i = gtid(); i < n; i += gstride()) y[i] = cvt<TO>(f(ld(a + i), b ? ld(b + i) : 0.0f, i));
}

// Operands share a dtype (the op's validator checked it).
template <typename Fn>
void map_same(const char* op, Buf a, Buf b, Buf y, int64_t n, Fn f) {
  if (n <= 0) return;
  BIOFEG_FLOAT_DISPATCH(a.t, op, T,
                        k_map<T, T><<<grid_for(n, kThreads), kThreads>>>(static_cast<const T*>(a.p),
                                                                          static_cast<const T*>(b.p),
                                                                          static_cast<T*>(y.p), n, f));
  check_launch(op);
}

struct FIdent {
  __device__ float operator()(float x, float, int64_t) const { return x; }
};
struct FAdd {
  __device__ float operator()(float a, float b, int64_t) const { return a + b; }
};
struct FAxpy {  // (x, y) -> y + alpha * x
  float alpha;
  __device__ float operator()(float x, float y, int64_t) const { return y + alpha * x; }
};
struct FScale {
  float s;
  __device__ float operator()(float x, float, int64_t) const { return s * x; }
};
struct FGelu {
  __device__ float operator()(float x, float, int64_t) const { return gelu_f(x); }
};
struct FGeluBwd {
  __device__ float operator()(float x, float dy, int64_t) const { return dy * gelu_grad_f(x); }
};
struct FRelu {
  __device__ float operator()(float x, float, int64_t) const { return x > 0 ? x : 0.0f; }
};
struct FReluBwd {
  __device__ float operator()(float x, float dy, int64_t) const { return x > 0 ? dy : 0.0f; }
};
struct FLeaky {
  float s;
  __device__ float operator()(float x, float, int64_t) const { return x > 0 ? x : s * x; }
};
struct FLeakyBwd {
  float s;
  __device__ float operator()(float x, float dy, int64_t) const { return x > 0 ? dy : s * dy; }
};
struct FTanh {
  __device__ float operator()(float x, float, int64_t) const { return tanhf(x); }
};
struct FTanhBwd {  // from the output y
  __device__ float operator()(float y, float dy, int64_t) const { return dy * (1.0f - y * y); }
};
struct FSilu {
  __device__ float operator()(float x, float, int64_t) const { return x / (1.0f + expf(-x)); }
};
struct FSiluBwd {
  __device__ float operator()(float x, float dy, int64_t) const {
    const float s = 1.0f / (1.0f + expf(-x));
    return dy * s * (1.0f + x * (1.0f - s));
  }
};
struct FDropout {
  float p, s;
  uint64_t seed, offset;
  __device__ float operator()(float x, float, int64_t i) const {
    return dropout_keep(seed, offset + static_cast<uint64_t>(i), p) ? x * s : 0.0f;
  }
};

template <typename T>
__global__ void k_fill(T* y, int64_t n, T v) {
  for (int64_t i = gtid(); i < n; i += gstride()) y[i] = v;
}

template <typename T>
__global__ void k_concat_fwd(const T* a, const T* b, T* y, int64_t N, int64_t Ca, int64_t Cb) {
  const int64_t C = Ca + Cb, n = N * C;
  for (int64_t i = gtid(); i < n; i += gstride()) {
    const int64_t r = i / C, c = i - r * C;
    y[i] = c < Ca ? a[r * Ca + c] : b[r * Cb + (c - Ca)];
  }
}
template <typename T>
__global__ void k_concat_bwd(const T* dy, T* da, T* db, int64_t N, int64_t Ca, int64_t Cb) {
  const int64_t C = Ca + Cb, n = N * C;
  for (int64_t i = gtid(); i < n; i += gstride()) {
    const int64_t r = i / C, c = i - r * C;
    if (c < Ca) da[r * Ca + c] = dy[i];
    else db[r * Cb + (c - Ca)] = dy[i];
  }
}

template <typename T>
__global__ void k_row_axpy(const float* a, const T* x, T* y, int64_t N, int64_t C) {
  const int64_t n = N * C;
  for (int64_t i = gtid(); i < n; i += gstride()) y[i] = cvt<T>(ld(y + i) + a[i / C] * ld(x + i));
}

}  // namespace

namespace ops {

void fill(Buf y, int64_t n, float value) {
  if (n <= 0) return;
  switch (y.t) {
    case DType::F32: k_fill<float><<<grid_for(n, kThreads), kThreads>>>(y.f32(), n, value); break;
    case DType::BF16:
      k_fill<bf16><<<grid_for(n, kThreads), kThreads>>>(static_cast<bf16*>(y.p), n, __float2bfloat16_rn(value));
      break;
    case DType::I32:
      k_fill<int32_t><<<grid_for(n, kThreads), kThreads>>>(y.i32(), n, static_cast<int32_t>(value));
      break;
  }
  check_launch("fill");
}

void cast(Buf x, Buf y, int64_t n) {
  if (n <= 0) return;
  BIOFEG_FLOAT_DISPATCH(x.t, "cast", TI, BIOFEG_FLOAT_DISPATCH(y.t, "cast", TO, {
                          k_map<TI, TO><<<grid_for(n, kThreads), kThreads>>>(
                              static_cast<const TI*>(x.p), nullptr, static_cast<TO*>(y.p), n, FIdent{});
                        }));
  check_launch("cast");
}

void add(Buf a, Buf b, Buf y, int64_t n) { map_same("add", a, b, y, n, FAdd{}); }
void axpy(float alpha, Buf x, Buf y, int64_t n) { map_same("axpy", x, y, y, n, FAxpy{alpha}); }
void scale(Buf x, Buf y, int64_t n, float s) { map_same("scale", x, Buf{}, y, n, FScale{s}); }
void gelu_fwd(Buf x, Buf y, int64_t n) { map_same("gelu", x, Buf{}, y, n, FGelu{}); }
void gelu_bwd(Buf x, Buf dy, Buf dx, int64_t n) { map_same("gelu_bwd", x, dy, dx, n, FGeluBwd{}); }
void relu_fwd(Buf x, Buf y, int64_t n) { map_same("relu", x, Buf{}, y, n, FRelu{}); }
void relu_bwd(Buf x, Buf dy, Buf dx, int64_t n) { map_same("relu_bwd", x, dy, dx, n, FReluBwd{}); }
void leaky_relu_fwd(Buf x, Buf y, int64_t n, float s) { map_same("leaky_relu", x, Buf{}, y, n, FLeaky{s}); }
void leaky_relu_bwd(Buf x, Buf dy, Buf dx, int64_t n, float s) {
  map_same("leaky_relu_bwd", x, dy, dx, n, FLeakyBwd{s});
}
void tanh_fwd(Buf x, Buf y, int64_t n) { map_same("tanh", x, Buf{}, y, n, FTanh{}); }
void tanh_bwd(Buf y, Buf dy, Buf dx, int64_t n) { map_same("tanh_bwd", y, dy, dx, n, FTanhBwd{}); }
void silu_fwd(Buf x, Buf y, int64_t n) { map_same("silu", x, Buf{}, y, n, FSilu{}); }
void silu_bwd(Buf x, Buf dy, Buf dx, int64_t n) { map_same("silu_bwd", x, dy, dx, n, FSiluBwd{}); }

void dropout_fwd(Buf x, Buf y, int64_t n, float p, uint64_t seed, uint64_t offset) {
  const float s = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  map_same("dropout", x, Buf{}, y, n, FDropout{p, s, seed, offset});
}
void dropout_bwd(Buf dy, Buf dx, int64_t n, float p, uint64_t seed, uint64_t offset) {
  const float s = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;  // the same mask and scale as forward
  map_same("dropout_bwd", dy, Buf{}, dx, n, FDropout{p, s, seed, offset});
}

void concat_fwd(Buf a, Buf b, Buf y, int64_t N, int64_t Ca, int64_t Cb) {
  const int64_t n = N * (Ca + Cb);
  if (n <= 0) return;
  BIOFEG_FLOAT_DISPATCH(y.t, "concat", T,
                        k_concat_fwd<T><<<grid_for(n, kThreads), kThreads>>>(
                            static_cast<const T*>(a.p), static_cast<const T*>(b.p), static_cast<T*>(y.p), N, Ca, Cb));
  check_launch("concat");
}
void concat_bwd(Buf dy, Buf da, Buf db, int64_t N, int64_t Ca, int64_t Cb) {
  const int64_t n = N * (Ca + Cb);
  if (n <= 0) return;
  BIOFEG_FLOAT_DISPATCH(dy.t, "concat_bwd", T,
                        k_concat_bwd<T><<<grid_for(n, kThreads), kThreads>>>(
                            static_cast<const T*>(dy.p), static_cast<T*>(da.p), static_cast<T*>(db.p), N, Ca, Cb));
  check_launch("concat_bwd");
}

void row_axpy(Buf a, Buf x, Buf y, int64_t N, int64_t C) {
  if (N <= 0 || C <= 0) return;
  BIOFEG_FLOAT_DISPATCH(x.t, "row_axpy", T,
                        k_row_axpy<T><<<grid_for(N * C, kThreads), kThreads>>>(a.f32(), static_cast<const T*>(x.p),
                                                                               static_cast<T*>(y.p), N, C));
  check_launch("row_axpy");
}

}  // namespace ops
}  // namespace biofeg::cuda
