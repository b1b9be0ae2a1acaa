// TrainConfig: everything that defines a training run's result (with the dataset), the named
// recipes it starts from ("seed": the 2018 study exactly; "default": a stronger CPU recipe;
// "retrieval": default + supervised contrastive + stroke order + mirroring, 32 epochs, for
// own-class search), the flag overrides, its validation and its JSON form. Only the trainer
// reads it; a bundle carries the JSON as an opaque document (bundle/manifest.h).
#ifndef SKETCH_TRAINER_TRAIN_CONFIG_H_
#define SKETCH_TRAINER_TRAIN_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/rasterizer.h"
#include "trainer/augment.h"

namespace sketch {

// An objective that shapes fc_1 for retrieval beside the cross-entropy (trainer/retrieval_loss.h).
struct RetrievalLossOptions {
  std::string kind = "none";  // "none", "supcon", "cosface" or "instance"
  double weight = 1.0;        // total loss = cross-entropy + weight * objective
  double temperature = 0.1;   // supcon, instance: similarities are divided by it
  double scale = 16.0;        // cosface: logit scale s
  double margin = 0.2;        // cosface: cosine margin m subtracted on the true class
};

// Everything that defines a run's result (with the dataset). Saved as JSON in the output
// directory and in every checkpoint (TrainConfigToJson below); a resumed run must
// resolve to the same config.
struct TrainConfig {
  std::string recipe;                  // "seed", "default" or "retrieval"
  std::string architecture = "sknet";  // "sknet" or "skresnet"
  int input_size = 128;                // a multiple of 16
  RasterStyle raster_style = RasterStyle::kDefault;
  // kStrokeOrder adds the stroke order and progress as input channels (core/rasterizer.h).
  // Written to JSON only when not kInk, so the recipes' configs read as before.
  RasterChannels raster_channels = RasterChannels::kInk;
  bool mean_image = false;          // subtract the training set's mean image
  double norm_mean = 0.0;           // scalar mean when !mean_image, pixel/255 units
  double norm_std = 1.0;            // input = (pixel/255 - mean) / std
  std::string optimizer = "adamw";  // "adam" (L2 decay) or "adamw" (decoupled decay)
  double lr = 1e-3;                 // peak learning rate
  double weight_decay = 0.0;        // on conv and linear weights only
  std::string schedule = "cosine";  // "constant" or "cosine" (to 0 at the last step)
  double warmup_fraction = 0.0;     // linear warm-up over this fraction of all steps
  int batch_size = 32;
  int epochs = 1;
  double label_smoothing = 0.0;
  double dropout = 0.0;  // on fc_1's output
  bool augment = false;  // random affine on strokes (bitmaps: with augment_options.bitmaps)
  AugmentOptions augment_options;
  // Written to JSON only when kind is not "none", so the recipes' configs read as before.
  RetrievalLossOptions retrieval;
  uint64_t seed = 0;
};

// Flag values that replace a recipe's; unset fields keep the recipe's.
struct RecipeOverrides {
  std::optional<std::string> architecture;
  std::optional<int> input_size;
  std::optional<std::string> raster_style, raster_channels;
  std::optional<bool> mean_image;
  std::optional<double> norm_mean, norm_std;
  std::optional<std::string> optimizer;
  std::optional<double> lr, weight_decay;
  std::optional<std::string> schedule;
  std::optional<double> warmup_fraction;
  std::optional<int> batch_size, epochs;
  std::optional<double> label_smoothing, dropout;
  std::optional<bool> augment, augment_bitmaps;
  std::optional<double> max_rotation_degrees, min_scale, max_scale, max_shear, mirror_probability;
  std::optional<std::string> retrieval_loss;
  std::optional<double> retrieval_weight, retrieval_temperature, retrieval_scale, retrieval_margin;
  std::optional<uint64_t> seed;
};

// The named recipe with the overrides applied and checked by ValidateTrainConfig. InvalidArgument
// for an unknown recipe or style name, or what ValidateTrainConfig rejects.
absl::StatusOr<TrainConfig> ResolveTrainConfig(const std::string& recipe,
                                               const RecipeOverrides& overrides);

// OK, or InvalidArgument naming the first field out of range (or an unknown name).
absl::Status ValidateTrainConfig(const TrainConfig& config);

// Pretty JSON with sorted keys, so equal configs give equal text, and its inverse
// (InvalidArgument for malformed text, a missing field or what ValidateTrainConfig rejects).
std::string TrainConfigToJson(const TrainConfig& config);
absl::StatusOr<TrainConfig> TrainConfigFromJson(const std::string& text);

}  // namespace sketch

#endif  // SKETCH_TRAINER_TRAIN_CONFIG_H_
