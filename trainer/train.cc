#include "trainer/train.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/atomic_file.h"
#include "core/dataset.h"
#include "core/process_cpu_time.h"
#include "core/progress_bar.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "models/fused_adam.h"
#include "models/model_files.h"
#include "models/sketch_model.h"
#include "models/torch_status.h"
#include "models/trained_model.h"
#include "nlohmann/json.hpp"
#include "trainer/checkpoint.h"
#include "trainer/image_batcher.h"
#include "trainer/retrieval_loss.h"
#include "trainer/run_files.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr double kPi = 3.14159265358979323846;
constexpr char kLogFile[] = "train_log.jsonl";
constexpr char kModelFile[] = "model.pt";

// One training session: what Train builds before the loop and what the loop updates.
struct Run {
  TrainOptions options;
  TrainConfig config;
  Precision precision = Precision::kFp32;  // resolved
  c10::Device device = c10::Device(c10::kCPU);
  Dataset dataset;
  Preprocessing preprocessing;
  std::shared_ptr<SketchModel> model;
  RetrievalObjective objective{nullptr};  // the retrieval objective beside cross-entropy
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  int64_t steps_per_epoch = 0, total_steps = 0, start_step = 0, end_step = 0;
  double elapsed_before = 0.0;  // training seconds of earlier sessions (resume)
  std::string resume_dir;       // the checkpoint to continue from, or empty
};

// Loss and accuracy summed over the steps since the last log line.
struct Window {
  double loss_sum = 0.0;
  int64_t correct = 0, count = 0;
  Clock::time_point start = Clock::now();

  double loss() const { return count > 0 ? loss_sum / count : 0.0; }
  double accuracy() const { return count > 0 ? static_cast<double>(correct) / count : 0.0; }
  double rate() const {
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    return s > 0 ? count / s : 0.0;
  }
};

std::string OutPath(const Run& run, const std::string& name) {
  return (fs::path(run.options.out_dir) / name).string();
}

absl::Status LoadData(Run* run) {
  ASSIGN_OR_RETURN(run->dataset, ReadDataset(run->options.dataset_path));
  const Dataset& d = run->dataset;
  if (d.train.empty() || d.metadata.classes.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        run->options.dataset_path, ": training needs at least 2 classes and 1 training example"));
  }
  run->steps_per_epoch =
      StepsPerEpoch(static_cast<int64_t>(d.train.size()), run->config.batch_size);
  run->total_steps = run->steps_per_epoch * run->config.epochs;
  const int64_t max_steps = run->options.max_steps;
  run->end_step = max_steps > 0 ? std::min(max_steps, run->total_steps) : run->total_steps;
  ASSIGN_OR_RETURN(run->preprocessing, MakePreprocessing(run->config, d.train));
  return absl::OkStatus();
}

// A fresh run refuses a directory with checkpoints (a later resume would mix two runs); a
// resumed one continues from the newest checkpoint, which must hold the same config.
absl::Status PrepareOutDir(Run* run) {
  std::error_code ec;
  fs::create_directories(run->options.out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", run->options.out_dir));
  absl::StatusOr<std::string> latest = FindLatestCheckpoint(run->options.out_dir);
  if (!run->options.resume) {
    if (!latest.ok()) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat(run->options.out_dir,
                     " holds checkpoints of an earlier run: pass --resume or another --out"));
  }
  if (!latest.ok()) return latest.status();
  ASSIGN_OR_RETURN(const CheckpointState state, ReadCheckpointState(*latest));
  absl::StatusOr<TrainConfig> saved = TrainConfigFromJson(state.config_json);
  if (!saved.ok())
    return absl::DataLossError(absl::StrCat(*latest, ": ", saved.status().message()));
  if (TrainConfigToJson(*saved) != TrainConfigToJson(run->config)) {
    return absl::FailedPreconditionError(
        absl::StrCat("--resume needs the run's config; the checkpoint has ", state.config_json));
  }
  // The config pins the recipe; the classes and training-set size pin the data (cheaply).
  TrainConfig unused;
  RunInfo info;
  RETURN_IF_ERROR(ReadTrainConfig(run->options.out_dir, &unused, &info));
  if (info.classes != run->dataset.metadata.classes ||
      info.num_train != static_cast<int64_t>(run->dataset.train.size())) {
    return absl::FailedPreconditionError(
        "--resume needs the run's dataset: classes or size differ");
  }
  run->start_step = state.step;
  run->end_step = std::max(run->end_step, run->start_step);
  run->elapsed_before = state.elapsed_s;
  run->resume_dir = *latest;
  return absl::OkStatus();
}

