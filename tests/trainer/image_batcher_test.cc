// Tests trainer/image_batcher.h: determinism whatever the threads, epoch permutations, resume
// from any step, the fixed-order pass, normalization and errors.
#include "trainer/image_batcher.h"

#include <torch/torch.h>

#include <filesystem>
#include <set>

#include "core/dataset.h"
#include "gtest/gtest.h"
#include "tests/testing/sample_dataset.h"
#include "trainer/prepare.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

class ImageBatcherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // 15 train per class: 60 examples.
    auto path =
        PrepareSampleDataset("image_batcher_test", {"airplane", "cat", "eye", "guitar"}, 15, 5, 2);
    ASSERT_TRUE(path.ok()) << path.status();
    auto dataset = ReadDataset(*path);
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    dataset_ = new Dataset(std::move(*dataset));
  }
  static void TearDownTestSuite() {
    delete dataset_;
    dataset_ = nullptr;
  }

  static Preprocessing Small() {
    Preprocessing p;
    p.raster.size = 32;
    return p;
  }
  static ImageBatcherOptions Training(int loader_threads) {
    ImageBatcherOptions o;
    o.batch_size = 8;  // 8 steps per epoch, the last one of 4
    o.shuffle = true;
    o.augment = true;
    o.seed = 9;
    o.end_step = 20;
    o.loader_threads = loader_threads;
    o.queue_capacity = 2;
    return o;
  }
  static std::vector<Batch> Drain(ImageBatcher* batcher) {
    std::vector<Batch> batches;
    for (;;) {
      absl::StatusOr<Batch> batch = batcher->Next();
      if (absl::IsOutOfRange(batch.status())) return batches;
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok()) return batches;
      batches.push_back(std::move(*batch));
    }
  }
  static std::vector<Batch> Run(const ImageBatcherOptions& options,
                                const Preprocessing& preprocessing = Small()) {
    auto batcher = ImageBatcher::Create(&dataset_->train, preprocessing, options);
    EXPECT_TRUE(batcher.ok()) << batcher.status();
    return batcher.ok() ? Drain(batcher->get()) : std::vector<Batch>();
  }
  static void ExpectSame(const std::vector<Batch>& a, const std::vector<Batch>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].step, b[i].step);
      EXPECT_EQ(a[i].indices, b[i].indices) << "step " << a[i].step;
      EXPECT_TRUE(torch::equal(a[i].labels, b[i].labels)) << "step " << a[i].step;
      EXPECT_TRUE(torch::equal(a[i].images, b[i].images)) << "step " << a[i].step;
    }
  }

  static Dataset* dataset_;
};
Dataset* ImageBatcherTest::dataset_ = nullptr;

TEST_F(ImageBatcherTest, SameSeedSameBatchesWhateverTheLoaderThreads) {
  const std::vector<Batch> inline_batches = Run(Training(0));
  ASSERT_EQ(inline_batches.size(), 20u);
  for (size_t i = 0; i < inline_batches.size(); ++i) {
    const Batch& b = inline_batches[i];
    EXPECT_EQ(b.step, static_cast<int64_t>(i));
    EXPECT_EQ(b.epoch, b.step / 8);
    const int64_t expected = b.step % 8 == 7 ? 4 : 8;
    EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{expected, 1, 32, 32}));
    EXPECT_EQ(b.labels.scalar_type(), torch::kLong);
    for (size_t j = 0; j < b.indices.size(); ++j) {
      EXPECT_EQ(b.labels[j].item<int64_t>(), dataset_->train[b.indices[j]].label);
    }
  }
  ExpectSame(inline_batches, Run(Training(1)));
  ExpectSame(inline_batches, Run(Training(3)));
}

