// The output directory of a training run, and loading the trained model back from it:
//
//   out/train_config.json   resolved TrainConfig, class names, run facts (RunInfo)
//   out/preprocessing.json  raster options + normalization (+ out/mean_image.npy, seed recipe)
//   out/model.pt            final weights (models/model_files.h)
//   out/train_log.jsonl     one JSON object per logged step
//   out/checkpoints/...     resumable checkpoints (trainer/checkpoint.h)
//
// Every file is written to a temporary name and renamed into place (core/atomic_file.h).
#ifndef SKETCH_TRAINER_RUN_FILES_H_
#define SKETCH_TRAINER_RUN_FILES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/trained_model.h"
#include "trainer/train_config.h"

namespace sketch {

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

// Reads train_config.json, preprocessing.json (+ mean image) and model.pt: fp32, eval mode,
// BatchNorm not folded. NotFound for a missing file; DataLoss for a malformed or mismatched one.
absl::StatusOr<TrainedModel> LoadTrainedModel(const std::string& out_dir);

}  // namespace sketch

#endif  // SKETCH_TRAINER_RUN_FILES_H_
