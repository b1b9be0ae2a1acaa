#include "models/max_pool_relu.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdint>

namespace sketch {
namespace {

// An element's bits as a signed integer of its width (Int), and the bit patterns the pool needs.
// may_alias: the storage holds floats or c10::BFloat16 written by ATen's kernels.
struct Bf16Bits {  // bfloat16: 1 sign, 8 exponent, 7 mantissa bits
  typedef int16_t __attribute__((may_alias)) Int;
  static constexpr int16_t kMagnitude = 0x7FFF;
  static constexpr int16_t kInfinity = 0x7F80;
  static constexpr int16_t kQuietNan = 0x7FC0;
};
struct Fp32Bits {  // float32
  typedef int32_t __attribute__((may_alias)) Int;
  static constexpr int32_t kMagnitude = 0x7FFFFFFF;
  static constexpr int32_t kInfinity = 0x7F800000;
  static constexpr int32_t kQuietNan = 0x7FC00000;
};

struct Shape {
  int64_t h, w, c;  // input rows, columns, channels (channels innermost)
  int64_t out_h, out_w;
};

// Output rows [begin, end) of the flattened (image, output row) range. Each output pixel's C
// channels are the max of up to 3 x 3 input pixels' C contiguous channels: the innermost loop runs
// over channels, contiguous in both tensors, so it vectorizes (SSE2's pmaxsw for bfloat16).
// Always inlined, so each instruction-set wrapper below compiles it with its own vector width.
template <typename T>
[[gnu::always_inline]] inline void PoolRows(const typename T::Int* __restrict in,
                                            typename T::Int* __restrict out, const Shape& s,
                                            int64_t begin, int64_t end) {
  using Bits = typename T::Int;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / s.out_h;
    const int64_t oh = row % s.out_h;
    const int64_t h0 = std::max<int64_t>(2 * oh - 1, 0);
    const int64_t h1 = std::min<int64_t>(2 * oh + 1, s.h - 1);
    for (int64_t ow = 0; ow < s.out_w; ++ow) {
      const int64_t w0 = std::max<int64_t>(2 * ow - 1, 0);
      const int64_t w1 = std::min<int64_t>(2 * ow + 1, s.w - 1);
      Bits* __restrict dst = out + ((n * s.out_h + oh) * s.out_w + ow) * s.c;
      std::fill(dst, dst + s.c, Bits{0});  // +0.0: the ReLU's floor
      for (int64_t h = h0; h <= h1; ++h) {
        for (int64_t w = w0; w <= w1; ++w) {
          const Bits* __restrict src = in + ((n * s.h + h) * s.w + w) * s.c;
          for (int64_t c = 0; c < s.c; ++c) {
            const Bits v = src[c];
            // Any NaN (either sign) becomes the positive quiet NaN, larger than +inf as an integer.
            const Bits key = static_cast<Bits>(v & T::kMagnitude) > T::kInfinity ? T::kQuietNan : v;
            dst[c] = dst[c] > key ? dst[c] : key;
          }
        }
      }
    }
  }
}

// The build targets baseline x86-64 (SSE2: 16-byte vectors); the pool is compute-bound there, so
// it is also compiled for AVX2 and AVX-512 and chosen by what the CPU has (measured in
// bench/models_bench.cc's BM_ReluMaxPool).
template <typename T>
using PoolRowsFn = void (*)(const typename T::Int*, typename T::Int*, const Shape&, int64_t,
                            int64_t);

template <typename T>
void PoolRowsBaseline(const typename T::Int* in, typename T::Int* out, const Shape& s,
                      int64_t begin, int64_t end) {
  PoolRows<T>(in, out, s, begin, end);
}

#if defined(__x86_64__) && defined(__GNUC__)
template <typename T>
__attribute__((target("avx2"))) void PoolRowsAvx2(const typename T::Int* in, typename T::Int* out,
                                                  const Shape& s, int64_t begin, int64_t end) {
  PoolRows<T>(in, out, s, begin, end);
}

template <typename T>
__attribute__((target("avx512f,avx512bw"))) void PoolRowsAvx512(const typename T::Int* in,
                                                                typename T::Int* out,
                                                                const Shape& s, int64_t begin,
                                                                int64_t end) {
  PoolRows<T>(in, out, s, begin, end);
}
#endif

template <typename T>
PoolRowsFn<T> BestPoolRows() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
    return PoolRowsAvx512<T>;
  }
  if (__builtin_cpu_supports("avx2")) return PoolRowsAvx2<T>;
#endif
  return PoolRowsBaseline<T>;
}

template <typename T>
void Pool(const torch::Tensor& x, torch::Tensor& y, const Shape& s) {
  static const PoolRowsFn<T> pool_rows = BestPoolRows<T>();
  const auto* in = static_cast<const typename T::Int*>(x.data_ptr());
  auto* out = static_cast<typename T::Int*>(y.data_ptr());
  at::parallel_for(0, x.size(0) * s.out_h, /*grain_size=*/1,
                   [&](int64_t begin, int64_t end) { pool_rows(in, out, s, begin, end); });
}

}  // namespace

bool CanUseMaxPoolRelu(const torch::Tensor& x) {
  return x.defined() && x.device().is_cpu() && x.layout() == torch::kStrided && x.dim() == 4 &&
         x.numel() > 0 &&
         (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16) &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast) && !x.requires_grad();
}

torch::Tensor MaxPoolRelu(const torch::Tensor& x) {
  TORCH_CHECK(
      CanUseMaxPoolRelu(x),
      "MaxPoolRelu needs a non-empty channels-last float32 or bfloat16 CPU tensor [N, C, H, "
      "W] that does not require grad");
  const Shape s{x.size(2), x.size(3), x.size(1), (x.size(2) - 1) / 2 + 1, (x.size(3) - 1) / 2 + 1};
  torch::Tensor y = torch::empty({x.size(0), s.c, s.out_h, s.out_w},
                                 x.options().memory_format(torch::MemoryFormat::ChannelsLast));
  if (x.scalar_type() == torch::kBFloat16) {
    Pool<Bf16Bits>(x, y, s);
  } else {
    Pool<Fp32Bits>(x, y, s);
  }
  return y;
}

}  // namespace sketch
