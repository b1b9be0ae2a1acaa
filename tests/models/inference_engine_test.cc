// Tests models/inference_engine.h: the one inference recipe the trainer's evaluation and the
// server run.
#include "models/inference_engine.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

Preprocessing Small() {
  Preprocessing p;
  p.raster.size = 32;
  p.normalization.mean = 0.1f;
  p.normalization.std = 0.5f;
  return p;
}

std::shared_ptr<SketchModel> Model(const std::string& architecture) {
  ModelConfig config;
  config.num_classes = 3;
  config.input_size = 32;
  torch::manual_seed(7);
  auto model = MakeSketchModel(architecture, config);
  EXPECT_TRUE(model.ok()) << model.status();
  // Non-trivial BatchNorm statistics, so folding is not the identity.
  torch::NoGradGuard no_grad;
  (*model)->train();
  (void)(*model)->Forward(torch::rand({8, 1, 32, 32}));
  (*model)->eval();
  return *model;
}

Sketch Cross() {
  Sketch sketch;
  sketch.strokes.push_back({{0, 255}, {0, 255}, {}});
  sketch.strokes.push_back({{0, 255}, {255, 0}, {}});
  return sketch;
}

// On a GPU the engine answers on the CPU what the CPU engine does, up to TF32 and bf16 rounding.
TEST(InferenceEngineTest, CudaAnswersWhatTheCpuDoes) {
  if (!CudaBuild() || !torch::cuda::is_available()) {
    GTEST_SKIP() << "no CUDA GPU here (CudaBuild() = " << CudaBuild()
                 << "): run on a GPU machine with the torch2-cuda build";
  }
  const c10::Device cuda(c10::kCUDA, 0);
  for (const std::string architecture : {"sknet", "skresnet"}) {
    std::shared_ptr<SketchModel> model = Model(architecture);
    auto cpu = InferenceEngine::Create(*model, Small(), Precision::kFp32);
    auto gpu = InferenceEngine::Create(*model, Small(), Precision::kFp32, cuda);
    auto gpu_bf16 = InferenceEngine::Create(*model, Small(), Precision::kAuto, cuda);
    ASSERT_TRUE(cpu.ok() && gpu.ok() && gpu_bf16.ok());
    EXPECT_EQ((*gpu_bf16)->precision(), Precision::kBf16);
    const Sketch sketch = Cross();
    auto a = (*cpu)->RunSketches({&sketch, &sketch});
    auto b = (*gpu)->RunSketches({&sketch, &sketch});
    auto c = (*gpu_bf16)->RunSketches({&sketch, &sketch});
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_TRUE(b->features.device().is_cpu());
    EXPECT_TRUE(torch::allclose(a->features, b->features, 1e-2, 1e-3)) << architecture;
    EXPECT_TRUE(torch::allclose(a->features, c->features, 5e-2, 5e-2)) << architecture;
  }
}