// Weights (conv and linear kernels) decay; biases and BatchNorm affine parameters do not.
// The objective's parameters (cosface's class proxies: only their direction counts) form a third
// group without decay, present only when there are any, so runs without one checkpoint as before.
template <typename Optimizer, typename Options>
std::unique_ptr<torch::optim::Optimizer> MakeGroupedOptimizer(const TrainConfig& c,
                                                              const torch::nn::Module& model,
                                                              const torch::nn::Module& objective) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const torch::Tensor& p : model.parameters()) (p.dim() > 1 ? decay : no_decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<Options>(Options(c.lr).weight_decay(c.weight_decay)));
  groups.emplace_back(no_decay, std::make_unique<Options>(Options(c.lr).weight_decay(0.0)));
  if (!objective.parameters().empty()) {
    groups.emplace_back(objective.parameters(),
                        std::make_unique<Options>(Options(c.lr).weight_decay(0.0)));
  }
  return std::make_unique<Optimizer>(std::move(groups), Options(c.lr).weight_decay(0.0));
}

absl::Status BuildModel(Run* run) {
  const TrainConfig& c = run->config;
  ModelConfig model_config =
      ModelConfigFor(static_cast<int>(run->dataset.metadata.classes.size()), run->preprocessing);
  model_config.dropout = static_cast<float>(c.dropout);
  return TorchCall("building the model", [&]() -> absl::Status {
    torch::manual_seed(DeriveSeed(c.seed, "init"));
    ASSIGN_OR_RETURN(run->model, MakeSketchModel(c.architecture, model_config));
    // Its own seed: the model's initialization is the same with or without an objective.
    torch::manual_seed(DeriveSeed(c.seed, "objective"));
    run->objective =
        RetrievalObjective(c.retrieval, model_config.num_classes, static_cast<int>(kFeatureSize));
    run->optimizer = c.optimizer == "adamw"
                         ? MakeGroupedOptimizer<torch::optim::AdamW, torch::optim::AdamWOptions>(
                               c, *run->model, *run->objective)
                         : MakeGroupedOptimizer<torch::optim::Adam, torch::optim::AdamOptions>(
                               c, *run->model, *run->objective);
    if (!run->resume_dir.empty()) {
      RETURN_IF_ERROR(LoadCheckpoint(run->resume_dir, run->model.get(), run->optimizer.get(),
                                     run->objective.get()));
    }
    // Built and loaded on the CPU (checkpoints hold CPU tensors), then moved in place: the
    // optimizer's references stay attached, its state follows.
    if (!run->device.is_cpu()) {
      run->model->to(run->device);
      run->objective->to(run->device);
      MoveOptimizerState(run->optimizer.get(), run->device);
    }
    // In place (set_data): the optimizer's references and state stay attached. Channels-last in
    // both precisions: oneDNN trains NHWC without reordering (fp32 NCHW steps were 1.25-1.30x
    // slower, docs/results.md, issue 15).
    ToChannelsLast(run->model.get());
    run->model->train();
    return absl::OkStatus();
  });
}

