// Tests models/sketch_model.h, models/sknet.h, models/skresnet.h. Sizes are kept small (input 32 or
// 64) except where the study's 128x128 geometry is the point, so the binary runs in seconds.
#include "models/sketch_model.h"

#include <ATen/autocast_mode.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "models/sknet.h"
#include "models/skresnet.h"
#include "models/torch_runtime.h"

namespace sketch {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<SketchModel> Make(const std::string& architecture, int input_size,
                                  int num_classes = 10, float dropout = 0) {
  auto model = MakeSketchModel(architecture, {num_classes, input_size, dropout});
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *model : nullptr;
}

// max |a - b| / max |b|: one number for "equal up to rounding" on a whole batch.
double RelativeError(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  return (a - b).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

// Gives every BatchNorm non-trivial statistics and affine parameters, as training would, so
// that folding has something to fold.
void RandomizeBatchNorm(torch::nn::Module* model) {
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    if (item.key().find(".bn.weight") != std::string::npos) item.value().uniform_(0.5, 1.5);
    if (item.key().find(".bn.bias") != std::string::npos) item.value().uniform_(-0.2, 0.2);
  }
  for (auto& item : model->named_buffers()) {
    if (item.key().find("running_mean") != std::string::npos) item.value().uniform_(-0.2, 0.2);
    if (item.key().find("running_var") != std::string::npos) item.value().uniform_(0.5, 2.0);
  }
}

int64_t ConvUnitParams(int64_t in, int64_t out) { return 9 * in * out + 2 * out; }
int64_t LinearParams(int64_t in, int64_t out) { return in * out + out; }

class SketchModelTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { torch::manual_seed(7); }
};

TEST_P(SketchModelTest, ShapesAt128) {
  auto model = Make(GetParam(), 128, 345);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->architecture(), GetParam());
  EXPECT_EQ(model->num_classes(), 345);
  EXPECT_EQ(model->input_size(), 128);
  model->eval();
  c10::InferenceMode inference;
  const ModelOutput out = model->Forward(torch::rand({2, 1, 128, 128}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 345}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{2, kFeatureSize}));
  EXPECT_EQ(out.logits.scalar_type(), torch::kFloat);
  EXPECT_GE(out.features.min().item<float>(), 0.0f);
  EXPECT_TRUE(torch::isfinite(out.logits).all().item<bool>());
}

TEST_P(SketchModelTest, ShapesAt64InTrainMode) {
  auto model = Make(GetParam(), 64, 5);
  ASSERT_NE(model, nullptr);
  const ModelOutput out = model->Forward(torch::rand({3, 1, 64, 64}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{3, kFeatureSize}));
  EXPECT_GE(out.features.min().item<float>(), 0.0f);
  EXPECT_TRUE(out.logits.requires_grad());
}

TEST_P(SketchModelTest, StateDictNamesFollowTheStudy) {
  auto model = Make(GetParam(), 32);
  ASSERT_NE(model, nullptr);
  const auto params = model->named_parameters();
  const auto buffers = model->named_buffers();
  for (const char* name : {"conv1_1.conv.weight", "conv1_2.bn.weight", "conv4_1.conv.weight",
                           "fc_1.weight", "fc_1.bias", "fc_2.weight", "fc_2.bias"}) {
    EXPECT_NE(params.find(name), nullptr) << name;
  }
  EXPECT_NE(buffers.find("conv1_1.bn.running_mean"), nullptr);
  EXPECT_EQ(params.find("conv1_1.conv.bias"), nullptr) << "convs before BatchNorm have no bias";
  if (GetParam() == kSkResNetName) {
    EXPECT_NE(params.find("res2.conv_a.conv.weight"), nullptr);
    EXPECT_NE(params.find("res9.conv_b.bn.bias"), nullptr);
    EXPECT_NE(params.find("conv10_1.conv.weight"), nullptr);
  } else {
    EXPECT_NE(params.find("conv4_2.conv.weight"), nullptr);
  }
}

