#include "models/torch_runtime.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <malloc.h>
#include <sched.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace sketch {
namespace {

bool ReadCpuinfoHasBf16() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    // The first "flags" line is representative: all cores of a host share the ISA.
    std::istringstream flags(line.substr(line.find(':') + 1));
    std::string flag;
    while (flags >> flag) {
      if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
    }
    return false;
  }
  return false;
}

int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  // The affinity mask, not the host's CPU count: containers and taskset narrow it.
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned int hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

// Autocast's per-device state. LibTorch 2.4 replaced the per-device functions (is_cpu_enabled,
// set_autocast_gpu_dtype, ...) with ones taking the device type and deprecated the old ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool AutocastEnabled(c10::DeviceType device) { return at::autocast::is_autocast_enabled(device); }
c10::ScalarType AutocastDtype(c10::DeviceType device) {
  return at::autocast::get_autocast_dtype(device);
}
void SetAutocast(c10::DeviceType device, bool enabled, c10::ScalarType dtype) {
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, dtype);
}
#else
bool AutocastEnabled(c10::DeviceType device) {
  return device == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
c10::ScalarType AutocastDtype(c10::DeviceType device) {
  return device == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                              : at::autocast::get_autocast_cpu_dtype();
}
void SetAutocast(c10::DeviceType device, bool enabled, c10::ScalarType dtype) {
  if (device == c10::kCUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
}
#endif

}  // namespace

bool CudaBuild() {
#if defined(SKETCH_TORCH_CUDA)
  return true;
#else
  return false;
#endif
}

absl::StatusOr<c10::Device> ParseDevice(absl::string_view name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  int index = 0;
  if (name != "cuda") {
    absl::string_view number = name;
    if (!absl::ConsumePrefix(&number, "cuda:") || !absl::SimpleAtoi(number, &index) || index < 0 ||
        index > 255) {
      return absl::InvalidArgumentError(
          absl::StrCat("device must be cpu, cuda or cuda:N, got \"", name, "\""));
    }
  }
  if (!CudaBuild()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--device ", name,
                     ": this build links LibTorch without CUDA; build with "
                     "`cmake --preset torch2-cuda` (scripts/setup.sh --libtorch pytorch-cuda)"));
  }
  const int64_t gpus = torch::cuda::device_count();
  if (gpus == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("--device ", name,
                     ": no CUDA GPU is visible to this process (driver missing, or "
                     "CUDA_VISIBLE_DEVICES empty)"));
  }
  if (index >= gpus) {
    return absl::FailedPreconditionError(
        absl::StrCat("--device ", name, ": only ", gpus, " CUDA GPU(s) are visible"));
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

bool CpuSupportsBf16() {
  static const bool supported = ReadCpuinfoHasBf16();
  return supported;
}

absl::StatusOr<Precision> ParsePrecision(absl::string_view name) {
  if (name == "auto") return Precision::kAuto;
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  return absl::InvalidArgumentError(
      absl::StrCat("precision must be auto, fp32 or bf16, got \"", name, "\""));
}

absl::string_view PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kAuto:
      return "auto";
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
  }
  return "unknown";
}

Precision ResolvePrecision(Precision precision, c10::DeviceType device) {
  if (precision != Precision::kAuto) return precision;
  if (device == c10::kCUDA) return Precision::kBf16;
  return CpuSupportsBf16() ? Precision::kBf16 : Precision::kFp32;
}

void SetTorchThreads(int threads) {
  const int count = threads > 0 ? threads : AvailableCpus();
  at::set_num_threads(count);
  try {
    at::set_num_interop_threads(count);
  } catch (const c10::Error&) {
    // Only allowed once and before any inter-op work; the intra-op count is what convs use.
  }
}

AutocastScope::AutocastScope(Precision precision, c10::DeviceType device) : device_(device) {
  if (ResolvePrecision(precision, device) != Precision::kBf16) return;
  active_ = true;
  previous_enabled_ = AutocastEnabled(device_);
  previous_dtype_ = AutocastDtype(device_);
  SetAutocast(device_, true, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // As torch.autocast does: only the outermost scope drops the cached bf16 weight copies.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  SetAutocast(device_, previous_enabled_, previous_dtype_);
}

bool Bf16AutocastEnabled(c10::DeviceType device) {
  return AutocastEnabled(device) && AutocastDtype(device) == at::kBFloat16;
}

namespace {

// A copy with channels-last strides, also where contiguous(ChannelsLast) keeps the tensor as
// it is: with one input channel ([64, 1, 3, 3], the first conv) the plain layout already counts
// as channels-last-contiguous, but ATen still reads its strides as NCHW and oneDNN then runs
// that conv with another kernel and reorders around it at every step (bench/onednn_profile.py
// showed it). Python's module.to(memory_format=...) restrides the same way.
torch::Tensor WithChannelsLastStrides(const torch::Tensor& t) {
  if (t.suggest_memory_format() == torch::MemoryFormat::ChannelsLast) return t;
  return torch::empty_like(t, t.options(), torch::MemoryFormat::ChannelsLast).copy_(t);
}

}  // namespace

void ToChannelsLast(torch::nn::Module* module) {
  torch::NoGradGuard no_grad;
  for (torch::Tensor& p : module->parameters()) {
    if (p.dim() == 4) p.set_data(WithChannelsLastStrides(p));
  }
  for (torch::Tensor& b : module->buffers()) {
    if (b.dim() == 4) b.set_data(WithChannelsLastStrides(b));
  }
}

torch::Tensor ToChannelsLast(const torch::Tensor& images) {
  return images.contiguous(torch::MemoryFormat::ChannelsLast);
}

void CastWeightsForInference(torch::nn::Module* module, Precision precision) {
  if (ResolvePrecision(precision) != Precision::kBf16) return;
  torch::NoGradGuard no_grad;
  for (torch::Tensor& p : module->parameters()) {
    // to() keeps the memory format (preserve_format), so channels-last weights stay so.
    if (p.is_floating_point()) p.set_data(p.to(torch::kBFloat16));
  }
}

bool KeepLargeAllocationsInHeap() {
#if defined(__GLIBC__)
  // No mmap-ed blocks at all (a threshold cannot exceed 32 MiB, smaller than many tensors),
  // and never trim the top of the heap back to the system.
  const bool no_mmap = mallopt(M_MMAP_MAX, 0) == 1;
  const bool no_trim = mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1;
  return no_mmap && no_trim;
#else
  return false;
#endif
}

}  // namespace sketch
