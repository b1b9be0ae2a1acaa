#include "models/torch_runtime.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <malloc.h>
#include <sched.h>
#include <torch/torch.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"

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

}  // namespace

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

Precision ResolvePrecision(Precision precision) {
  if (precision != Precision::kAuto) return precision;
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

AutocastScope::AutocastScope(Precision precision) {
  if (ResolvePrecision(precision) != Precision::kBf16) return;
  active_ = true;
  previous_enabled_ = at::autocast::is_cpu_enabled();
  previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // As torch.autocast does: only the outermost scope drops the cached bf16 weight copies.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_cpu_dtype(previous_dtype_);
  at::autocast::set_cpu_enabled(previous_enabled_);
}

void ToChannelsLast(torch::nn::Module* module) {
  torch::NoGradGuard no_grad;
  for (torch::Tensor& p : module->parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  for (torch::Tensor& b : module->buffers()) {
    if (b.dim() == 4) b.set_data(b.contiguous(torch::MemoryFormat::ChannelsLast));
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
