#include "models/sknet.h"

#include <torch/torch.h>

namespace sketch {

SkNet::SkNet(const ModelConfig& config) : SketchModel(kSkNetName, config) {
  conv1_1_ = register_module("conv1_1", ConvBnRelu(config.in_channels, 64));
  conv1_2_ = register_module("conv1_2", ConvBnRelu(64, 64));
  conv2_1_ = register_module("conv2_1", ConvBnRelu(64, 128));
  conv2_2_ = register_module("conv2_2", ConvBnRelu(128, 128));
  conv3_1_ = register_module("conv3_1", ConvBnRelu(128, 128));
  conv3_2_ = register_module("conv3_2", ConvBnRelu(128, 128));
  conv4_1_ = register_module("conv4_1", ConvBnRelu(128, 256));
  conv4_2_ = register_module("conv4_2", ConvBnRelu(256, 256));
  const int64_t side = config.input_size / 16;  // four pools halve S
  RegisterHead(256 * side * side);
}

ModelOutput SkNet::Forward(const torch::Tensor& images) {
  torch::Tensor x = Pool(conv1_2_(conv1_1_(images)));
  x = Pool(conv2_2_(conv2_1_(x)));
  x = Pool(conv3_2_(conv3_1_(x)));
  x = Pool(conv4_2_(conv4_1_(x)));
  return Head(x);
}

}  // namespace sketch
