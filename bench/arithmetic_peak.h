// The CPU's arithmetic peak, measured: how many floating-point operations per second a few
// threads reach on register-resident multiply-adds with no memory traffic. It is the roof a
// convolution's FLOP rate is read against (docs/results.md, "How close to the roof").
//
//   ArithmeticPeak peak = MeasureArithmeticPeak(PeakKind::kBf16Dot, /*threads=*/2, 0.5);
//   if (peak.supported) printf("%s: %.0f GFLOP/s\n", peak.instruction, peak.gflop_per_s);
//
// fp32: fused multiply-adds on the widest vectors the CPU has (AVX-512 zmm, else AVX2 ymm), 2
// FLOP per lane. bf16: AVX512_BF16's vdpbf16ps, 2 bf16 products summed into each fp32 lane (4
// FLOP per lane), the instruction oneDNN's bf16 convolutions run on a CPU without AMX. A CPU
// with AMX tiles runs bf16 convolutions on them instead, far above vdpbf16ps: there the bf16
// peak is reported unsupported rather than understated.
//
// Thread-safe; each call starts `threads` threads of its own and joins them before returning.
#ifndef SKETCH_BENCH_ARITHMETIC_PEAK_H_
#define SKETCH_BENCH_ARITHMETIC_PEAK_H_

namespace sketch {

enum class PeakKind { kFp32Fma, kBf16Dot };

struct ArithmeticPeak {
  bool supported = false;
  // The instruction measured ("vfmadd231ps zmm", ...) or why nothing was ("no AVX512_BF16").
  const char* instruction = "";
  double gflop_per_s = 0;  // all threads together; 0 when !supported
};

// Runs the kind's multiply-add loop on `threads` threads (>= 1) for about `seconds` of wall
// time and returns their summed rate.
ArithmeticPeak MeasureArithmeticPeak(PeakKind kind, int threads, double seconds);

}  // namespace sketch

#endif  // SKETCH_BENCH_ARITHMETIC_PEAK_H_