TEST_P(SketchModelTest, FoldedBatchNormMatchesEvalMode) {
  auto model = Make(GetParam(), 64);
  ASSERT_NE(model, nullptr);
  RandomizeBatchNorm(model.get());
  model->eval();
  const torch::Tensor images = torch::rand({2, 1, 64, 64});
  ModelOutput reference;
  {
    c10::InferenceMode inference;
    reference = model->Forward(images);
  }
  const int64_t unfolded_params = CountParameters(*model);

  // The copy leaves the source as it was.
  auto copy = MakeInferenceCopy(*model);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_NE(model->named_parameters().find("conv1_1.bn.weight"), nullptr);

  ASSERT_TRUE(FoldBatchNorm(model.get()).ok());
  ASSERT_TRUE(FoldBatchNorm(model.get()).ok()) << "folding twice is a no-op";
  EXPECT_EQ(model->named_parameters().find("conv1_1.bn.weight"), nullptr);
  EXPECT_NE(model->named_parameters().find("conv1_1.conv.bias"), nullptr);
  EXPECT_EQ(model->named_buffers().size(), 0u);
  EXPECT_LT(CountParameters(*model), unfolded_params);

  auto copy_of_folded = MakeInferenceCopy(*model);
  ASSERT_TRUE(copy_of_folded.ok()) << copy_of_folded.status();

  c10::InferenceMode inference;
  for (SketchModel* folded : {model.get(), copy->get(), copy_of_folded->get()}) {
    const ModelOutput out = folded->Forward(images);
    EXPECT_LT(RelativeError(out.logits, reference.logits), 1e-4);
    EXPECT_LT(RelativeError(out.features, reference.features), 1e-4);
  }
}

TEST_P(SketchModelTest, Bf16AutocastIsCloseToFp32) {
  auto model = Make(GetParam(), 64);
  ASSERT_NE(model, nullptr);
  model->eval();
  c10::InferenceMode inference;
  const torch::Tensor images = torch::rand({2, 1, 64, 64});
  const ModelOutput fp32 = model->Forward(images);
  ModelOutput bf16;
  {
    AutocastScope autocast(Precision::kBf16);
    EXPECT_TRUE(autocast.active());
    EXPECT_TRUE(Bf16AutocastEnabled());
    bf16 = model->Forward(images);
  }
  EXPECT_FALSE(Bf16AutocastEnabled()) << "the scope restores the previous state";
  EXPECT_EQ(bf16.logits.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::isfinite(bf16.logits).all().item<bool>());
  // bf16 keeps 8 mantissa bits; through ~10 conv layers about 1% (0.5-0.8% measured).
  EXPECT_LT(RelativeError(bf16.logits, fp32.logits), 0.05);
  EXPECT_LT(RelativeError(bf16.features, fp32.features), 0.05);
}

TEST_P(SketchModelTest, ChannelsLastGivesTheSameOutput) {
  auto model = Make(GetParam(), 32);
  ASSERT_NE(model, nullptr);
  model->eval();
  const torch::Tensor images = torch::rand({2, 1, 32, 32});
  torch::Tensor reference;
  {
    c10::InferenceMode inference;
    reference = model->Forward(images).logits;
  }
  ToChannelsLast(model.get());
  const auto weight = model->named_parameters().find("conv1_2.conv.weight");
  ASSERT_NE(weight, nullptr);
  EXPECT_TRUE(weight->is_contiguous(torch::MemoryFormat::ChannelsLast));
  c10::InferenceMode inference;
  const torch::Tensor out = model->Forward(ToChannelsLast(images)).logits;
  EXPECT_LT(RelativeError(out, reference), 1e-4);
}

TEST_P(SketchModelTest, AFewAdamStepsReduceTheLoss) {
  auto model = Make(GetParam(), 32, 4);
  ASSERT_NE(model, nullptr);
  const torch::Tensor images = torch::rand({8, 1, 32, 32});
  const torch::Tensor labels = torch::randint(0, 4, {8}, torch::kLong);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3));
  double first_loss = 0;
  double last_loss = 0;
  for (int step = 0; step < 6; ++step) {
    adam.zero_grad();
    torch::Tensor loss = torch::cross_entropy_loss(model->Forward(images).logits, labels);
    loss.backward();
    adam.step();
    (step == 0 ? first_loss : last_loss) = loss.item<double>();
  }
  EXPECT_LT(last_loss, first_loss);
}

TEST_P(SketchModelTest, DropoutActsInTrainModeOnly) {
  auto model = Make(GetParam(), 32, 4, /*dropout=*/0.5f);
  ASSERT_NE(model, nullptr);
  EXPECT_FLOAT_EQ(model->dropout(), 0.5f);
  torch::NoGradGuard no_grad;
  const torch::Tensor images = torch::rand({2, 1, 32, 32});
  // Train mode: BatchNorm uses the batch's statistics, so only dropout differs between calls.
  EXPECT_FALSE(torch::equal(model->Forward(images).logits, model->Forward(images).logits));
  model->eval();
  EXPECT_TRUE(torch::equal(model->Forward(images).logits, model->Forward(images).logits));
}

