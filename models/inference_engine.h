// InferenceEngine: the one inference recipe of a trained network, run by both
// `sketch-trainer evaluate/bundle` (trainer/evaluate.h) and `sketch-server`
// (server/torch_embedder.h), so the offline figures and index are what the server computes
// (fp32: the same features up to last-bit rounding between batch sizes, within 1e-6, hence live
// mAP == offline mAP).
//
// The recipe: a BatchNorm-folded copy of the weights (MakeInferenceCopy) on the chosen device
// (CPU unless told), the precision resolved once (kAuto: bf16 iff the CPU has it, always on
// CUDA); channels-last weights and inputs; for bf16 the weights stored in bf16
// (CastWeightsForInference) under bf16 autocast; the forward pass under InferenceMode, over all
// the test-time views of models/preprocessing.h at once (the rasterized rotations, the mirror
// flipped here), averaged; logits and features returned in float32 on the CPU.
#ifndef SKETCH_MODELS_INFERENCE_ENGINE_H_
#define SKETCH_MODELS_INFERENCE_ENGINE_H_

#include <torch/types.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/sketch.h"
#include "models/preprocessing.h"
#include "models/sketch_model.h"
#include "models/torch_runtime.h"

namespace sketch {

struct InferenceOutput {
  torch::Tensor logits;    // float32 [N, num_classes], contiguous, no softmax
  torch::Tensor features;  // float32 [N, 1024], contiguous: fc_1 after ReLU
};

class InferenceEngine {
 public:
  // Copies `model`'s weights into the inference copy described above, so `model` may be dropped,
  // changed or trained further afterwards; `model` may live on any device. The copy lives on
  // `device` (ParseDevice's). InvalidArgument for an invalid preprocessing or one whose raster
  // size is not the model's input size; Internal when torch fails.
  static absl::StatusOr<std::unique_ptr<InferenceEngine>> Create(
      const SketchModel& model, Preprocessing preprocessing, Precision precision,
      c10::Device device = c10::Device(c10::kCPU));

  // images: float32 [N >= 1, P, S, S] on the CPU or device(), S = input_size(),
  // P = input_planes() (in_channels() per rotated view), made with preprocessing() (e.g. by
  // RasterizeBatch or an ImageBatcher). With test-time views (preprocessing().test_time) the
  // outputs are each drawing's means over its views, from one forward pass over ViewCount * N
  // images. InvalidArgument for another shape; Internal when torch fails. InferenceMode and
  // autocast are set here, on the calling thread. Concurrent calls are safe (the copy is in eval
  // mode and only read).
  absl::StatusOr<InferenceOutput> Run(const torch::Tensor& images) const;

  // RasterizeBatch(sketches, preprocessing()), then Run. InvalidArgument (naming the position)
  // for an empty batch, a null entry or a sketch that does not rasterize.
  absl::StatusOr<InferenceOutput> RunSketches(const std::vector<const Sketch*>& sketches) const;

  // kFp32 or kBf16, never kAuto.
  Precision precision() const { return precision_; }
  const Preprocessing& preprocessing() const { return preprocessing_; }
  c10::Device device() const { return device_; }
  int num_classes() const { return model_->num_classes(); }
  int input_size() const { return model_->input_size(); }
  int in_channels() const { return model_->in_channels(); }
  int input_planes() const { return InputPlaneCount(preprocessing_); }
  const std::string& architecture() const { return model_->architecture(); }

 private:
  InferenceEngine(std::shared_ptr<SketchModel> model, Preprocessing preprocessing,
                  Precision precision, c10::Device device);

  const std::shared_ptr<SketchModel> model_;  // eval mode, folded; only read by Forward
  const Preprocessing preprocessing_;
  const Precision precision_;
  const c10::Device device_;
};

}  // namespace sketch

#endif  // SKETCH_MODELS_INFERENCE_ENGINE_H_
