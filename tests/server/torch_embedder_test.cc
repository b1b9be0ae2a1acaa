#include "server/torch_embedder.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/dataset.h"
#include "core/rasterizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/model_fixture.h"
#include "trainer/evaluate.h"
#include "trainer/run_files.h"

namespace sketch {
namespace {

using ::sketch::testing::SharedModelFixture;

class TorchEmbedderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::ModelFixture* fixture = SharedModelFixture();
    ASSERT_NE(fixture, nullptr);
    auto model = LoadTrainedModel(fixture->model_dir);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    auto dataset = ReadDataset(fixture->dataset_path);
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    test_ = dataset->test;
    for (const DatasetExample& e : test_) sketches_.push_back(&e.sketch);
  }

  std::unique_ptr<TorchEmbedder> Make(Precision precision = Precision::kFp32) {
    TorchEmbedderOptions options;
    options.precision = precision;
    auto embedder = TorchEmbedder::Create(model_, options);
    EXPECT_TRUE(embedder.ok()) << embedder.status();
    return embedder.ok() ? *std::move(embedder) : nullptr;
  }

  TrainedModel model_;
  std::vector<DatasetExample> test_;
  std::vector<const Sketch*> sketches_;  // into test_
};

// Largest |a - b| relative to the largest |a| (features are ReLU outputs of varying scale).
double RelativeDifference(const std::vector<float>& a, const float* b) {
  double diff = 0, scale = 1e-12;
  for (size_t j = 0; j < a.size(); ++j) {
    diff = std::max(diff, std::abs(double(a[j]) - b[j]));
    scale = std::max(scale, std::abs(double(a[j])));
  }
  return diff / scale;
}

TEST_F(TorchEmbedderTest, ProbabilitiesAreADistributionAndFeaturesHave1024Values) {
  auto embedder = Make();
  ASSERT_NE(embedder, nullptr);
  EXPECT_EQ(embedder->num_classes(), 4);
  EXPECT_EQ(embedder->class_names(), model_.classes);
  EXPECT_EQ(embedder->dimension(), 1024);
  EXPECT_EQ(embedder->input_size(), 32);
  EXPECT_EQ(embedder->precision(), Precision::kFp32);
  auto result = embedder->EmbedBatch(sketches_);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->embeddings.size(), test_.size());
  for (const Embedding& e : result->embeddings) {
    ASSERT_EQ(e.probabilities.size(), 4u);
    ASSERT_EQ(e.feature.size(), 1024u);
    EXPECT_NEAR(std::accumulate(e.probabilities.begin(), e.probabilities.end(), 0.0), 1.0, 1e-5);
    for (float p : e.probabilities) EXPECT_TRUE(p >= 0 && p <= 1) << p;
    for (float f : e.feature) ASSERT_TRUE(std::isfinite(f) && f >= 0) << f;  // fc_1 after ReLU
  }
}

// The server must see what `sketch-trainer bundle` indexed: the same features (BatchNorm folding
// and other batch sizes change only the rounding) and the same top-1 class.
TEST_F(TorchEmbedderTest, FeaturesEqualTheOfflineEvaluation) {
  EvaluateOptions options;
  options.batch_size = 64;
  auto offline = EvaluateSplit(model_, test_, options);
  ASSERT_TRUE(offline.ok()) << offline.status();
  auto embedder = Make();
  ASSERT_NE(embedder, nullptr);
  for (size_t batch : {sketches_.size(), size_t{7}, size_t{1}}) {
    SCOPED_TRACE(batch);
    double worst = 0;
    for (size_t start = 0; start < sketches_.size(); start += batch) {
      const size_t end = std::min(sketches_.size(), start + batch);
      auto result = embedder->EmbedBatch({sketches_.begin() + start, sketches_.begin() + end});
      ASSERT_TRUE(result.ok()) << result.status();
      for (size_t i = start; i < end; ++i) {
        const Embedding& e = result->embeddings[i - start];
        worst = std::max(
            worst, RelativeDifference(e.feature, offline->features.data() + i * kFeatureSize));
        const auto top = std::max_element(e.probabilities.begin(), e.probabilities.end());
        EXPECT_EQ(top - e.probabilities.begin(), offline->predictions[i]) << "drawing " << i;
      }
    }
    EXPECT_LT(worst, 1e-5);
  }
}

TEST_F(TorchEmbedderTest, TheModelIsCopiedAtCreation) {
  auto embedder = Make();
  ASSERT_NE(embedder, nullptr);
  auto before = embedder->EmbedBatch({sketches_[0]});
  ASSERT_TRUE(before.ok());
  {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : model_.model->parameters()) p.zero_();
  }
  auto after = embedder->EmbedBatch({sketches_[0]});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->embeddings[0].feature, before->embeddings[0].feature);
}

TEST_F(TorchEmbedderTest, WarmingUpEveryBatchSizeLeavesTheAnswersAsTheyWere) {
  TorchEmbedderOptions cold;
  cold.warmup_max_batch_size = 0;
  TorchEmbedderOptions warm;
  warm.warmup_max_batch_size = 5;
  auto a = TorchEmbedder::Create(model_, cold);
  auto b = TorchEmbedder::Create(model_, warm);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  for (size_t size = 1; size <= 5; ++size) {
    const std::vector<const Sketch*> batch(sketches_.begin(), sketches_.begin() + size);
    auto from_cold = (*a)->EmbedBatch(batch);
    auto from_warm = (*b)->EmbedBatch(batch);
    ASSERT_TRUE(from_cold.ok()) << from_cold.status();
    ASSERT_TRUE(from_warm.ok()) << from_warm.status();
    for (size_t i = 0; i < size; ++i) {
      EXPECT_EQ(from_warm->embeddings[i].feature, from_cold->embeddings[i].feature)
          << "batch of " << size << ", drawing " << i;
    }
  }
}