TEST_P(SketchModelTest, SafeForwardRejectsBadShapes) {
  auto model = Make(GetParam(), 32);
  ASSERT_NE(model, nullptr);
  model->eval();
  c10::InferenceMode inference;
  for (const auto& bad : {torch::rand({2, 1, 64, 64}), torch::rand({2, 3, 32, 32}),
                          torch::rand({1, 32, 32}), torch::zeros({2, 1, 32, 32}, torch::kDouble),
                          torch::rand({0, 1, 32, 32}), torch::Tensor()}) {
    const auto out = SafeForward(model.get(), bad);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  }
  const auto ok = SafeForward(model.get(), torch::rand({1, 1, 32, 32}));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->logits.size(0), 1);
}

// Stroke-order input: only the first conv's input channels change, not a parameter after it.
TEST_P(SketchModelTest, InChannelsChangeOnlyTheFirstConv) {
  ModelConfig config{4, 32};
  auto one = MakeSketchModel(GetParam(), config);
  config.in_channels = 3;
  auto three = MakeSketchModel(GetParam(), config);
  ASSERT_TRUE(one.ok() && three.ok());
  EXPECT_EQ((*three)->in_channels(), 3);
  EXPECT_EQ(CountParameters(**three) - CountParameters(**one), 2 * 64 * 3 * 3);
  (*three)->eval();
  c10::InferenceMode inference;
  const auto out = SafeForward(three->get(), torch::rand({2, 3, 32, 32}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->features.sizes(), (std::vector<int64_t>{2, kFeatureSize}));
  EXPECT_EQ(SafeForward(three->get(), torch::rand({2, 1, 32, 32})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(BothNets, SketchModelTest,
                         ::testing::Values(std::string(kSkNetName), std::string(kSkResNetName)),
                         [](const auto& info) { return info.param; });

TEST(SketchModelCountTest, ParameterCountsAt128With100Classes) {
  const int64_t head = LinearParams(256 * 8 * 8, 1024) + LinearParams(1024, 100);
  const int64_t sknet = ConvUnitParams(1, 64) + ConvUnitParams(64, 64) + ConvUnitParams(64, 128) +
                        ConvUnitParams(128, 128) + 2 * ConvUnitParams(128, 128) +
                        ConvUnitParams(128, 256) + ConvUnitParams(256, 256) + head;
  const int64_t skresnet = ConvUnitParams(1, 64) + ConvUnitParams(64, 64) +
                           4 * ConvUnitParams(64, 64) + ConvUnitParams(64, 128) +
                           4 * ConvUnitParams(128, 128) + ConvUnitParams(128, 256) +
                           4 * ConvUnitParams(256, 256) + ConvUnitParams(256, 256) + head;
  EXPECT_EQ(sknet, 18'321'316);  // the formula evaluated by hand, to catch a slip in it
  EXPECT_EQ(skresnet, 20'978'340);
  EXPECT_EQ(CountParameters(*Make(kSkNetName, 128, 100)), sknet);
  EXPECT_EQ(CountParameters(*Make(kSkResNetName, 128, 100)), skresnet);
}

TEST(SketchModelFactoryTest, RejectsBadArchitectureAndConfig) {
  EXPECT_EQ(MakeSketchModel("vgg16", {10}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(MakeSketchModel("vgg16", {10}).status().message()), HasSubstr("vgg16"));
  for (const ModelConfig& bad :
       {ModelConfig{1, 128}, ModelConfig{0, 128}, ModelConfig{10, 100}, ModelConfig{10, 0},
        ModelConfig{10, -16}, ModelConfig{10, 128, 1.0f}, ModelConfig{10, 128, -0.1f},
        ModelConfig{10, 128, 0.0f, 0}, ModelConfig{10, 128, 0.0f, 17}}) {
    for (const char* architecture : {kSkNetName, kSkResNetName}) {
      EXPECT_EQ(MakeSketchModel(architecture, bad).status().code(),
                absl::StatusCode::kInvalidArgument)
          << architecture << " classes=" << bad.num_classes << " size=" << bad.input_size
          << " dropout=" << bad.dropout;
    }
  }
  EXPECT_TRUE(MakeSketchModel(kSkNetName, {2, 16}).ok());
}

}  // namespace
}  // namespace sketch