// train_config.json, preprocessing.json (+ mean image) and the log trimmed to the resume point.
absl::Status WriteRunFiles(const Run& run) {
  RunInfo info;
  info.classes = run.dataset.metadata.classes;
  info.dataset_path = run.options.dataset_path;
  info.num_train = static_cast<int64_t>(run.dataset.train.size());
  info.steps_per_epoch = run.steps_per_epoch;
  info.total_steps = run.total_steps;
  info.precision = std::string(PrecisionName(run.precision));
  info.threads = at::get_num_threads();
  RETURN_IF_ERROR(SaveTrainConfig(run.options.out_dir, run.config, info));
  RETURN_IF_ERROR(SavePreprocessing(run.preprocessing, run.options.out_dir));
  std::string kept;
  if (run.start_step > 0) {  // drop lines past the checkpoint: those steps are redone
    std::ifstream in(OutPath(run, kLogFile));
    for (std::string line; std::getline(in, line);) {
      const json entry = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (entry.is_object() && entry.value("step", int64_t{0}) <= run.start_step) {
        kept += line + "\n";
      }
    }
  }
  return WriteFileAtomically(OutPath(run, kLogFile), kept);
}

struct StepStats {
  double loss_sum = 0.0;  // mean loss * examples
  int64_t correct = 0, count = 0;
};

// One optimizer step. May throw c10::Error (the caller wraps it in TorchCall).
StepStats TrainStep(Run* run, const Batch& batch, double lr) {
  // A per-step seed makes dropout masks a function of the step: a resumed run draws the same.
  torch::manual_seed(DeriveSeed(run->config.seed, absl::StrCat("dropout/", batch.step)));
  for (auto& group : run->optimizer->param_groups()) group.options().set_lr(lr);
  SetGradientsToNone(run->optimizer.get());
  // The batcher's tensors are on the CPU; on a GPU both copies are asynchronous (pinned memory).
  Batch on_device = batch;
  on_device.images = batch.images.to(run->device, /*non_blocking=*/true);
  on_device.labels = batch.labels.to(run->device, /*non_blocking=*/true);
  const torch::Tensor images = ToChannelsLast(on_device.images);
  ModelOutput out;
  {
    AutocastScope autocast(run->precision, run->device.type());
    out = run->model->Forward(images);
  }
  namespace F = torch::nn::functional;
  torch::Tensor loss =
      F::cross_entropy(out.logits, on_device.labels,
                       F::CrossEntropyFuncOptions().label_smoothing(run->config.label_smoothing));
  // Computed in float32 outside autocast: normalizations and exponentials of similarities.
  const torch::Tensor retrieval = run->objective->forward(out.features, on_device);
  if (retrieval.defined()) loss = loss + retrieval;
  loss.backward();
  // One fused kernel per parameter group where LibTorch has it (2.4+), else Adam's loop.
  FusedAdamStep(run->optimizer.get());
  StepStats stats;
  stats.count = batch.labels.size(0);
  stats.loss_sum = loss.item<double>() * static_cast<double>(stats.count);
  stats.correct = out.logits.argmax(1).eq(on_device.labels).sum().item<int64_t>();
  return stats;
}

absl::Status Checkpoint(const Run& run, int64_t done, double elapsed) {
  CheckpointState state;
  state.step = done;
  state.epoch = done / run.steps_per_epoch;
  state.elapsed_s = elapsed;
  state.config_json = TrainConfigToJson(run.config);
  return SaveCheckpoint(run.options.out_dir, state, *run.model, *run.optimizer, /*keep=*/2,
                        run.objective.get());
}

// Bookkeeping after step `done` (1-based): progress, the log line, a periodic checkpoint.
class StepReporter {
 public:
  StepReporter(const Run& run, TrainResult* result)
      : run_(run),
        result_(result),
        log_(OutPath(run, kLogFile), std::ios::app),
        bar_("train", run.end_step - run.start_step, "step", run.options.verbose) {}

