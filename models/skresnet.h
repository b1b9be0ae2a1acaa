// skResNet: the residual CNN of the 2018 study. conv1_1, conv1_2, pool; then three times
// [two residual pairs, a widening conv, pool] at 64 -> 128 -> 256 -> 256 channels; then
// fc_1[1024] + ReLU and fc_2[classes]. A residual pair is r = conv_b(conv_a(x)) + x.
#ifndef SKETCH_MODELS_SKRESNET_H_
#define SKETCH_MODELS_SKRESNET_H_

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "models/sketch_model.h"

namespace sketch {

inline constexpr char kSkResNetName[] = "skresnet";

// Two conv+BN+ReLU units with an identity shortcut: conv_b(conv_a(x)) + x. Both keep the
// channel count, so no projection is needed. Children "conv_a", "conv_b".
class ResidualPairImpl : public torch::nn::Module {
 public:
  explicit ResidualPairImpl(int64_t channels);

  // x: [N, channels, H, W] -> same shape.
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ConvBnRelu conv_a_{nullptr};
  ConvBnRelu conv_b_{nullptr};
};
TORCH_MODULE(ResidualPair);

// Submodules, numbered as the study's layers (a residual pair counts as one layer):
// conv1_1, conv1_2, [pool_1], res2, res3 (64); conv4_1, [pool_2], res5, res6 (128);
// conv7_1, [pool_3], res8, res9 (256); conv10_1, [pool_4] (256); fc_1, fc_2.
// Build through MakeSketchModel; the constructor assumes ValidateModelConfig(config) is OK.
class SkResNet final : public SketchModel {
 public:
  explicit SkResNet(const ModelConfig& config);

  // images: [N, C, S, S] -> logits [N, classes], features [N, 1024].
  ModelOutput Forward(const torch::Tensor& images) override;

 private:
  ConvBnRelu conv1_1_{nullptr}, conv1_2_{nullptr};
  ResidualPair res2_{nullptr}, res3_{nullptr};
  ConvBnRelu conv4_1_{nullptr};
  ResidualPair res5_{nullptr}, res6_{nullptr};
  ConvBnRelu conv7_1_{nullptr};
  ResidualPair res8_{nullptr}, res9_{nullptr};
  ConvBnRelu conv10_1_{nullptr};
};

}  // namespace sketch

#endif  // SKETCH_MODELS_SKRESNET_H_
