#include "models/inference_engine.h"

#include <torch/torch.h>

#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "models/torch_status.h"
#include "models/trained_model.h"

namespace sketch {
namespace {

std::string ShapeOf(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

// [N * R * M, D] -> [N, D]: the mean over each drawing's views, laid out as Run lays them: the
// mirrored half (M = 2) after the plain one, and within each half drawing after drawing, each
// drawing's R rotated views together.
torch::Tensor AverageViews(const torch::Tensor& outputs, int64_t n, int64_t rotations,
                           int64_t mirrors) {
  if (rotations * mirrors == 1) return outputs;
  return outputs.reshape({mirrors, n, rotations, outputs.size(1)})
      .mean(at::IntArrayRef{0, 2});  // not {0, 2}: LibTorch 1.13 finds it ambiguous
}

}  // namespace

InferenceEngine::InferenceEngine(std::shared_ptr<SketchModel> model, Preprocessing preprocessing,
                                 Precision precision, c10::Device device)
    : model_(std::move(model)),
      preprocessing_(std::move(preprocessing)),
      precision_(precision),
      device_(device) {}

absl::StatusOr<std::unique_ptr<InferenceEngine>> InferenceEngine::Create(
    const SketchModel& model, Preprocessing preprocessing, Precision precision,
    c10::Device device) {
  RETURN_IF_ERROR(ValidateModelInput(model, preprocessing));
  ASSIGN_OR_RETURN(std::shared_ptr<SketchModel> copy, MakeInferenceCopy(model));
  if (!device.is_cpu()) {
    RETURN_IF_ERROR(TorchCall("moving the model to " + device.str(), [&] {
      copy->to(device);
      return absl::OkStatus();
    }));
  }
  const Precision resolved = ResolvePrecision(precision, device.type());
  RETURN_IF_ERROR(TorchCall("channels-last weights", [&] {
    // Channels-last in both precisions: oneDNN convolves NHWC without reordering; fp32 NCHW was
    // 1.36-1.52x slower (docs/results.md, issue 15).
    ToChannelsLast(copy.get());
    // bf16 weights once, instead of autocast re-casting fc_1 and every conv at each batch
    // (the same values: autocast would round them identically). No-op for fp32.
    CastWeightsForInference(copy.get(), resolved);
    return absl::OkStatus();
  }));
  return std::unique_ptr<InferenceEngine>(
      new InferenceEngine(std::move(copy), std::move(preprocessing), resolved, device));
}

absl::StatusOr<InferenceOutput> InferenceEngine::Run(const torch::Tensor& images) const {
  InferenceOutput result;
  const int64_t rotations = RotationViewCount(preprocessing_.test_time);
  if (rotations > 1) {
    // Each rotated view's planes must be what the network takes; the rest is ValidateImages's.
    if (!images.defined() || images.dim() != 4 || images.size(1) != input_planes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "images must be [N, ", input_planes(), ", S, S] (", rotations, " rotated views of ",
          in_channels(), " planes), got ", images.defined() ? ShapeOf(images) : "none"));
    }
    RETURN_IF_ERROR(ValidateImages(*model_, images.narrow(1, 0, in_channels())));
  } else {
    RETURN_IF_ERROR(ValidateImages(*model_, images));
  }
  RETURN_IF_ERROR(TorchCall("model failed", [&]() -> absl::Status {
    // InferenceMode and autocast are thread-local: they must be set on the thread that runs
    // Forward.
    c10::InferenceMode inference;
    AutocastScope autocast(precision_, device_.type());
    const TestTimeViews& views = preprocessing_.test_time;
    const int64_t n = images.size(0);
    const int64_t mirrors = views.mirror ? 2 : 1;
    // [N, R*C, S, S] -> [N*R, C, S, S]: each rotated view an image of its own (a view, no copy).
    const torch::Tensor on_device = images.to(device_).reshape(
        {n * rotations, images.size(1) / rotations, images.size(2), images.size(3)});
    // Mirrored copies ride in the same forward pass: one batch of M*N*R keeps the kernels as busy
    // as the plain pass and costs one call.
    const torch::Tensor batch =
        views.mirror ? torch::cat({on_device, on_device.flip({3})}) : on_device;
    const torch::Tensor input = ToChannelsLast(batch);
    // The images were checked above, and TorchCall turns what Forward throws into a status.
    ModelOutput out = model_->Forward(input);
    // Both come back float32 under autocast too (the .to is then a no-op).
    const torch::Tensor logits =
        AverageViews(out.logits.to(torch::kFloat32), n, rotations, mirrors);
    const torch::Tensor features =
        AverageViews(out.features.to(torch::kFloat32), n, rotations, mirrors);
    result.logits = logits.to(torch::kCPU).contiguous();
    result.features = features.to(torch::kCPU).contiguous();
    return absl::OkStatus();
  }));
  const int64_t n = images.size(0);
  if (result.logits.dim() != 2 || result.logits.size(0) != n ||
      result.logits.size(1) != num_classes() || result.features.dim() != 2 ||
      result.features.size(0) != n || result.features.size(1) != kFeatureSize) {
    return absl::InternalError(absl::StrCat("the model returned logits ", ShapeOf(result.logits),
                                            " and features ", ShapeOf(result.features), " for ", n,
                                            " images"));
  }
  return result;
}

absl::StatusOr<InferenceOutput> InferenceEngine::RunSketches(
    const std::vector<const Sketch*>& sketches) const {
  // images: float32 [N, C, S, S]; a sketch that does not rasterize fails here, before torch runs.
  ASSIGN_OR_RETURN(torch::Tensor images, RasterizeBatch(sketches, preprocessing_));
  return Run(images);
}

}  // namespace sketch