TEST(InferenceEngineTest, Fp32EqualsTheUnfoldedEvalModelAndLeavesItUntouched) {
  for (const std::string architecture : {"sknet", "skresnet"}) {
    std::shared_ptr<SketchModel> model = Model(architecture);
    const torch::Tensor before = model->parameters()[0].clone();
    auto engine = InferenceEngine::Create(*model, Small(), Precision::kFp32);
    ASSERT_TRUE(engine.ok()) << engine.status();
    EXPECT_EQ((*engine)->precision(), Precision::kFp32);
    EXPECT_TRUE(torch::equal(model->parameters()[0], before));

    const Sketch sketch = Cross();
    auto out = (*engine)->RunSketches({&sketch, &sketch});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->logits.sizes(), (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(out->features.sizes(), (std::vector<int64_t>{2, kFeatureSize}));
    EXPECT_EQ(out->logits.scalar_type(), torch::kFloat);
    EXPECT_TRUE(out->features.is_contiguous());

    auto images = RasterizeBatch({&sketch, &sketch}, Small());
    ASSERT_TRUE(images.ok());
    torch::NoGradGuard no_grad;
    const ModelOutput reference = model->Forward(*images);
    EXPECT_TRUE(torch::allclose(out->logits, reference.logits, 1e-4, 1e-4)) << architecture;
    EXPECT_TRUE(torch::allclose(out->features, reference.features, 1e-4, 1e-4)) << architecture;
    // Run on the same images is what RunSketches did: bit for bit.
    auto again = (*engine)->Run(*images);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(torch::equal(again->features, out->features));
  }
}

TEST(InferenceEngineTest, Bf16RunsChannelsLastAndReturnsFloat32CloseToFp32) {
  std::shared_ptr<SketchModel> model = Model("sknet");
  auto fp32 = InferenceEngine::Create(*model, Small(), Precision::kFp32);
  auto bf16 = InferenceEngine::Create(*model, Small(), Precision::kBf16);
  ASSERT_TRUE(fp32.ok() && bf16.ok());
  EXPECT_EQ((*bf16)->precision(), Precision::kBf16);
  const Sketch sketch = Cross();
  auto a = (*fp32)->RunSketches({&sketch});
  auto b = (*bf16)->RunSketches({&sketch});
  ASSERT_TRUE(a.ok() && b.ok()) << b.status();
  EXPECT_EQ(b->features.scalar_type(), torch::kFloat);
  const double relative = ((a->features - b->features).norm() / a->features.norm()).item<double>();
  EXPECT_LT(relative, 0.05);
}

TEST(InferenceEngineTest, RefusesMismatchedPreprocessingAndBadInput) {
  std::shared_ptr<SketchModel> model = Model("sknet");
  Preprocessing wrong = Small();
  wrong.raster.size = 64;
  auto refused = InferenceEngine::Create(*model, wrong, Precision::kFp32);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("64"));

  auto engine = InferenceEngine::Create(*model, Small(), Precision::kFp32);
  ASSERT_TRUE(engine.ok());
  EXPECT_EQ((*engine)->Run(torch::zeros({1, 1, 16, 16})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*engine)->RunSketches({}).status().code(), absl::StatusCode::kInvalidArgument);
  const Sketch sketch = Cross();
  auto null_entry = (*engine)->RunSketches({&sketch, nullptr});
  EXPECT_EQ(null_entry.status().code(), absl::StatusCode::kInvalidArgument);
}

