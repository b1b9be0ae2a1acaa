// Throughput of the study's CNNs on the CPU at 128x128, batch 32: eval forward under
// InferenceMode and one Adam training step, fp32 versus bf16 autocast + channels-last, with and
// without BatchNorm folded. Figures, not pass/fail; items_per_second is images per second.
//
//   sketch_models_bench [--threads=N] [google-benchmark flags]   (N defaults to 2)
#include <benchmark/benchmark.h>
#include <time.h>
#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/sketch_model.h"
#include "core/sknet.h"
#include "core/skresnet.h"
#include "core/torch_runtime.h"

namespace sketch {
namespace {

constexpr int kBatch = 32;
constexpr int kSize = 128;
constexpr int kClasses = 345;  // Quick, Draw!
constexpr int kWarmUp = 1;     // the first calls create oneDNN primitives

const char* const kArchitectures[] = {kSkNetName, kSkResNetName};

// Bit 0: bf16 autocast (else fp32). Bit 1: BatchNorm folded. Bit 2: channels-last (NHWC).
struct Variant {
  bool bf16;
  bool folded;
  bool channels_last;
};
Variant DecodeVariant(int64_t bits) { return {(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0}; }

std::string Label(int64_t architecture, const Variant& variant) {
  return std::string(kArchitectures[architecture]) + (variant.bf16 ? " bf16" : " fp32") +
         (variant.channels_last ? "+NHWC" : "") + (variant.folded ? " folded" : "");
}

// CPU seconds of all threads of the process. On a shared machine wall time measures the
// neighbours too; images per CPU-second of our own threads is steadier (OpenMP spin-waits are
// included, so it is a lower bound on efficiency).
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Runs the timed loop and sets items_per_second (wall, images/s) and images_per_cpu_s.
template <typename Fn>
void TimedLoop(benchmark::State& state, Fn&& fn) {
  for (int i = 0; i < kWarmUp; ++i) fn();
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) benchmark::DoNotOptimize(fn());
  const double cpu_seconds = ProcessCpuSeconds() - cpu_start;
  const double images = static_cast<double>(state.iterations()) * kBatch;
  state.SetItemsProcessed(static_cast<int64_t>(images));
  state.counters["images_per_cpu_s"] = cpu_seconds > 0 ? images / cpu_seconds : 0;
}

std::shared_ptr<SketchModel> BuildOrDie(int64_t architecture, benchmark::State& state) {
  auto model = MakeSketchModel(kArchitectures[architecture], {kClasses, kSize});
  if (!model.ok()) state.SkipWithError(std::string(model.status().message()).c_str());
  return model.ok() ? *model : nullptr;
}

void BM_Forward(benchmark::State& state) {
  const Variant variant = DecodeVariant(state.range(1));
  torch::manual_seed(1);
  auto model = BuildOrDie(state.range(0), state);
  if (model == nullptr) return;
  model->eval();
  if (variant.folded && !FoldBatchNorm(model.get()).ok()) {
    state.SkipWithError("FoldBatchNorm failed");
    return;
  }
  torch::Tensor images = torch::rand({kBatch, 1, kSize, kSize});
  if (variant.channels_last) {
    ToChannelsLast(model.get());
    images = ToChannelsLast(images);
  }
  c10::InferenceMode inference;
  // One scope per batch, as a server handles a request (it re-casts the weights to bf16).
  auto forward = [&] {
    AutocastScope autocast(variant.bf16 ? Precision::kBf16 : Precision::kFp32);
    return model->Forward(images).logits;
  };
  TimedLoop(state, forward);
  state.SetLabel(Label(state.range(0), variant));
}

void BM_TrainStep(benchmark::State& state) {
  const Variant variant = DecodeVariant(state.range(1));
  torch::manual_seed(1);
  auto model = BuildOrDie(state.range(0), state);
  if (model == nullptr) return;
  torch::Tensor images = torch::rand({kBatch, 1, kSize, kSize});
  const torch::Tensor labels = torch::randint(0, kClasses, {kBatch}, torch::kLong);
  if (variant.channels_last) {
    ToChannelsLast(model.get());
    images = ToChannelsLast(images);
  }
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-4));
  auto step = [&] {
    adam.zero_grad();
    torch::Tensor loss;
    {
      // As torch.autocast is used: forward and loss inside, backward outside.
      AutocastScope autocast(variant.bf16 ? Precision::kBf16 : Precision::kFp32);
      loss = torch::cross_entropy_loss(model->Forward(images).logits, labels);
    }
    loss.backward();
    adam.step();
    return loss;
  };
  TimedLoop(state, step);
  state.SetLabel(Label(state.range(0), variant));
}

// {architecture, variant}; each iteration is seconds long, so a short minimum time suffices.
// Forward: fp32, fp32+NHWC, bf16+NHWC, each unfolded and folded. Training: fp32, bf16+NHWC.
BENCHMARK(BM_Forward)
    ->ArgsProduct({{0, 1}, {0, 4, 5, 2, 6, 7}})
    ->ArgNames({"arch", "variant"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);
BENCHMARK(BM_TrainStep)
    ->ArgsProduct({{0, 1}, {0, 5}})
    ->ArgNames({"arch", "variant"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);

}  // namespace
}  // namespace sketch

int main(int argc, char** argv) {
  int threads = 2;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = std::atoi(argv[i] + 10);
    } else {
      args.push_back(argv[i]);
    }
  }
  sketch::SetTorchThreads(threads);
  int remaining = static_cast<int>(args.size());
  benchmark::Initialize(&remaining, args.data());
  if (benchmark::ReportUnrecognizedArguments(remaining, args.data())) return 1;
  benchmark::AddCustomContext("torch_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("cpu_bf16", sketch::CpuSupportsBf16() ? "yes" : "no");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