// Two views: view 0 is the one-view batch itself, view 1 the same examples augmented anew.
TEST_F(ImageBatcherTest, TwoViewsRepeatTheExamplesWithTheirOwnAugmentation) {
  const std::vector<Batch> one = Run(Training(1));
  ImageBatcherOptions two_views = Training(1);
  two_views.views = 2;
  const std::vector<Batch> two = Run(two_views);
  ASSERT_EQ(two.size(), one.size());
  for (size_t s = 0; s < one.size(); ++s) {
    const int64_t b = one[s].images.size(0);
    ASSERT_EQ(two[s].images.size(0), 2 * b);
    EXPECT_TRUE(torch::equal(two[s].images.slice(0, 0, b), one[s].images));
    EXPECT_FALSE(torch::equal(two[s].images.slice(0, b), one[s].images));
    for (int64_t j = 0; j < b; ++j) {
      EXPECT_EQ(two[s].indices[j], one[s].indices[j]);
      EXPECT_EQ(two[s].indices[b + j], one[s].indices[j]);
      EXPECT_EQ(two[s].labels[b + j].item<int64_t>(), one[s].labels[j].item<int64_t>());
    }
  }
  ExpectSame(two, Run([&] {
               ImageBatcherOptions threads = two_views;
               threads.loader_threads = 3;
               return threads;
             }()));
  two_views.views = 3;
  EXPECT_EQ(ImageBatcher::Create(&dataset_->train, Small(), two_views).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ImageBatcherTest, EachEpochIsADifferentPermutation) {
  const std::vector<Batch> batches = Run(Training(2));
  std::vector<int64_t> epoch0, epoch1;
  for (const Batch& b : batches) {
    auto& order = b.epoch == 0 ? epoch0 : epoch1;
    if (b.epoch <= 1) order.insert(order.end(), b.indices.begin(), b.indices.end());
  }
  ASSERT_EQ(epoch0.size(), 60u);
  EXPECT_EQ(std::set<int64_t>(epoch0.begin(), epoch0.end()).size(), 60u);
  EXPECT_EQ(std::set<int64_t>(epoch1.begin(), epoch1.end()).size(), 60u);
  EXPECT_NE(epoch0, epoch1);

  ImageBatcherOptions other = Training(1);
  other.seed = 10;
  EXPECT_NE(Run(other)[0].indices, batches[0].indices);
}

TEST_F(ImageBatcherTest, StartingMidRunGivesTheSameLaterBatches) {
  const std::vector<Batch> all = Run(Training(1));
  ImageBatcherOptions resumed = Training(2);
  resumed.first_step = 11;
  ExpectSame(std::vector<Batch>(all.begin() + 11, all.end()), Run(resumed));
}

TEST_F(ImageBatcherTest, AugmentationChangesImagesButNotOrder) {
  ImageBatcherOptions plain = Training(1);
  plain.augment = false;
  const std::vector<Batch> a = Run(plain), b = Run(Training(1));
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a[0].indices, b[0].indices);
  EXPECT_FALSE(torch::equal(a[0].images, b[0].images));
}

TEST_F(ImageBatcherTest, FixedOrderPassCoversTheSplitOnceAndMatchesRasterizeBatch) {
  Preprocessing p = Small();
  p.normalization.mean = 0.5f;
  p.normalization.std = 0.5f;
  ImageBatcherOptions pass;
  pass.batch_size = 16;
  pass.loader_threads = 2;
  const std::vector<Batch> batches = Run(pass, p);
  ASSERT_EQ(batches.size(), 4u);  // 16 + 16 + 16 + 12
  EXPECT_EQ(batches.back().images.size(0), 12);
  std::vector<const Sketch*> sketches;
  int64_t next = 0;
  for (const Batch& b : batches) {
    for (int64_t index : b.indices) EXPECT_EQ(index, next++);
  }
  for (const DatasetExample& e : dataset_->train) sketches.push_back(&e.sketch);
  auto direct = RasterizeBatch(sketches, p);
  ASSERT_TRUE(direct.ok()) << direct.status();
  std::vector<torch::Tensor> images;
  for (const Batch& b : batches) images.push_back(b.images);
  EXPECT_TRUE(torch::equal(torch::cat(images), *direct));
  EXPECT_GE(direct->min().item<float>(), -1.0f);
  EXPECT_LE(direct->max().item<float>(), 1.0f + 1e-6f);
  EXPECT_EQ(direct->min().item<float>(), -1.0f) << "blank paper maps to -1";
}

