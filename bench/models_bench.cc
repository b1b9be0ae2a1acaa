// Throughput of the study's CNNs on the CPU or a GPU (default 128x128, batch 32, 345 classes): eval
// forward under InferenceMode and one Adam training step, fp32 versus bf16 autocast +
// channels-last, with and without BatchNorm folded. Figures, not pass/fail; items_per_second is
// images per second. bench/compare_pytorch.py runs single cases of it side by side with the same
// nets in PyTorch.
//
//   sketch_models_bench [--threads=N] [--batch=N] [--size=S] [--classes=C] [--warmup=W]
//                       [--iterations=I] [--malloc=glibc|heap] [--device=cpu|cuda]
//                       [--adam=fused|loop] [google-benchmark flags]
//   sketch_models_bench --describe [--size=S] [--classes=C]
//   sketch_models_bench --threads=N --benchmark_filter=^BM_ArithmeticPeak
//
// --threads: ATen threads (default 2). --batch/--size/--classes: the input [batch, 1, S, S] and
// the head (defaults 32, 128, 345). --warmup: untimed calls before the loop (default 1; the first
// calls create oneDNN primitives). --iterations: a fixed count of timed calls instead of the
// default "at least 2 s". --malloc=heap: KeepLargeAllocationsInHeap() at startup (default
// glibc: malloc as the trainer and server run it today). --describe: print the parameter and
// buffer names and shapes of both networks as JSON and exit (the PyTorch mirror is checked
// against it). --device=cuda: model and images on the GPU (the torch2-cuda build), each timed
// call synchronized. --adam: the training step's optimizer calls as the trainer makes them
// (default: SetGradientsToNone and FusedAdamStep, whose fused kernel needs LibTorch 2.4) or
// LibTorch's own zero_grad() and step(). BM_ArithmeticPeak/kind:0|1: the CPU's measured fp32 FMA
// and bf16 dot-product peak on --threads threads (bench/arithmetic_peak.h), the roof that
// compare_pytorch.py reads every side's FLOP rate against.
#include <benchmark/benchmark.h>
#include <time.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/arithmetic_peak.h"
#include "core/process_cpu_time.h"
#include "models/fused_adam.h"
#include "models/sketch_model.h"
#include "models/sknet.h"
#include "models/skresnet.h"
#include "models/torch_runtime.h"

