#include "server/torch_embedder.h"

#include <torch/torch.h>

#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

// A valid simplified-frame drawing (a cross) for the warm-up batch; what it shows is irrelevant.
Sketch WarmupSketch() {
  Sketch sketch;
  sketch.word = "warmup";
  sketch.strokes.push_back({{0, 255}, {0, 255}, {}});
  sketch.strokes.push_back({{0, 255}, {255, 0}, {}});
  return sketch;
}

std::string ShapeOf(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

// Row `i` of a contiguous float32 [rows, cols] tensor.
std::vector<float> Row(const torch::Tensor& matrix, int64_t i) {
  const int64_t cols = matrix.size(1);
  const float* row = matrix.data_ptr<float>() + i * cols;
  return std::vector<float>(row, row + cols);
}

// InvalidArgument unless the model, its preprocessing and its class names fit together.
absl::Status CheckServable(const TrainedModel& model) {
  if (model.model == nullptr) return absl::InvalidArgumentError("TorchEmbedder: no model");
  RETURN_IF_ERROR(ValidatePreprocessing(model.preprocessing));
  if (model.preprocessing.raster.size != model.model->input_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the preprocessing rasterizes ", model.preprocessing.raster.size, " px images but the ",
        model.model->architecture(), " takes ", model.model->input_size(), " px"));
  }
  if (static_cast<int>(model.classes.size()) != model.model->num_classes()) {
    return absl::InvalidArgumentError(absl::StrCat(model.classes.size(), " class names for a ",
                                                   model.model->num_classes(), "-class model"));
  }
  return absl::OkStatus();
}

}  // namespace

TorchEmbedder::TorchEmbedder(std::shared_ptr<SketchModel> model, Preprocessing preprocessing,
                             std::vector<std::string> class_names, Precision precision)
    : model_(std::move(model)),
      preprocessing_(std::move(preprocessing)),
      class_names_(std::move(class_names)),
      precision_(precision) {}

absl::StatusOr<std::unique_ptr<TorchEmbedder>> TorchEmbedder::Create(
    const TrainedModel& model, const TorchEmbedderOptions& options) {
  RETURN_IF_ERROR(CheckServable(model));
  if (options.warmup_batch_size < 0) {
    return absl::InvalidArgumentError("warmup_batch_size: must not be negative");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<SketchModel> copy, MakeInferenceCopy(*model.model));
  const Precision precision = ResolvePrecision(options.precision);
  if (precision == Precision::kBf16) {
    try {
      ToChannelsLast(copy.get());
      // bf16 weights once, instead of autocast re-casting fc_1 and every conv at each batch
      // (the same values: autocast would round them identically).
      CastWeightsForInference(copy.get(), precision);
    } catch (const c10::Error& e) {
      return absl::InternalError(
          absl::StrCat("channels-last bf16 weights: ", e.what_without_backtrace()));
    }
  }
  auto embedder = std::unique_ptr<TorchEmbedder>(
      new TorchEmbedder(std::move(copy), model.preprocessing, model.classes, precision));
  if (options.warmup_batch_size > 0) {
    const Sketch sketch = WarmupSketch();
    const std::vector<const Sketch*> batch(options.warmup_batch_size, &sketch);
    absl::StatusOr<EmbedResult> warmup = embedder->EmbedBatch(batch);
    if (!warmup.ok()) {
      return absl::InternalError(absl::StrCat("warm-up batch failed: ", warmup.status().message()));
    }
  }
  return embedder;
}

absl::StatusOr<EmbedResult> TorchEmbedder::EmbedBatch(const std::vector<const Sketch*>& sketches) {
  try {
    return Run(sketches);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("model failed: ", e.what_without_backtrace()));
  }
}

absl::StatusOr<EmbedResult> TorchEmbedder::Run(const std::vector<const Sketch*>& sketches) {
  // images: float32 [N, 1, S, S]; a sketch that does not rasterize fails here, before torch runs.
  ASSIGN_OR_RETURN(torch::Tensor images, RasterizeBatch(sketches, preprocessing_));
  // InferenceMode and autocast are thread-local: they must be set on the thread that runs Forward.
  c10::InferenceMode inference;
  AutocastScope autocast(precision_);
  if (precision_ == Precision::kBf16) images = ToChannelsLast(images);
  ASSIGN_OR_RETURN(ModelOutput out, SafeForward(model_.get(), images));
  // Both come back float32 under autocast too; softmax in float32 keeps the sum at 1 +- 1e-6.
  const torch::Tensor probabilities =
      torch::softmax(out.logits.to(torch::kFloat32), 1).contiguous();
  const torch::Tensor features = out.features.to(torch::kFloat32).contiguous();
  const int64_t n = static_cast<int64_t>(sketches.size());
  if (probabilities.size(0) != n || probabilities.size(1) != num_classes() ||
      features.size(0) != n || features.size(1) != kFeatureSize) {
    return absl::InternalError(absl::StrCat("the model returned logits ", ShapeOf(probabilities),
                                            " and features ", ShapeOf(features), " for ", n,
                                            " drawings"));
  }
  EmbedResult result;
  result.embeddings.resize(sketches.size());
  for (int64_t i = 0; i < n; ++i) {
    result.embeddings[i].probabilities = Row(probabilities, i);
    result.embeddings[i].feature = Row(features, i);
  }
  return result;
}

}  // namespace sketch