TEST_F(TorchEmbedderTest, ANegativeWarmUpIsRefused) {
  TorchEmbedderOptions options;
  options.warmup_max_batch_size = -1;
  auto embedder = TorchEmbedder::Create(model_, options);
  EXPECT_EQ(embedder.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(embedder.status().message(), ::testing::HasSubstr("warmup_max_batch_size"));
}

TEST_F(TorchEmbedderTest, BadSketchesAreInvalidArgument) {
  auto embedder = Make();
  ASSERT_NE(embedder, nullptr);
  Sketch no_strokes;
  Sketch empty_stroke;
  empty_stroke.strokes.emplace_back();
  Sketch mismatched;
  mismatched.strokes.push_back({{1, 2, 3}, {1, 2}, {}});
  Sketch short_bitmap;
  short_bitmap.bitmap.size = 28;
  short_bitmap.bitmap.pixels.resize(27 * 28);
  for (const Sketch* bad : {&no_strokes, &empty_stroke, &mismatched, &short_bitmap}) {
    auto result = embedder->EmbedBatch({sketches_[0], bad});
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
    EXPECT_THAT(result.status().message(), ::testing::HasSubstr("sketch 1"));
  }
  EXPECT_EQ(embedder->EmbedBatch({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(embedder->EmbedBatch({nullptr}).status().code(), absl::StatusCode::kInvalidArgument);
  // The embedder still works after refusing input.
  EXPECT_TRUE(embedder->EmbedBatch({sketches_[0]}).ok());
}

TEST_F(TorchEmbedderTest, BitmapSketchesWork) {
  auto embedder = Make();
  ASSERT_NE(embedder, nullptr);
  // A bitmap rendered exactly as the model renders strokes is the same network input.
  Sketch same_size;
  same_size.bitmap.size = model_.preprocessing.raster.size;
  ASSERT_TRUE(
      Rasterize(test_[0].sketch, model_.preprocessing.raster, &same_size.bitmap.pixels).ok());
  // Google's 28 x 28 bitmaps are resized to the input size.
  Sketch google_size;
  RasterOptions raster28;
  raster28.size = 28;
  google_size.bitmap.size = 28;
  ASSERT_TRUE(Rasterize(test_[0].sketch, raster28, &google_size.bitmap.pixels).ok());
  auto result = embedder->EmbedBatch({sketches_[0], &same_size, &google_size});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->embeddings[1].feature, result->embeddings[0].feature);
  EXPECT_EQ(result->embeddings[1].probabilities, result->embeddings[0].probabilities);
  const Embedding& resized = result->embeddings[2];
  EXPECT_NEAR(std::accumulate(resized.probabilities.begin(), resized.probabilities.end(), 0.0), 1.0,
              1e-5);
  EXPECT_EQ(resized.feature.size(), 1024u);
}

TEST_F(TorchEmbedderTest, CreateRefusesAPreprocessingOrClassesThatDoNotFitTheModel) {
  TrainedModel wrong_size = model_;
  wrong_size.preprocessing.raster.size = 64;
  auto refused = TorchEmbedder::Create(wrong_size);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("64"));

  TrainedModel wrong_classes = model_;
  wrong_classes.classes.pop_back();
  EXPECT_EQ(TorchEmbedder::Create(wrong_classes).status().code(),
            absl::StatusCode::kInvalidArgument);

  TrainedModel bad_norm = model_;
  bad_norm.preprocessing.normalization.std = 0;
  EXPECT_EQ(TorchEmbedder::Create(bad_norm).status().code(), absl::StatusCode::kInvalidArgument);
}

// bf16 autocast + channels-last (emulated where the CPU lacks bf16: slow but correct): the same
// classes and features close to fp32's.
TEST_F(TorchEmbedderTest, Bf16StaysCloseToFp32) {
  auto fp32 = Make(Precision::kFp32);
  auto bf16 = Make(Precision::kBf16);
  ASSERT_NE(fp32, nullptr);
  ASSERT_NE(bf16, nullptr);
  EXPECT_EQ(bf16->precision(), Precision::kBf16);
  auto a = fp32->EmbedBatch(sketches_);
  auto b = bf16->EmbedBatch(sketches_);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << " " << b.status();
  int same_top = 0;
  for (size_t i = 0; i < sketches_.size(); ++i) {
    const auto& fa = a->embeddings[i].feature;
    const auto& fb = b->embeddings[i].feature;
    double dot = 0, na = 0, nb = 0;
    for (size_t j = 0; j < fa.size(); ++j)
      dot += fa[j] * fb[j], na += fa[j] * fa[j], nb += fb[j] * fb[j];
    EXPECT_GT(dot / std::sqrt(na * nb + 1e-30), 0.99) << "drawing " << i;
    const auto& pa = a->embeddings[i].probabilities;
    const auto& pb = b->embeddings[i].probabilities;
    same_top += std::max_element(pa.begin(), pa.end()) - pa.begin() ==
                std::max_element(pb.begin(), pb.end()) - pb.begin();
    EXPECT_NEAR(std::accumulate(pb.begin(), pb.end(), 0.0), 1.0, 1e-5);
  }
  EXPECT_GE(same_top, static_cast<int>(sketches_.size()) * 9 / 10);
}

}  // namespace
}  // namespace sketch