// Mirror averaging: the outputs are the means of each image's and its mirror's, from one pass.
TEST(InferenceEngineTest, MirrorAverageIsTheMeanOfTheImageAndItsMirror) {
  std::shared_ptr<SketchModel> model = Model("sknet");
  Preprocessing mirrored = Small();
  mirrored.test_time.mirror = true;
  auto plain = InferenceEngine::Create(*model, Small(), Precision::kFp32);
  auto averaged = InferenceEngine::Create(*model, mirrored, Precision::kFp32);
  ASSERT_TRUE(plain.ok() && averaged.ok());
  torch::manual_seed(3);
  const torch::Tensor images = torch::rand({3, 1, 32, 32});
  auto a = (*plain)->Run(images);
  auto b = (*plain)->Run(images.flip({3}));
  auto mean = (*averaged)->Run(images);
  ASSERT_TRUE(a.ok() && b.ok() && mean.ok()) << mean.status();
  EXPECT_EQ(mean->features.sizes(), (std::vector<int64_t>{3, kFeatureSize}));
  EXPECT_EQ(mean->logits.sizes(), (std::vector<int64_t>{3, 3}));
  EXPECT_TRUE(mean->features.is_contiguous());
  EXPECT_TRUE(torch::allclose(mean->features, 0.5 * (a->features + b->features), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(mean->logits, 0.5 * (a->logits + b->logits), 1e-4, 1e-5));
  // It does change the embedding of an asymmetric image.
  EXPECT_FALSE(torch::allclose(mean->features, a->features, 1e-3, 1e-4));
  // A bad shape is still InvalidArgument, not a torch error from the flip.
  EXPECT_EQ((*averaged)->Run(torch::zeros({2, 16, 16})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Rotated views: a drawing's planes hold its rasterized turns (models/preprocessing.h), and the
// outputs are the means over them (and with the mirror, over the mirrors of those three too), from
// one pass; each drawing's answer is its own whatever the batch (live == offline).
TEST(InferenceEngineTest, RotatedViewsAreTheMeanOverTheDrawingsTurns) {
  std::shared_ptr<SketchModel> model = Model("sknet");
  Preprocessing rotated = Small();
  rotated.test_time.rotation_degrees = 6.0f;
  Preprocessing both = rotated;
  both.test_time.mirror = true;
  auto plain = InferenceEngine::Create(*model, Small(), Precision::kFp32);
  auto three = InferenceEngine::Create(*model, rotated, Precision::kFp32);
  auto six = InferenceEngine::Create(*model, both, Precision::kFp32);
  ASSERT_TRUE(plain.ok() && three.ok() && six.ok());
  EXPECT_EQ((*three)->input_planes(), 3);
  Sketch l;  // an L and a stroke across it: no turn or mirror maps it onto itself
  l.strokes.push_back({{0, 0, 120}, {0, 255, 255}, {}});
  l.strokes.push_back({{60, 200}, {100, 40}, {}});
  const Sketch cross = Cross();
  auto images = RasterizeBatch({&l, &cross, &l}, rotated);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->size(1), 3);
  torch::Tensor sum_three = torch::zeros({3, kFeatureSize});
  torch::Tensor sum_six = torch::zeros({3, kFeatureSize});
  torch::Tensor logits_three = torch::zeros({3, 3});
  for (int64_t view = 0; view < 3; ++view) {
    const torch::Tensor planes = images->narrow(1, view, 1).contiguous();
    auto out = (*plain)->Run(planes);
    auto mirrored = (*plain)->Run(planes.flip({3}));
    ASSERT_TRUE(out.ok() && mirrored.ok());
    sum_three += out->features;
    logits_three += out->logits;
    sum_six += out->features + mirrored->features;
  }
  auto a = (*three)->Run(*images);
  auto b = (*six)->Run(*images);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_EQ(a->features.sizes(), (std::vector<int64_t>{3, kFeatureSize}));
  EXPECT_TRUE(a->features.is_contiguous());
  EXPECT_TRUE(torch::allclose(a->features, sum_three / 3, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(a->logits, logits_three / 3, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(b->features, sum_six / 6, 1e-4, 1e-5));
  auto only = (*plain)->RunSketches({&l});
  ASSERT_TRUE(only.ok());
  EXPECT_FALSE(torch::allclose(a->features.slice(0, 0, 1), only->features, 1e-3, 1e-4));
  // RunSketches rasterizes the views itself; one drawing alone is answered as within the batch.
  auto alone = (*six)->RunSketches({&cross});
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_TRUE(torch::allclose(alone->features, b->features.slice(0, 1, 2), 1e-5, 1e-6));
  // Images of one view where three are due are refused, not misread.
  auto refused = (*three)->Run(torch::zeros({3, 1, 32, 32}));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("3 rotated views"));
  EXPECT_EQ((*three)->Run(torch::zeros({3, 3, 16, 16})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Stroke-order channels: a 3-channel network takes RasterizeBatch's 3-plane images; a
// preprocessing that does not make the network's channel count is refused.
TEST(InferenceEngineTest, ChannelsFollowThePreprocessing) {
  ModelConfig config;
  config.num_classes = 3;
  config.input_size = 32;
  config.in_channels = 3;
  auto model = MakeSketchModel("skresnet", config);
  ASSERT_TRUE(model.ok()) << model.status();
  (*model)->eval();
  Preprocessing order = Small();
  order.raster.channels = RasterChannels::kStrokeOrder;
  auto engine = InferenceEngine::Create(**model, order, Precision::kFp32);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->in_channels(), 3);
  const Sketch sketch = Cross();
  auto images = RasterizeBatch({&sketch}, order);
  ASSERT_TRUE(images.ok());
  EXPECT_EQ(images->sizes(), (std::vector<int64_t>{1, 3, 32, 32}));
  auto out = (*engine)->RunSketches({&sketch});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->features.size(0), 1);
  EXPECT_EQ((*engine)->Run(torch::zeros({1, 1, 32, 32})).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto refused = InferenceEngine::Create(**model, Small(), Precision::kFp32);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("1-channel images (ink)"));
}

}  // namespace
}  // namespace sketch