TEST_F(ImageBatcherTest, MeanImageIsTheAverageRasterAndIsSubtracted) {
  const Preprocessing plain = Small();
  auto mean = ComputeMeanImage(dataset_->train, plain.raster);
  ASSERT_TRUE(mean.ok()) << mean.status();
  ASSERT_EQ(mean->size(), 32u * 32u);
  std::vector<const Sketch*> sketches;
  for (const DatasetExample& e : dataset_->train) sketches.push_back(&e.sketch);
  auto images = RasterizeBatch(sketches, plain);
  ASSERT_TRUE(images.ok());
  const torch::Tensor expected = images->mean(0).reshape({-1});
  const torch::Tensor got = torch::from_blob(mean->data(), {32 * 32}, torch::kFloat);
  EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6));

  Preprocessing centred = plain;
  centred.normalization.mean_image = *mean;
  auto subtracted = RasterizeBatch(sketches, centred);
  ASSERT_TRUE(subtracted.ok());
  EXPECT_LT(subtracted->mean(0).abs().max().item<float>(), 1e-5);
}

// Bitmaps are augmented only when augment_options.bitmaps says so, and then each differently.
TEST_F(ImageBatcherTest, BitmapsAreAugmentedOnlyWhenAsked) {
  std::vector<DatasetExample> bitmaps(3);
  for (int i = 0; i < 3; ++i) {
    bitmaps[i].label = i;
    bitmaps[i].sketch.bitmap.size = 28;
    bitmaps[i].sketch.bitmap.pixels.assign(28 * 28, 0);
    bitmaps[i].sketch.bitmap.pixels[i * 30 + 100] = 255;
  }
  ImageBatcherOptions o = Training(1);
  o.end_step = 1;
  o.shuffle = false;
  auto augmented = ImageBatcher::Create(&bitmaps, Small(), o);
  ASSERT_TRUE(augmented.ok());
  o.augment = false;
  auto plain = ImageBatcher::Create(&bitmaps, Small(), o);
  ASSERT_TRUE(plain.ok());
  const auto plain_batches = Drain(plain->get());
  ExpectSame(Drain(augmented->get()), plain_batches);

  o.augment = true;
  o.augment_options.bitmaps = true;
  auto resampled = ImageBatcher::Create(&bitmaps, Small(), o);
  ASSERT_TRUE(resampled.ok());
  const auto resampled_batches = Drain(resampled->get());
  ASSERT_EQ(resampled_batches.size(), plain_batches.size());
  EXPECT_FALSE(torch::equal(resampled_batches[0].images, plain_batches[0].images));
  EXPECT_TRUE(torch::equal(resampled_batches[0].labels, plain_batches[0].labels));
}

TEST_F(ImageBatcherTest, RejectsBadInputAndStopsAfterAnError) {
  const std::vector<DatasetExample> none;
  EXPECT_EQ(ImageBatcher::Create(&none, Small(), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ImageBatcherOptions zero;
  zero.batch_size = 0;
  EXPECT_EQ(ImageBatcher::Create(&dataset_->train, Small(), zero).status().code(),
            absl::StatusCode::kInvalidArgument);
  Preprocessing wrong = Small();
  wrong.normalization.mean_image.assign(10, 0.0f);
  EXPECT_EQ(ImageBatcher::Create(&dataset_->train, wrong, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RasterizeBatch({}, Small()).status().code(), absl::StatusCode::kInvalidArgument);

  std::vector<DatasetExample> broken(dataset_->train.begin(), dataset_->train.begin() + 4);
  broken[2].sketch.strokes.clear();  // no strokes: Rasterize rejects it
  ImageBatcherOptions o;
  o.batch_size = 2;
  o.loader_threads = 2;
  auto batcher = ImageBatcher::Create(&broken, Small(), o);
  ASSERT_TRUE(batcher.ok());
  EXPECT_TRUE((*batcher)->Next().ok());
  const absl::Status error = (*batcher)->Next().status();
  EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(error.message().find("example 2"), std::string::npos) << error;
  EXPECT_TRUE(absl::IsOutOfRange((*batcher)->Next().status()));
}

TEST(StepsPerEpochTest, RoundsUp) {
  EXPECT_EQ(StepsPerEpoch(7200, 10), 720);
  EXPECT_EQ(StepsPerEpoch(7200, 64), 113);
  EXPECT_EQ(StepsPerEpoch(0, 64), 0);
}

}  // namespace
}  // namespace sketch