  absl::Status Report(int64_t done, double lr, const StepStats& stats) {
    window_.loss_sum += stats.loss_sum;
    window_.correct += stats.correct;
    window_.count += stats.count;
    session_images_ += stats.count;
    bar_.Update(done - run_.start_step,
                absl::StrFormat("ep %d/%d loss %.3f acc %.3f %.1f img/s",
                                (done - 1) / run_.steps_per_epoch + 1, run_.config.epochs,
                                window_.loss(), window_.accuracy(), window_.rate()));
    if (done % std::max<int64_t>(1, run_.options.log_every) == 0 || done == run_.end_step) {
      RETURN_IF_ERROR(WriteLogLine(done, lr));
    }
    const int64_t every = run_.options.checkpoint_every;
    if (every > 0 && done % every == 0 && done < run_.end_step) {
      RETURN_IF_ERROR(Checkpoint(run_, done, Elapsed()));
    }
    return absl::OkStatus();
  }

  void Finish() {
    bar_.Finish();
    result_->train_seconds = SessionSeconds();
    result_->images_per_second =
        result_->train_seconds > 0 ? session_images_ / result_->train_seconds : 0.0;
    const double cpu = ProcessCpuSeconds() - cpu_start_;
    result_->images_per_cpu_second = cpu > 0 ? session_images_ / cpu : 0.0;
    result_->run_train_seconds = Elapsed();
    const double run_images = static_cast<double>(run_.end_step) * run_.dataset.train.size() /
                              std::max<int64_t>(1, run_.steps_per_epoch);
    result_->run_images_per_second =
        result_->run_train_seconds > 0 ? run_images / result_->run_train_seconds : 0.0;
  }
  double Elapsed() const { return run_.elapsed_before + SessionSeconds(); }

 private:
  double SessionSeconds() const {
    return std::chrono::duration<double>(Clock::now() - session_start_).count();
  }

  absl::Status WriteLogLine(int64_t done, double lr) {
    const json line = {{"step", done},
                       {"epoch", static_cast<double>(done) / run_.steps_per_epoch},
                       {"loss", window_.loss()},
                       {"acc", window_.accuracy()},
                       {"lr", lr},
                       {"img_per_s", window_.rate()},
                       {"elapsed_s", Elapsed()}};
    log_ << line.dump() << "\n";
    log_.flush();
    result_->loss = window_.loss();
    result_->accuracy = window_.accuracy();
    window_ = Window();
    if (!log_)
      return absl::InternalError(absl::StrCat("cannot append to ", OutPath(run_, kLogFile)));
    return absl::OkStatus();
  }

  const Run& run_;
  TrainResult* result_;
  std::ofstream log_;
  ProgressBar bar_;
  Window window_;
  int64_t session_images_ = 0;
  const Clock::time_point session_start_ = Clock::now();
  const double cpu_start_ = ProcessCpuSeconds();
};

absl::Status RunLoop(Run* run, TrainResult* result) {
  ImageBatcherOptions options;
  options.batch_size = run->config.batch_size;
  options.shuffle = true;
  options.augment = run->config.augment;
  options.augment_options = run->config.augment_options;
  options.seed = run->config.seed;
  options.first_step = run->start_step;
  options.end_step = run->end_step;
  options.loader_threads = run->options.loader_threads;
  options.views = run->objective->views();
  options.pin_memory = !run->device.is_cpu();
  ASSIGN_OR_RETURN(std::unique_ptr<ImageBatcher> batcher,
                   ImageBatcher::Create(&run->dataset.train, run->preprocessing, options));
  StepReporter reporter(*run, result);
  for (int64_t step = run->start_step; step < run->end_step; ++step) {
    ASSIGN_OR_RETURN(const Batch batch, batcher->Next());
    const double lr = LearningRateAt(run->config, step, run->total_steps);
    StepStats stats;
    RETURN_IF_ERROR(TorchCall(absl::StrCat("training step ", step), [&] {
      stats = TrainStep(run, batch, lr);
      return absl::OkStatus();
    }));
    RETURN_IF_ERROR(reporter.Report(step + 1, lr, stats));
  }
  reporter.Finish();
  result->loader_wait_seconds = batcher->wait_seconds();
  RETURN_IF_ERROR(Checkpoint(*run, run->end_step, reporter.Elapsed()));
  return SaveModelWeights(*run->model, result->model_path);
}

}  // namespace

