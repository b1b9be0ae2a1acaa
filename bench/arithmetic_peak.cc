#include "bench/arithmetic_peak.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace sketch {
namespace {

struct Kernel {
  float (*run)(int64_t blocks) = nullptr;
  double flop_per_instruction = 0;
  const char* instruction = "";
};

#if defined(__x86_64__)

// Independent accumulators per loop: enough to cover a multiply-add's latency (4-5 cycles) times
// the units issuing it (2) on current x86 cores, so the loop is throughput-bound.
constexpr int kChains = 12;
// Multiply-adds per chain between clock reads: long enough that the reads cost nothing.
constexpr int64_t kBlock = 1 << 16;

// Not _mm512_reduce_add_ps: GCC 12 warns inside it (an "uninitialized" _mm256_undefined_pd).
__attribute__((target("avx512f"))) float SumLanes(const __m512 (&acc)[kChains]) {
  alignas(64) float lanes[16];
  float sum = 0;
  for (int i = 0; i < kChains; ++i) {
    _mm512_store_ps(lanes, acc[i]);
    for (float x : lanes) sum += x;
  }
  return sum;
}

__attribute__((target("avx2"))) float SumLanes(const __m256 (&acc)[kChains]) {
  alignas(32) float lanes[8];
  float sum = 0;
  for (int i = 0; i < kChains; ++i) {
    _mm256_store_ps(lanes, acc[i]);
    for (float x : lanes) sum += x;
  }
  return sum;
}

// Each kernel runs `blocks` blocks of kChains x kBlock instructions and returns a value that
// depends on every accumulator, so the compiler keeps them all.
__attribute__((target("avx512f"))) float Fp32Zmm(int64_t blocks) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t n = 0; n < blocks * kBlock; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  return SumLanes(acc);
}

__attribute__((target("avx2,fma"))) float Fp32Ymm(int64_t blocks) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t n = 0; n < blocks * kBlock; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  return SumLanes(acc);
}

__attribute__((target("avx512f,avx512bf16"))) float Bf16Zmm(int64_t blocks) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  // 0x3c00 is bf16 0.0078125: sums stay finite however long the loop runs.
  const __m512bh a = reinterpret_cast<__m512bh>(_mm512_set1_epi16(0x3c00));
  for (int64_t n = 0; n < blocks * kBlock; ++n) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, a);
  }
  return SumLanes(acc);
}

Kernel PickKernel(PeakKind kind) {
  __builtin_cpu_init();
  if (kind == PeakKind::kFp32Fma) {
    if (__builtin_cpu_supports("avx512f")) return {Fp32Zmm, 16 * 2, "vfmadd231ps zmm"};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      return {Fp32Ymm, 8 * 2, "vfmadd231ps ymm"};
    }
    return {nullptr, 0, "no AVX2 FMA"};
  }
  if (__builtin_cpu_supports("amx-bf16")) {
    return {nullptr, 0, "AMX: bf16 convolutions run on tiles, not measured"};
  }
  if (__builtin_cpu_supports("avx512bf16")) return {Bf16Zmm, 16 * 4, "vdpbf16ps zmm"};
  return {nullptr, 0, "no AVX512_BF16"};
}
#else
Kernel PickKernel(PeakKind) { return {nullptr, 0, "not measured on this architecture"}; }
#endif

}  // namespace

ArithmeticPeak MeasureArithmeticPeak(PeakKind kind, int threads, double seconds) {
  const Kernel kernel = PickKernel(kind);
  ArithmeticPeak peak;
  peak.instruction = kernel.instruction;
  if (kernel.run == nullptr) return peak;
  threads = std::max(threads, 1);

  // Size the run from a one-block probe on this thread (which also wakes the vector units), so
  // every thread gets the same fixed work and the rate is work / slowest thread's wall time.
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now();
  volatile float sink = kernel.run(1);
  const double probe_s = std::chrono::duration<double>(Clock::now() - start).count();
  const int64_t blocks = std::max<int64_t>(1, static_cast<int64_t>(seconds / probe_s));

  std::vector<std::thread> workers;
  std::atomic<float> checksum{0};
  start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] { checksum.store(kernel.run(blocks), std::memory_order_relaxed); });
  }
  for (std::thread& w : workers) w.join();
  const double wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  sink = checksum.load();
  (void)sink;

  const double flop = static_cast<double>(threads) * static_cast<double>(blocks) * kBlock *
                      kChains * kernel.flop_per_instruction;
  peak.supported = true;
  peak.gflop_per_s = flop / wall_s / 1e9;
  return peak;
}

}  // namespace sketch
