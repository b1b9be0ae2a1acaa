// skNet: the plain (VGG-like) CNN of the 2018 study. Four stages of two conv+BN+ReLU units and a
// 3x3/2 max-pool (64, 128, 128, 256 channels), then fc_1[1024] + ReLU and fc_2[classes].
#ifndef SKETCH_MODELS_SKNET_H_
#define SKETCH_MODELS_SKNET_H_

#include "models/sketch_model.h"

namespace sketch {

inline constexpr char kSkNetName[] = "sknet";

// Submodules: conv1_1, conv1_2, conv2_1, conv2_2, conv3_1, conv3_2, conv4_1, conv4_2 (each a
// ConvBnRelu), fc_1, fc_2. Build through MakeSketchModel, which validates the config; the
// constructor assumes ValidateModelConfig(config) is OK.
class SkNet final : public SketchModel {
 public:
  explicit SkNet(const ModelConfig& config);

  // images: [N, C, S, S] -> logits [N, classes], features [N, 1024].
  ModelOutput Forward(const torch::Tensor& images) override;

 private:
  ConvBnRelu conv1_1_{nullptr}, conv1_2_{nullptr};
  ConvBnRelu conv2_1_{nullptr}, conv2_2_{nullptr};
  ConvBnRelu conv3_1_{nullptr}, conv3_2_{nullptr};
  ConvBnRelu conv4_1_{nullptr}, conv4_2_{nullptr};
};

}  // namespace sketch

#endif  // SKETCH_MODELS_SKNET_H_