namespace sketch {
namespace {

// Set once in main from the flags, before any benchmark runs.
struct Options {
  int batch = 32;
  int size = 128;
  int classes = 345;      // Quick, Draw!
  int warmup = 1;         // the first calls create oneDNN primitives
  int64_t iterations = 0;  // 0: google-benchmark's own count, at least kMinTime seconds
  int threads = 2;         // --threads: ATen's, and BM_ArithmeticPeak's
  c10::Device device = c10::Device(c10::kCPU);  // --device: where model and images live
  // --adam=fused: SetGradientsToNone + FusedAdamStep, as the trainer; --adam=loop: zero_grad()
  // + step(), LibTorch's own.
  bool fused_adam = true;
};
Options options;

constexpr double kMinTime = 2.0;

const char* const kArchitectures[] = {kSkNetName, kSkResNetName};

// Bit 0: bf16 autocast (else fp32). Bit 1: BatchNorm folded. Bit 2: channels-last (NHWC).
// Bit 3: weights stored in bf16 (CastWeightsForInference; forward, bf16 and folded only).
struct Variant {
  bool bf16;
  bool folded;
  bool channels_last;
  bool bf16_weights;
};
Variant DecodeVariant(int64_t bits) {
  return {(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0, (bits & 8) != 0};
}

std::string Label(int64_t architecture, const Variant& variant) {
  return std::string(kArchitectures[architecture]) + (variant.bf16 ? " bf16" : " fp32") +
         (variant.channels_last ? "+NHWC" : "") + (variant.folded ? " folded" : "") +
         (variant.bf16_weights ? " bf16-weights" : "");
}

// Runs the timed loop and sets items_per_second (wall, images/s), images_per_cpu_s and cpu_s
// (process CPU seconds of the timed loop).
// On a GPU each iteration ends with a synchronization, so the time is the kernels', not the
// launches'.
template <typename Fn>
void TimedLoop(benchmark::State& state, Fn&& fn) {
  const auto run = [&] {
    auto result = fn();
    if (options.device.is_cuda()) torch::cuda::synchronize();
    return result;
  };
  for (int i = 0; i < options.warmup; ++i) run();
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) benchmark::DoNotOptimize(run());
  const double cpu_seconds = ProcessCpuSeconds() - cpu_start;
  const double images = static_cast<double>(state.iterations()) * options.batch;
  state.SetItemsProcessed(static_cast<int64_t>(images));
  state.counters["images_per_cpu_s"] = cpu_seconds > 0 ? images / cpu_seconds : 0;
  state.counters["cpu_s"] = cpu_seconds;
}

std::shared_ptr<SketchModel> BuildOrDie(int64_t architecture, benchmark::State& state) {
  auto model = MakeSketchModel(kArchitectures[architecture], {options.classes, options.size});
  if (!model.ok()) state.SkipWithError(std::string(model.status().message()).c_str());
  if (!model.ok()) return nullptr;
  state.counters["parameters"] = static_cast<double>(CountParameters(**model));
  (*model)->to(options.device);
  return *model;
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
  torch::Tensor images =
      torch::rand({options.batch, 1, options.size, options.size}).to(options.device);
  if (variant.channels_last) {
    ToChannelsLast(model.get());
    images = ToChannelsLast(images);
  }
  const c10::DeviceType device = options.device.type();
  if (variant.bf16_weights) {
    if (!variant.bf16 || !variant.folded) {
      state.SkipWithError("bf16 weights need bf16 and folded BatchNorm");
      return;
    }
    // Outputs must not change: compare with the autocast-only model on two images (not the
    // timed batch, so no extra warm-up of its oneDNN primitives).
    const torch::Tensor probe = images.narrow(0, 0, std::min<int64_t>(2, images.size(0)));
    torch::Tensor before;
    {
      c10::InferenceMode inference;
      AutocastScope autocast(Precision::kBf16, device);
      before = model->Forward(probe).logits;
    }
    CastWeightsForInference(model.get(), Precision::kBf16);
    c10::InferenceMode inference;
    AutocastScope autocast(Precision::kBf16, device);
    if (!torch::equal(before, model->Forward(probe).logits)) {
      state.SkipWithError("bf16 weights changed the logits");
      return;
    }
  }
  c10::InferenceMode inference;
  // One scope per batch, as a server handles a request (it re-casts fp32 weights to bf16 each
  // time; with bf16 weights it casts only the images).
  auto forward = [&] {
    AutocastScope autocast(variant.bf16 ? Precision::kBf16 : Precision::kFp32, device);
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
  torch::Tensor images =
      torch::rand({options.batch, 1, options.size, options.size}).to(options.device);
  const torch::Tensor labels =
      torch::randint(0, options.classes, {options.batch}, torch::kLong).to(options.device);
  const c10::DeviceType device = options.device.type();
  if (variant.channels_last) {
    ToChannelsLast(model.get());
    images = ToChannelsLast(images);
  }
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-4));
  auto step = [&] {
    if (options.fused_adam) {
      SetGradientsToNone(&adam);
    } else {
      adam.zero_grad();
    }
    torch::Tensor loss;
    {
      // As torch.autocast is used: forward and loss inside, backward outside.
      AutocastScope autocast(variant.bf16 ? Precision::kBf16 : Precision::kFp32, device);
      loss = torch::cross_entropy_loss(model->Forward(images).logits, labels);
    }
    loss.backward();
    if (options.fused_adam) {
      FusedAdamStep(&adam);
    } else {
      adam.step();
    }
    return loss;
  };
  TimedLoop(state, step);
  state.SetLabel(Label(state.range(0), variant));
}

// kind 0: fp32 FMA, 1: bf16 dot product; gflop_per_s is the mean of the iterations, each half a
// second of every thread multiplying and adding in registers.
void BM_ArithmeticPeak(benchmark::State& state) {
  const PeakKind kind = state.range(0) == 0 ? PeakKind::kFp32Fma : PeakKind::kBf16Dot;
  double sum = 0;
  ArithmeticPeak peak;
  for (auto _ : state) {
    peak = MeasureArithmeticPeak(kind, options.threads, 0.5);
    if (!peak.supported) {
      state.SkipWithError(peak.instruction);
      return;
    }
    sum += peak.gflop_per_s;
  }
  state.counters["gflop_per_s"] = sum / static_cast<double>(state.iterations());
  state.counters["threads"] = options.threads;
  state.SetLabel(peak.instruction);
}

// {architecture, variant}; each iteration is a fraction of a second to seconds long, so a short
// minimum time suffices. Forward: fp32, fp32+NHWC, bf16+NHWC, each unfolded and folded, and
// bf16+NHWC folded with bf16 weights. Training: fp32, fp32+NHWC, bf16+NHWC.
void RegisterBenchmarks() {
  struct Family {
    const char* name;
    void (*fn)(benchmark::State&);
    std::vector<int64_t> variants;
  };
  const Family families[] = {{"BM_Forward", BM_Forward, {0, 4, 5, 2, 6, 7, 15}},
                             {"BM_TrainStep", BM_TrainStep, {0, 4, 5}}};
  for (const Family& family : families) {
    auto* b = benchmark::RegisterBenchmark(family.name, family.fn)
                  ->ArgsProduct({{0, 1}, family.variants})
                  ->ArgNames({"arch", "variant"})
                  ->Unit(benchmark::kMillisecond)
                  ->UseRealTime();
    if (options.iterations > 0) {
      b->Iterations(options.iterations);
    } else {
      b->MinTime(kMinTime);
    }
  }
  benchmark::RegisterBenchmark("BM_ArithmeticPeak", BM_ArithmeticPeak)
      ->ArgName("kind")
      ->DenseRange(0, 1)
      ->Iterations(3)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

// JSON {"sknet": {"parameters": [[name, [shape]], ...], "buffers": [...]}, "skresnet": ...}.
std::string ShapesJson(const torch::OrderedDict<std::string, torch::Tensor>& tensors) {
  std::string out = "[";
  bool first = true;
  for (const auto& item : tensors) {
    out += first ? "\n    [\"" : ",\n    [\"";
    first = false;
    out += item.key() + "\", [";
    const auto sizes = item.value().sizes();
    for (size_t i = 0; i < sizes.size(); ++i) {
      out += (i > 0 ? ", " : "") + std::to_string(sizes[i]);
    }
    out += "]]";
  }
  return out + "]";
}

int Describe() {
  std::string out = "{";
  for (size_t a = 0; a < 2; ++a) {
    auto model = MakeSketchModel(kArchitectures[a], {options.classes, options.size});
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
      return 1;
    }
    out += std::string(a > 0 ? ",\n" : "\n") + " \"" + kArchitectures[a] + "\": {\"parameters\": " +
           ShapesJson((*model)->named_parameters()) +
           ",\n  \"buffers\": " + ShapesJson((*model)->named_buffers()) +
           ",\n  \"count\": " + std::to_string(CountParameters(**model)) + "}";
  }
  std::printf("%s\n}\n", out.c_str());
  return 0;
}

// Reads --NAME=VALUE into *value; false if arg is another flag.
bool IntFlag(const char* arg, const char* name, int64_t* value) {
  const size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  char* end = nullptr;
  *value = std::strtoll(arg + n + 1, &end, 10);
  if (end == arg + n + 1 || *end != '\0') {
    std::fprintf(stderr, "bad value in %s\n", arg);
    std::exit(2);
  }
  return true;
}

}  // namespace
}  // namespace sketch

