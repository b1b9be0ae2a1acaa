// `sketch-trainer train`: trains a study CNN (skNet or skResNet) on a prepared dataset with a
// named recipe ("seed": the 2018 study exactly; "default": a stronger CPU recipe; "retrieval":
// default + supervised contrastive + stroke order for own-class search), every field
// overridable, with resumable checkpoints. The output directory is described in run_files.h.
#ifndef SKETCH_TRAINER_TRAIN_H_
#define SKETCH_TRAINER_TRAIN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dataset.h"
#include "models/preprocessing.h"
#include "models/torch_runtime.h"
#include "trainer/train_config.h"

namespace sketch {

// The learning rate of 0-based `step` in a run of `total_steps`: linear warm-up from lr /
// warmup_steps to lr, then constant or a cosine decay to 0. Depends only on the config and the
// run length (never on --max-steps), so a stopped and resumed run follows the same curve.
double LearningRateAt(const TrainConfig& config, int64_t step, int64_t total_steps);

// The preprocessing a config implies for a training set: raster size and style, and the mean
// image over the training rasters (computed here) or the scalar mean/std.
absl::StatusOr<Preprocessing> MakePreprocessing(const TrainConfig& config,
                                                const std::vector<DatasetExample>& train);

struct TrainOptions {
  std::string dataset_path;  // a file written by `sketch-trainer prepare`
  std::string out_dir;       // created if missing
  std::string recipe = "default";
  RecipeOverrides overrides;
  int threads = 0;                 // torch intra-op threads; <= 0: every CPU this process may use
  std::string precision = "auto";  // auto | fp32 | bf16 (autocast + channels-last)
  std::string device = "cpu";      // cpu | cuda | cuda:N (ParseDevice); checkpoints stay portable
  int loader_threads = 1;          // rasterization threads; 0: on the training thread
  int64_t checkpoint_every = 500;  // steps; 0: only at the end
  int64_t log_every = 20;          // steps per line of train_log.jsonl
  int64_t max_steps = 0;           // stop when the global step reaches this; 0: run to the end
  bool resume = false;             // continue from the newest checkpoint in out_dir
  bool verbose = true;             // progress bar and the resolved config on stderr
};

struct TrainResult {
  TrainConfig config;
  Precision precision = Precision::kFp32;  // resolved
  int64_t start_step = 0;                  // where this session began (non-zero when resumed)
  int64_t end_step = 0;                    // global steps done
  int64_t total_steps = 0;                 // epochs * steps per epoch
  double loss = 0.0;  // mean training loss and accuracy over the last log window
  double accuracy = 0.0;
  double images_per_second = 0.0;  // this session, training loop only, wall clock
  // Images per CPU-second of this process (all threads, loader included): steadier than wall
  // time on a shared machine.
  double images_per_cpu_second = 0.0;
  double loader_wait_seconds = 0.0;  // time the loop waited for batches (0: loader keeps up)
  double train_seconds = 0.0;        // this session's loop
  // The whole run, earlier sessions included: what a resumed (or already finished) run reports.
  double run_train_seconds = 0.0;
  double run_images_per_second = 0.0;
  std::string model_path;            // out_dir/model.pt
};

// Trains per `options`, writing out_dir/{train_config.json, preprocessing.json, mean_image.npy
// (seed recipe), train_log.jsonl, checkpoints/, model.pt} (see run_files.h; LoadTrainedModel
// reads the result back). Deterministic for a given config,
// dataset, precision and thread count; a run stopped by max_steps (or killed) and resumed ends
// with the same weights as one uninterrupted run (fp32, same threads).
// Errors: InvalidArgument (bad options or config, unusable dataset), NotFound (dataset; no
// checkpoint to resume), FailedPrecondition (out_dir holds another run's checkpoints and resume
// is off; resume with a different config), DataLoss (corrupt checkpoint), Internal (torch, I/O).
// Sets torch's process-wide thread count. Not reentrant.
absl::StatusOr<TrainResult> Train(const TrainOptions& options);

}  // namespace sketch

#endif  // SKETCH_TRAINER_TRAIN_H_
