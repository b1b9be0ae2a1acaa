// SketchModel: the interface shared by the two CNNs of the 2018 study (skNet, skResNet), the
// conv+BatchNorm+ReLU unit both are built from, the factory, and BatchNorm folding for inference.
#ifndef SKETCH_MODELS_SKETCH_MODEL_H_
#define SKETCH_MODELS_SKETCH_MODEL_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sketch {

// What a network is built for. Check with ValidateModelConfig (MakeSketchModel does).
struct ModelConfig {
  int num_classes = 0;   // >= 2
  int input_size = 128;  // S of the [N, C, S, S] input; a positive multiple of 16 (four pools)
  float dropout = 0;     // probability on fc_1's output during training, in [0, 1)
  // C: the first conv's input channels, RasterChannelCount of the preprocessing's raster (1: ink;
  // 3: ink, stroke order, progress). Everything after the first conv is the same for any C.
  int in_channels = 1;
};

struct ModelOutput {
  torch::Tensor logits;    // float32 [N, num_classes], no softmax
  torch::Tensor features;  // float32 [N, 1024]: fc_1 after ReLU (before dropout), >= 0
};

// conv 3x3 / stride 1 / padding 1 without bias, BatchNorm2d, ReLU. Children "conv" and "bn", so a
// state dict reads "conv1_1.conv.weight", "conv1_1.bn.running_mean". After Fold() the BatchNorm
// lives in the conv's weight and bias and "bn" is gone (inference only).
class ConvBnReluImpl : public torch::nn::Module {
 public:
  ConvBnReluImpl(int64_t in_channels, int64_t out_channels);

  // x: [N, in_channels, H, W] -> [N, out_channels, H, W].
  torch::Tensor forward(const torch::Tensor& x);

  // Folds the BatchNorm's running statistics and affine parameters into the conv:
  // w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps). Equals the
  // eval-mode unit up to rounding. No-op when already folded. May throw c10::Error (callers
  // go through FoldBatchNorm, which catches it).
  void Fold();
  bool folded() const { return !bn_; }

 private:
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::BatchNorm2d bn_{nullptr};
};
TORCH_MODULE(ConvBnRelu);

// A study network. Forward follows torch semantics: it may throw c10::Error on a malformed
// input and honours train()/eval() and the autograd/inference-mode guards; code that cannot let
// exceptions out calls SafeForward. Not thread-safe for concurrent Forward in train mode
// (BatchNorm updates its running statistics); in eval mode concurrent Forward is safe.
class SketchModel : public torch::nn::Module {
 public:
  ~SketchModel() override = default;

  // images: float32 [N, C, S, S], S = input_size(), C = in_channels(), any memory format. Returns float32 also
  // under bf16 autocast.
  virtual ModelOutput Forward(const torch::Tensor& images) = 0;

  int num_classes() const { return config_.num_classes; }
  int input_size() const { return config_.input_size; }
  int in_channels() const { return config_.in_channels; }
  float dropout() const { return config_.dropout; }
  const ModelConfig& config() const { return config_; }
  // "sknet" or "skresnet", as MakeSketchModel takes it.
  const std::string& architecture() const { return architecture_; }

 protected:
  SketchModel(std::string architecture, const ModelConfig& config);

  // 3x3 max-pool, stride 2, padding 1: [N, C, s, s] -> [N, C, s/2, s/2] for even s.
  static torch::Tensor Pool(const torch::Tensor& x);

  // Registers fc_1 (in_features -> 1024) and fc_2 (1024 -> num_classes). Subclasses call it
  // last, so the state dict lists the convs first.
  void RegisterHead(int64_t in_features);
  // x: [N, C, s, s] after the last pool -> flatten, fc_1, ReLU (features), dropout, fc_2.
  ModelOutput Head(const torch::Tensor& x);

 private:
  std::string architecture_;
  ModelConfig config_;
  torch::nn::Linear fc_1_{nullptr};
  torch::nn::Linear fc_2_{nullptr};
};

inline constexpr int64_t kFeatureSize = 1024;  // width of fc_1, the embedding used for search

// OK, or InvalidArgument naming the field: num_classes < 2, input_size not a positive multiple
// of 16, dropout outside [0, 1).
absl::Status ValidateModelConfig(const ModelConfig& config);

// Builds "sknet" or "skresnet" in train mode, fp32, on the CPU, with fresh weights.
// InvalidArgument for another name or a config ValidateModelConfig rejects.
absl::StatusOr<std::shared_ptr<SketchModel>> MakeSketchModel(const std::string& architecture,
                                                             const ModelConfig& config);

// OK when images is a float32 tensor [N >= 1, C, S, S] with S = model.input_size() and
// C = model.in_channels(); otherwise
// InvalidArgument with the shape it got.
absl::Status ValidateImages(const SketchModel& model, const torch::Tensor& images);

// ValidateImages, then model->Forward; a c10::Error inside becomes Internal with its message.
absl::StatusOr<ModelOutput> SafeForward(SketchModel* model, const torch::Tensor& images);

// Switches the model to eval mode and folds every ConvBnRelu's BatchNorm into its conv, so
// inference runs one conv per unit instead of conv + batch_norm. Outputs equal the unfolded
// eval-mode model up to fp rounding. The model is for inference only afterwards (training it
// would train without BatchNorm). Idempotent. Internal if torch throws. Not thread-safe.
absl::Status FoldBatchNorm(SketchModel* model);

// A new model of the same architecture and config holding a copy of model's parameters and
// buffers, fp32, contiguous, in eval mode, BatchNorm folded; model is untouched, so a trainer
// can snapshot it and keep training (but not while an optimizer step runs on another thread).
absl::StatusOr<std::shared_ptr<SketchModel>> MakeInferenceCopy(const SketchModel& model);

// Number of trainable scalars (BatchNorm running statistics are buffers and not counted).
int64_t CountParameters(const torch::nn::Module& module);

}  // namespace sketch

#endif  // SKETCH_MODELS_SKETCH_MODEL_H_
