// Tests models/max_pool_relu.h against ATen's relu + max_pool2d, and that the networks' inference
// forward (which takes it) equals their autograd forward (which does not).
#include "models/max_pool_relu.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <tuple>

#include "models/sketch_model.h"
#include "models/torch_runtime.h"

namespace sketch {
namespace {

torch::Tensor Reference(const torch::Tensor& x) {
  return torch::relu(torch::max_pool2d(x, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1));
}

torch::Tensor ChannelsLastRandn(int64_t n, int64_t c, int64_t h, int64_t w, torch::Dtype dtype) {
  return torch::randn({n, c, h, w}).to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
}

// Same shape, same NaN positions, equal values elsewhere.
void ExpectSameValues(const torch::Tensor& got, const torch::Tensor& want) {
  ASSERT_EQ(got.sizes(), want.sizes());
  ASSERT_EQ(got.scalar_type(), want.scalar_type());
  EXPECT_TRUE(torch::equal(torch::isnan(got), torch::isnan(want)));
  EXPECT_TRUE(torch::equal(torch::nan_to_num(got, 0), torch::nan_to_num(want, 0)));
}

class MaxPoolReluShapeTest
    : public ::testing::TestWithParam<std::tuple<torch::Dtype, std::tuple<int, int, int, int>>> {};

TEST_P(MaxPoolReluShapeTest, EqualsAtenReluThenMaxPool) {
  torch::manual_seed(3);
  const torch::Dtype dtype = std::get<0>(GetParam());
  const auto [n, c, h, w] = std::get<1>(GetParam());
  const torch::Tensor x = ChannelsLastRandn(n, c, h, w, dtype);
  const torch::Tensor y = MaxPoolRelu(x);
  EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_EQ(y.size(2), (h - 1) / 2 + 1);
  EXPECT_EQ(y.size(3), (w - 1) / 2 + 1);
  ExpectSameValues(y, Reference(x));
  EXPECT_GT(y.gt(0).sum().item<int64_t>(), 0);  // the data had positives to pool
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MaxPoolReluShapeTest,
    ::testing::Combine(::testing::Values(torch::kFloat, torch::kBFloat16),
                       ::testing::Values(std::make_tuple(2, 64, 32, 32),  // even: the networks'
                                         std::make_tuple(1, 3, 7, 9),     // odd sides
                                         std::make_tuple(3, 17, 2, 5),    // odd channel count
                                         std::make_tuple(1, 5, 1, 1),     // one pixel
                                         std::make_tuple(2, 256, 8, 8))));

TEST(MaxPoolReluTest, NegativeWindowsGiveZeroAndInfinitiesPass) {
  for (const torch::Dtype dtype : {torch::kFloat, torch::kBFloat16}) {
    torch::Tensor x = -torch::rand({1, 2, 4, 4}).add(0.5);  // every value negative
    x[0][1][3][3] = std::numeric_limits<float>::infinity();
    x[0][0][0][0] = -std::numeric_limits<float>::infinity();
    x = x.to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor y = MaxPoolRelu(x);
    ExpectSameValues(y, Reference(x));
    EXPECT_EQ(y[0][0].abs().sum().item<float>(), 0);
    EXPECT_TRUE(std::isinf(y[0][1][1][1].item<float>()));
  }
}

TEST(MaxPoolReluTest, ANanOfEitherSignMakesItsWindowsNan) {
  for (const torch::Dtype dtype : {torch::kFloat, torch::kBFloat16}) {
    torch::Tensor x = torch::randn({1, 3, 6, 6});
    x[0][0][3][3] = std::numeric_limits<float>::quiet_NaN();
    x[0][1][5][0] = -std::numeric_limits<float>::quiet_NaN();  // x86's default NaN has the sign bit
    x = x.to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor y = MaxPoolRelu(x);
    // (3, 3) lies in output rows and columns 1 and 2 (windows 1..3 and 3..5); (5, 0) in row 2
    // (window 3..5), column 0 (window -1..1).
    EXPECT_EQ(torch::isnan(y[0][0]).sum().item<int64_t>(), 4);
    EXPECT_EQ(torch::isnan(y[0][1]).sum().item<int64_t>(), 1);
    EXPECT_TRUE(std::isnan(y[0][1][2][0].item<float>()));
    EXPECT_EQ(torch::isnan(y[0][2]).sum().item<int64_t>(), 0);
    ExpectSameValues(y, Reference(x));
  }
}

TEST(MaxPoolReluTest, RunsOnSeveralThreads) {
  const int before = torch::get_num_threads();
  torch::set_num_threads(2);
  const torch::Tensor x = ChannelsLastRandn(4, 32, 30, 30, torch::kBFloat16);
  ExpectSameValues(MaxPoolRelu(x), Reference(x));
  torch::set_num_threads(before);
}

TEST(MaxPoolReluTest, TakesOnlyWhatItCanCompute) {
  const torch::Tensor good = ChannelsLastRandn(2, 4, 8, 8, torch::kFloat);
  EXPECT_TRUE(CanUseMaxPoolRelu(good));
  EXPECT_FALSE(CanUseMaxPoolRelu(torch::Tensor()));
  EXPECT_FALSE(CanUseMaxPoolRelu(torch::randn({2, 4, 8, 8})));  // NCHW
  EXPECT_FALSE(CanUseMaxPoolRelu(good.to(torch::kDouble)));
  EXPECT_FALSE(CanUseMaxPoolRelu(good.to(torch::kHalf)));
  EXPECT_FALSE(CanUseMaxPoolRelu(good.reshape({2, 4, 64})));
  EXPECT_FALSE(CanUseMaxPoolRelu(good.narrow(0, 0, 0)));
  EXPECT_FALSE(CanUseMaxPoolRelu(good.clone().requires_grad_(true)));
  EXPECT_THROW(MaxPoolRelu(torch::randn({2, 4, 8, 8})), c10::Error);
}

// The networks take the kernel where nothing needs grad and ATen's ops under autograd; both
// give the same logits and features, in fp32 and under bf16 autocast.
class PooledUnitTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PooledUnitTest, InferenceForwardEqualsAutogradForward) {
  torch::manual_seed(11);
  auto made = MakeSketchModel(GetParam(), {5, 32});
  ASSERT_TRUE(made.ok()) << made.status();
  std::shared_ptr<SketchModel> model = *made;
  ASSERT_TRUE(FoldBatchNorm(model.get()).ok());
  ToChannelsLast(model.get());
  const torch::Tensor images = ToChannelsLast(torch::rand({3, 1, 32, 32}));
  for (const Precision precision : {Precision::kFp32, Precision::kBf16}) {
    ModelOutput with_grad;
    {
      AutocastScope autocast(precision);
      with_grad = model->Forward(images);  // the weights require grad: ATen's relu + max_pool2d
    }
    ASSERT_TRUE(with_grad.logits.requires_grad());
    ModelOutput inference;
    {
      c10::InferenceMode mode;
      AutocastScope autocast(precision);
      inference = model->Forward(images);
    }
    EXPECT_TRUE(torch::equal(inference.logits, with_grad.logits.detach()))
        << static_cast<int>(precision);
    EXPECT_TRUE(torch::equal(inference.features, with_grad.features.detach()));
  }
}

INSTANTIATE_TEST_SUITE_P(Networks, PooledUnitTest, ::testing::Values("sknet", "skresnet"));

}  // namespace
}  // namespace sketch
