// The files of a training run's output directory: periodic checkpoints (model, optimizer and a
// small JSON state) that make a run resumable, the final weights, the config and the
// preprocessing that belong to them. Every file is written to a temporary name and renamed into
// place, so a crash leaves the old file or the new one, never a torn one.
//
//   out/train_config.json   resolved TrainConfig, class names, run facts
//   out/preprocessing.json  raster options + normalization (+ out/mean_image.npy, seed recipe)
//   out/train_log.jsonl     one JSON object per logged step
//   out/checkpoints/step-00000120/{model.pt, optimizer.pt, state.json}
//   out/model.pt            final weights (torch::save of the module: parameters and buffers)
#ifndef SKETCH_TRAINER_CHECKPOINT_H_
#define SKETCH_TRAINER_CHECKPOINT_H_

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/sketch_model.h"
#include "trainer/image_batcher.h"
#include "trainer/train.h"

namespace sketch {

// state.json of a checkpoint.
struct CheckpointState {
  int64_t step = 0;         // optimizer steps done; training resumes at this global step
  int64_t epoch = 0;        // epoch of the next step
  double elapsed_s = 0.0;   // training time so far, across resumes
  std::string config_json;  // the run's resolved TrainConfig (TrainConfigToJson)
};

// The whole file. NotFound when missing; Internal on a read error.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Writes out_dir/checkpoints/step-<state.step>/ (model.pt: torch::save of the module's parameters
// and buffers; optimizer.pt: its state; state.json) as a ".tmp" directory renamed into place,
// then deletes all but the newest `keep` complete checkpoints and any leftover ".tmp"
// directories. Internal on I/O or torch failure. Not thread-safe with a concurrent step.
absl::Status SaveCheckpoint(const std::string& out_dir, const CheckpointState& state,
                            const torch::nn::Module& model,
                            const torch::optim::Optimizer& optimizer, int keep = 2);

// The directory of the newest complete checkpoint under out_dir/checkpoints (".tmp" leftovers
// are ignored). NotFound when there is none.
absl::StatusOr<std::string> FindLatestCheckpoint(const std::string& out_dir);

// Reads checkpoint_dir/state.json. NotFound / DataLoss (unparsable) errors name the file.
absl::StatusOr<CheckpointState> ReadCheckpointState(const std::string& checkpoint_dir);

// Loads the checkpoint's weights into `model` and its state into `optimizer`; both must be built
// exactly as when saved (same architecture, config and parameter groups). DataLoss when the files
// do not match them; NotFound for a missing file.
absl::Status LoadCheckpoint(const std::string& checkpoint_dir, torch::nn::Module* model,
                            torch::optim::Optimizer* optimizer);

// torch::save of the module's parameters and buffers to `path`, atomically. Internal on failure.
absl::Status SaveModelWeights(const torch::nn::Module& model, const std::string& path);
// Loads what SaveModelWeights wrote into a module of the same architecture and config.
// NotFound for a missing file; DataLoss when the names or shapes do not match.
absl::Status LoadModelWeights(const std::string& path, torch::nn::Module* model);

// dir/preprocessing.json (raster options, normalization) and, with a mean image,
// dir/mean_image.npy (float32 [size, size], numpy-readable). Internal on I/O failure.
absl::Status SavePreprocessing(const Preprocessing& preprocessing, const std::string& dir);
// The inverse. NotFound for a missing file; DataLoss for a malformed one.
absl::StatusOr<Preprocessing> LoadPreprocessing(const std::string& dir);

// Pretty JSON with sorted keys, so equal configs give equal text, and its inverse
// (InvalidArgument for malformed text, a missing field or what ValidateTrainConfig rejects).
std::string TrainConfigToJson(const TrainConfig& config);
absl::StatusOr<TrainConfig> TrainConfigFromJson(const std::string& text);

// Facts about a run recorded next to its config in train_config.json.
struct RunInfo {
  std::vector<std::string> classes;  // label order; LoadTrainedModel needs them
  std::string dataset_path;
  int64_t num_train = 0;
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
  std::string precision;  // resolved: "fp32" or "bf16"
  int threads = 0;
};

// Writes out_dir/train_config.json ({"config": ..., "classes": [...], ...}). Internal on failure.
absl::Status SaveTrainConfig(const std::string& out_dir, const TrainConfig& config,
                             const RunInfo& info);

// Reads out_dir/train_config.json back. NotFound for a missing file; DataLoss for a malformed
// one (a config TrainConfigFromJson rejects included).
absl::Status ReadTrainConfig(const std::string& out_dir, TrainConfig* config, RunInfo* info);

// A trained model as evaluation and feature extraction load it from a Train output directory.
struct TrainedModel {
  std::shared_ptr<SketchModel> model;  // fp32, eval mode, BatchNorm not folded
  Preprocessing preprocessing;
  std::vector<std::string> classes;  // label order
  TrainConfig config;
};

// Reads train_config.json, preprocessing.json (+ mean image) and model.pt. NotFound for a
// missing file; DataLoss for a malformed or mismatched one.
absl::StatusOr<TrainedModel> LoadTrainedModel(const std::string& out_dir);

}  // namespace sketch

#endif  // SKETCH_TRAINER_CHECKPOINT_H_
