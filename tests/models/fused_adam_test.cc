// Tests models/fused_adam.h: the fused step is Adam's (and AdamW's) step.
#include "models/fused_adam.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/torch_runtime.h"

namespace sketch {
namespace {

constexpr bool kFusedExpected = TORCH_VERSION_MAJOR > 2 ||
                                (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4);

struct NetImpl : torch::nn::Module {
  NetImpl() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3)));
    fc = register_module("fc", torch::nn::Linear(4 * 6 * 6, 3));
    unused = register_module("unused", torch::nn::Linear(2, 2));  // never gets a gradient
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc(torch::relu(conv(x)).flatten(1)); }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear fc{nullptr}, unused{nullptr};
};
TORCH_MODULE(Net);

Net MakeNet(bool channels_last) {
  torch::manual_seed(3);
  Net net;
  if (channels_last) ToChannelsLast(net.ptr().get());
  return net;
}

// Three steps of `plain` with step() and of `fused` with FusedAdamStep on the same batches.
template <typename Opt, typename Options>
void ExpectSameSteps(const Options& options, bool channels_last, bool expect_fused) {
  Net a = MakeNet(channels_last), b = MakeNet(channels_last);
  Opt plain(a->parameters(), options), fused(b->parameters(), options);
  torch::manual_seed(5);
  for (int step = 0; step < 3; ++step) {
    torch::Tensor x = torch::randn({5, 2, 8, 8});
    if (channels_last) x = ToChannelsLast(x);
    const torch::Tensor y = torch::randint(0, 3, {5}, torch::kLong);
    for (auto* pair : {&plain, &fused}) pair->zero_grad();
    torch::cross_entropy_loss(a->forward(x), y).backward();
    torch::cross_entropy_loss(b->forward(x), y).backward();
    plain.step();
    EXPECT_EQ(FusedAdamStep(&fused), expect_fused) << "step " << step;
  }
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::allclose(item.value(), pb[item.key()], 1e-5, 1e-7)) << item.key();
  }
  // The untouched layer kept its initial weights on both sides.
  EXPECT_TRUE(torch::equal(a->unused->weight, MakeNet(channels_last)->unused->weight));
  EXPECT_TRUE(torch::equal(b->unused->weight, MakeNet(channels_last)->unused->weight));
  EXPECT_EQ(plain.state().size(), fused.state().size());
}

TEST(FusedAdamStepTest, AdamEqualsItsLoop) {
  ExpectSameSteps<torch::optim::Adam>(torch::optim::AdamOptions(1e-2), false, kFusedExpected);
  ExpectSameSteps<torch::optim::Adam>(torch::optim::AdamOptions(1e-2).weight_decay(0.1), false,
                                      kFusedExpected);
}

TEST(FusedAdamStepTest, AdamWEqualsItsLoopAlsoChannelsLast) {
  ExpectSameSteps<torch::optim::AdamW>(torch::optim::AdamWOptions(1e-2).weight_decay(0.05), false,
                                       kFusedExpected);
  ExpectSameSteps<torch::optim::AdamW>(torch::optim::AdamWOptions(1e-2).weight_decay(0.05), true,
                                       kFusedExpected);
}

TEST(FusedAdamStepTest, AmsgradAndOtherOptimizersFallBackToTheirStep) {
  ExpectSameSteps<torch::optim::Adam>(torch::optim::AdamOptions(1e-2).amsgrad(true), false, false);
  ExpectSameSteps<torch::optim::SGD>(torch::optim::SGDOptions(1e-2), false, false);
}

// A fused step continues a plain step's state (a checkpoint written by either loads in both).
TEST(FusedAdamStepTest, ContinuesThePlainStepsState) {
  Net a = MakeNet(false), b = MakeNet(false);
  torch::optim::AdamW plain(a->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.05));
  torch::optim::AdamW mixed(b->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.05));
  torch::manual_seed(9);
  for (int step = 0; step < 4; ++step) {
    const torch::Tensor x = torch::randn({4, 2, 8, 8});
    const torch::Tensor y = torch::randint(0, 3, {4}, torch::kLong);
    plain.zero_grad();
    mixed.zero_grad();
    torch::cross_entropy_loss(a->forward(x), y).backward();
    torch::cross_entropy_loss(b->forward(x), y).backward();
    plain.step();
    if (step % 2 == 0) {
      mixed.step();
    } else {
      FusedAdamStep(&mixed);
    }
  }
  const auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::allclose(item.value(), pb[item.key()], 1e-5, 1e-7)) << item.key();
  }
}

TEST(SetGradientsToNoneTest, DropsGradientsAndTheNextBackwardWritesFreshOnes) {
  Net net = MakeNet(false);
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-2));
  const torch::Tensor x = torch::randn({2, 2, 8, 8});
  net->forward(x).sum().backward();
  const torch::Tensor first = net->fc->weight.grad().clone();
  SetGradientsToNone(&adam);
  for (const torch::Tensor& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
  net->forward(x).sum().backward();
  EXPECT_TRUE(torch::equal(net->fc->weight.grad(), first)) << "not accumulated onto the old";
}

}  // namespace
}  // namespace sketch
