#include "models/skresnet.h"

#include <torch/torch.h>

namespace sketch {

ResidualPairImpl::ResidualPairImpl(int64_t channels) {
  conv_a_ = register_module("conv_a", ConvBnRelu(channels, channels));
  conv_b_ = register_module("conv_b", ConvBnRelu(channels, channels));
}

torch::Tensor ResidualPairImpl::forward(const torch::Tensor& x) {
  // Not in place: conv_b's ReLU saved its output for backward.
  return conv_b_(conv_a_(x)) + x;
}

SkResNet::SkResNet(const ModelConfig& config) : SketchModel(kSkResNetName, config) {
  conv1_1_ = register_module("conv1_1", ConvBnRelu(config.in_channels, 64));
  conv1_2_ = register_module("conv1_2", ConvBnRelu(64, 64));
  res2_ = register_module("res2", ResidualPair(64));
  res3_ = register_module("res3", ResidualPair(64));
  conv4_1_ = register_module("conv4_1", ConvBnRelu(64, 128));
  res5_ = register_module("res5", ResidualPair(128));
  res6_ = register_module("res6", ResidualPair(128));
  conv7_1_ = register_module("conv7_1", ConvBnRelu(128, 256));
  res8_ = register_module("res8", ResidualPair(256));
  res9_ = register_module("res9", ResidualPair(256));
  conv10_1_ = register_module("conv10_1", ConvBnRelu(256, 256));
  const int64_t side = config.input_size / 16;  // four pools halve S
  RegisterHead(256 * side * side);
}

ModelOutput SkResNet::Forward(const torch::Tensor& images) {
  torch::Tensor x = Pool(conv1_2_(conv1_1_(images)));  // pool_1: 64 x S/2
  x = Pool(conv4_1_(res3_(res2_(x))));                 // pool_2: 128 x S/4
  x = Pool(conv7_1_(res6_(res5_(x))));                 // pool_3: 256 x S/8
  x = Pool(conv10_1_(res9_(res8_(x))));                // pool_4: 256 x S/16
  return Head(x);
}

}  // namespace sketch
