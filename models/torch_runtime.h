// Runtime knobs for the CNNs: the device, thread counts, bf16 autocast and the channels-last
// layout. Each is a measured choice (see bench/models_bench.cc), not a default to apply blindly.
#ifndef SKETCH_MODELS_TORCH_RUNTIME_H_
#define SKETCH_MODELS_TORCH_RUNTIME_H_

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sketch {

// True when the CPU has native bf16 arithmetic (avx512_bf16 or amx_bf16 in /proc/cpuinfo).
// Without it oneDNN emulates bf16 and it is slower than fp32. Read once; thread-safe.
bool CpuSupportsBf16();

// True when this build links a LibTorch with CUDA (SKETCH_LIBTORCH=pytorch-cuda), whether or
// not a GPU is present.
bool CudaBuild();

// Where the CNNs run, as --device spells it: "cpu", "cuda" or "cuda:N". InvalidArgument for
// another name; FailedPrecondition for a CUDA device this process cannot use, saying why (a
// build without CUDA, no GPU visible, or fewer GPUs than N+1).
absl::StatusOr<c10::Device> ParseDevice(absl::string_view name);

enum class Precision { kAuto, kFp32, kBf16 };

// "auto", "fp32", "bf16" (as the flags spell them); InvalidArgument otherwise.
absl::StatusOr<Precision> ParsePrecision(absl::string_view name);
// The inverse of ParsePrecision.
absl::string_view PrecisionName(Precision precision);
// On CPU kAuto -> kBf16 when CpuSupportsBf16(), else kFp32; on CUDA kAuto -> kBf16 (every GPU
// the wheel targets that trains at speed has bf16 tensor cores). kFp32 and kBf16 are kept.
Precision ResolvePrecision(Precision precision, c10::DeviceType device = c10::kCPU);

// Sets ATen's intra-op threads (the ones a conv uses) to `threads`, or to the CPUs this process
// may run on when threads <= 0. Also sets the inter-op pool to the same count on the first call;
// torch allows that only before any inter-op work, so later calls change intra-op only.
// Process-wide: call it at startup, not per request.
void SetTorchThreads(int threads);

// While alive on this thread, ops on `device` run under bf16 autocast (convs and linears in
// bf16, precision-sensitive ops in fp32) when `precision` resolves to kBf16; a no-op for kFp32.
// Restores the previous autocast state on destruction and, when it was the outermost scope,
// drops autocast's cache of bf16 weight copies (stale once the weights change). Autocast state
// is thread-local: create the scope on the thread that runs Forward. Not movable.
class AutocastScope {
 public:
  explicit AutocastScope(Precision precision, c10::DeviceType device = c10::kCPU);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

  bool active() const { return active_; }

 private:
  bool active_ = false;
  c10::DeviceType device_ = c10::kCPU;
  bool previous_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::BFloat16;
};

// True when ops on `device` run under bf16 autocast on this thread (an AutocastScope is alive
// or the caller enabled it), in every LibTorch this builds with.
bool Bf16AutocastEnabled(c10::DeviceType device = c10::kCPU);

// Converts every 4-d parameter and buffer of `module` (conv weights) to the channels-last
// (NHWC) layout in place, which oneDNN convolves without reordering. Shapes and values do not
// change. Call outside InferenceMode; not thread-safe with a concurrent Forward.
void ToChannelsLast(torch::nn::Module* module);
// images: [N, C, H, W] -> the same values, channels-last strides.
torch::Tensor ToChannelsLast(const torch::Tensor& images);

// For an inference-only model whose BatchNorm is folded (MakeInferenceCopy's, or after
// FoldBatchNorm) and that runs under AutocastScope(kBf16): stores its floating-point parameters
// in bf16 once, so autocast stops casting the conv and linear weights from fp32 at every batch
// (fc_1 alone is 16.8M values at 128x128). Outputs are bit-identical: autocast rounds the same
// fp32 values to bf16 either way. Keeps memory formats (call before or after ToChannelsLast).
// Forward still needs the AutocastScope (the images stay float32). No-op unless `precision`
// resolves to kBf16. Not for training or an unfolded model (BatchNorm would run on bf16
// parameters). Call outside InferenceMode; not thread-safe with a concurrent Forward.
void CastWeightsForInference(torch::nn::Module* module, Precision precision);

// Makes glibc's malloc serve every block from its heap and keep freed memory there, instead of
// mmap-ing fresh pages for each block over the mmap threshold (tensors of tens of MB: bf16
// activations at batch 32, fc_1's weight and gradient, Adam's temporaries) and page-faulting
// them in, zeroed by the kernel, at every step. Measured (bench/models_bench.cc --malloc=heap,
// bf16 training step, batch 32, loaded 2-core machine): system time down ~3/4, images per
// CPU-second up ~15-20%; the price is a higher peak RSS (+30% for skResNet training, 1.46 ->
// 1.89 GB, from fragmentation) that is never given back to the system.
// Process-wide; call once at startup before the big allocations. Returns false if glibc
// refused a setting or the build is not against glibc; no effect under ASan, which brings its
// own allocator.
bool KeepLargeAllocationsInHeap();

}  // namespace sketch

#endif  // SKETCH_MODELS_TORCH_RUNTIME_H_