int main(int argc, char** argv) {
  using sketch::options;
  int64_t threads = 2, batch = options.batch, size = options.size, classes = options.classes,
          warmup = options.warmup, iterations = 0;
  bool describe = false;
  bool heap = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    const char* a = argv[i];
    if (i == 0) {
      args.push_back(argv[i]);
    } else if (std::strcmp(a, "--describe") == 0) {
      describe = true;
    } else if (std::strcmp(a, "--adam=fused") == 0 || std::strcmp(a, "--adam=loop") == 0) {
      options.fused_adam = std::strcmp(a, "--adam=fused") == 0;
    } else if (std::strncmp(a, "--device=", 9) == 0) {
      auto device = sketch::ParseDevice(a + 9);
      if (!device.ok()) {
        std::fprintf(stderr, "%s\n", std::string(device.status().message()).c_str());
        return 2;
      }
      options.device = *device;
    } else if (std::strcmp(a, "--malloc=heap") == 0 || std::strcmp(a, "--malloc=glibc") == 0) {
      heap = std::strcmp(a, "--malloc=heap") == 0;
    } else if (!sketch::IntFlag(a, "--threads", &threads) &&
               !sketch::IntFlag(a, "--batch", &batch) && !sketch::IntFlag(a, "--size", &size) &&
               !sketch::IntFlag(a, "--classes", &classes) &&
               !sketch::IntFlag(a, "--warmup", &warmup) &&
               !sketch::IntFlag(a, "--iterations", &iterations)) {
      args.push_back(argv[i]);
    }
  }
  if (batch < 1 || warmup < 0 || iterations < 0) {
    std::fprintf(stderr, "--batch must be >= 1, --warmup and --iterations >= 0\n");
    return 2;
  }
  options.batch = static_cast<int>(batch);
  options.size = static_cast<int>(size);  // MakeSketchModel validates size and classes
  options.classes = static_cast<int>(classes);
  options.warmup = static_cast<int>(warmup);
  options.iterations = iterations;
  if (describe) return sketch::Describe();
  if (heap && !sketch::KeepLargeAllocationsInHeap()) {
    std::fprintf(stderr, "--malloc=heap: mallopt refused\n");
    return 1;
  }
  options.threads = static_cast<int>(threads);
  sketch::SetTorchThreads(options.threads);
  int remaining = static_cast<int>(args.size());
  benchmark::Initialize(&remaining, args.data());
  if (benchmark::ReportUnrecognizedArguments(remaining, args.data())) return 1;
  sketch::RegisterBenchmarks();
  benchmark::AddCustomContext("torch_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("cpu_bf16", sketch::CpuSupportsBf16() ? "yes" : "no");
  benchmark::AddCustomContext("batch", std::to_string(options.batch));
  benchmark::AddCustomContext("input_size", std::to_string(options.size));
  benchmark::AddCustomContext("classes", std::to_string(options.classes));
  benchmark::AddCustomContext("warmup", std::to_string(options.warmup));
  benchmark::AddCustomContext("malloc", heap ? "heap" : "glibc");
  benchmark::AddCustomContext("device", options.device.str());
  benchmark::AddCustomContext("adam", options.fused_adam ? "fused" : "loop");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
