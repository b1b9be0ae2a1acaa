// TrainedModel: a network together with what it needs to be used — the preprocessing it was
// trained with and its class names in label order. A training run's output directory
// (trainer/run_files.h) and a model bundle (bundle/model_bundle.h) both load into one; the
// evaluation (trainer/evaluate.h) and the server (server/torch_embedder.h) run it through the
// same InferenceEngine (models/inference_engine.h).
#ifndef SKETCH_MODELS_TRAINED_MODEL_H_
#define SKETCH_MODELS_TRAINED_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "models/preprocessing.h"
#include "models/sketch_model.h"

namespace sketch {

struct TrainedModel {
  std::shared_ptr<SketchModel> model;  // fp32, eval mode, BatchNorm not folded
  Preprocessing preprocessing;
  std::vector<std::string> classes;  // label order
};

// The network shape that takes what `preprocessing` makes (its raster's size and channel count)
// for `num_classes` classes, dropout 0 (training sets its own). Every place that builds a network
// for a preprocessing (training, a run's output, a bundle) builds it from this.
ModelConfig ModelConfigFor(int num_classes, const Preprocessing& preprocessing);

// OK when `preprocessing` rasterizes images of `input_size` px, the size the record that
// describes a model gives its network (a run's train_config.json, a bundle's manifest.json; named
// by `record`); otherwise DataLoss naming both sizes and the record. Checked before the network is
// built, so a mismatch is named rather than found later in the weights' shapes.
absl::Status CheckRecordedInputSize(const Preprocessing& preprocessing, int input_size,
                                    const std::string& record);

// OK when `preprocessing` is valid and rasterizes the model's input size and channel count;
// InvalidArgument otherwise.
absl::Status ValidateModelInput(const SketchModel& model, const Preprocessing& preprocessing);

// OK when the parts fit together; otherwise InvalidArgument: no model, an invalid
// preprocessing, a raster size other than the model's input size, or a class count other than
// the model's.
absl::Status ValidateTrainedModel(const TrainedModel& model);

}  // namespace sketch

#endif  // SKETCH_MODELS_TRAINED_MODEL_H_