double LearningRateAt(const TrainConfig& config, int64_t step, int64_t total_steps) {
  const int64_t warmup =
      static_cast<int64_t>(std::llround(config.warmup_fraction * static_cast<double>(total_steps)));
  if (step < warmup) return config.lr * static_cast<double>(step + 1) / warmup;
  if (config.schedule == "constant") return config.lr;
  const double progress =
      static_cast<double>(step - warmup) / std::max<int64_t>(1, total_steps - warmup);
  return config.lr * 0.5 * (1.0 + std::cos(kPi * std::min(progress, 1.0)));
}

absl::StatusOr<Preprocessing> MakePreprocessing(const TrainConfig& config,
                                                const std::vector<DatasetExample>& train) {
  Preprocessing p;
  p.raster.size = config.input_size;
  p.raster.style = config.raster_style;
  p.raster.channels = config.raster_channels;
  p.normalization.mean = static_cast<float>(config.norm_mean);
  p.normalization.std = static_cast<float>(config.norm_std);
  if (config.mean_image) {
    ASSIGN_OR_RETURN(p.normalization.mean_image, ComputeMeanImage(train, p.raster));
    p.normalization.mean = 0.0f;  // the image replaces the scalar
  }
  RETURN_IF_ERROR(ValidatePreprocessing(p));
  return p;
}

absl::StatusOr<TrainResult> Train(const TrainOptions& options) {
  if (options.out_dir.empty()) return absl::InvalidArgumentError("train: no output directory");
  if (options.loader_threads < 0) return absl::InvalidArgumentError("loader_threads must be >= 0");
  Run run;
  run.options = options;
  ASSIGN_OR_RETURN(run.config, ResolveTrainConfig(options.recipe, options.overrides));
  ASSIGN_OR_RETURN(const Precision precision, ParsePrecision(options.precision));
  ASSIGN_OR_RETURN(run.device, ParseDevice(options.device));
  run.precision = ResolvePrecision(precision, run.device.type());
  SetTorchThreads(options.threads);
  // Every step allocates and frees large activation and gradient blocks: keeping them in the
  // heap saves the page faults of fresh mmap-ed memory (~15-20% more images per CPU-second in
  // bench/models_bench.cc --malloc) for a higher peak RSS (+30% for skResNet at 128 px).
  KeepLargeAllocationsInHeap();
  RETURN_IF_ERROR(LoadData(&run));
  RETURN_IF_ERROR(PrepareOutDir(&run));
  RETURN_IF_ERROR(BuildModel(&run));
  RETURN_IF_ERROR(WriteRunFiles(run));
  if (options.verbose) {
    // Plain stderr, not spdlog: the PyTorch wheel's headers bring their own fmt, which Debian's
    // spdlog does not build against.
    std::cerr << absl::StrCat(
        "training ", run.config.architecture, " (", run.config.recipe, " recipe, ",
        PrecisionName(run.precision), " on ", run.device.str(), ", ", at::get_num_threads(),
        " threads) on ", run.dataset.train.size(), " drawings, steps ", run.start_step, "..",
        run.end_step, " of ", run.total_steps, ":\n", TrainConfigToJson(run.config), "\n");
  }
  TrainResult result;
  result.config = run.config;
  result.precision = run.precision;
  result.start_step = run.start_step;
  result.end_step = run.end_step;
  result.total_steps = run.total_steps;
  result.model_path = OutPath(run, kModelFile);
  RETURN_IF_ERROR(RunLoop(&run, &result));
  return result;
}

}  // namespace sketch
