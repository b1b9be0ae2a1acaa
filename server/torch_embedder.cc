#include "server/torch_embedder.h"

#include <torch/torch.h>

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

// Row `i` of a contiguous float32 [rows, cols] tensor.
std::vector<float> Row(const torch::Tensor& matrix, int64_t i) {
  const int64_t cols = matrix.size(1);
  const float* row = matrix.data_ptr<float>() + i * cols;
  return std::vector<float>(row, row + cols);
}

}  // namespace

TorchEmbedder::TorchEmbedder(std::unique_ptr<InferenceEngine> engine,
                             std::vector<std::string> class_names)
    : engine_(std::move(engine)), class_names_(std::move(class_names)) {}

absl::StatusOr<std::unique_ptr<TorchEmbedder>> TorchEmbedder::Create(
    const TrainedModel& model, const TorchEmbedderOptions& options) {
  if (absl::Status status = ValidateTrainedModel(model); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("TorchEmbedder: ", status.message()));
  }
  if (options.warmup_max_batch_size < 0) {
    return absl::InvalidArgumentError("warmup_max_batch_size: must not be negative");
  }
  ASSIGN_OR_RETURN(const c10::Device device, ParseDevice(options.device));
  ASSIGN_OR_RETURN(
      std::unique_ptr<InferenceEngine> engine,
      InferenceEngine::Create(*model.model, model.preprocessing, options.precision, device));
  auto embedder =
      std::unique_ptr<TorchEmbedder>(new TorchEmbedder(std::move(engine), model.classes));
  const Sketch sketch = WarmupSketch();
  for (int size = 1; size <= options.warmup_max_batch_size; ++size) {
    const std::vector<const Sketch*> batch(size, &sketch);
    absl::StatusOr<EmbedResult> warmup = embedder->EmbedBatch(batch);
    if (!warmup.ok()) {
      return absl::InternalError(
          absl::StrCat("warm-up batch of ", size, " failed: ", warmup.status().message()));
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
  ASSIGN_OR_RETURN(InferenceOutput out, engine_->RunSketches(sketches));
  c10::InferenceMode inference;
  // Softmax in float32 keeps the sum at 1 +- 1e-6.
  const torch::Tensor probabilities = torch::softmax(out.logits, 1).contiguous();
  EmbedResult result;
  result.embeddings.resize(sketches.size());
  for (size_t i = 0; i < sketches.size(); ++i) {
    result.embeddings[i].probabilities = Row(probabilities, static_cast<int64_t>(i));
    result.embeddings[i].feature = Row(out.features, static_cast<int64_t>(i));
  }
  return result;
}

}  // namespace sketch
