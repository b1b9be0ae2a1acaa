// Tests trainer/augment.h on real drawings.
#include "trainer/augment.h"

#include <cmath>
#include <filesystem>

#include "core/dataset.h"
#include "core/sketch_validation.h"
#include "gtest/gtest.h"
#include "tests/testing/sample_dataset.h"
#include "trainer/prepare.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

class AugmentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto path = PrepareSampleDataset("augment_test", {"cat", "eye", "guitar"}, 20, 1, 3);
    ASSERT_TRUE(path.ok()) << path.status();
    auto dataset = ReadDataset(*path);
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    dataset_ = new Dataset(std::move(*dataset));
  }
  static void TearDownTestSuite() {
    delete dataset_;
    dataset_ = nullptr;
  }

  static Dataset* dataset_;
};
Dataset* AugmentTest::dataset_ = nullptr;

float LongerSide(const Sketch& s) {
  float max_x = 0, max_y = 0;
  for (const Stroke& stroke : s.strokes) {
    for (size_t i = 0; i < stroke.size(); ++i) {
      max_x = std::max(max_x, stroke.x[i]);
      max_y = std::max(max_y, stroke.y[i]);
    }
  }
  return std::max(max_x, max_y);
}

// Google's files are not always exactly top-left aligned (some start at 1), so the identity map
// re-aligns: a drawing whose longer side already spans 255 units comes back only translated.
TEST_F(AugmentTest, IdentityOnlyRealignsASimplifiedDrawing) {
  Sketch out;
  int full_extent = 0;
  for (const DatasetExample& e : dataset_->train) {
    ASSERT_TRUE(ApplyAffine(e.sketch, Affine(), &out).ok());
    ASSERT_EQ(out.strokes.size(), e.sketch.strokes.size());
    EXPECT_EQ(out.key_id, e.sketch.key_id);
    EXPECT_EQ(out.word, e.sketch.word);
    float min_x = 255, min_y = 255, max_x = 0, max_y = 0;
    for (const Stroke& s : e.sketch.strokes) {
      for (size_t i = 0; i < s.size(); ++i) {
        min_x = std::min(min_x, s.x[i]), max_x = std::max(max_x, s.x[i]);
        min_y = std::min(min_y, s.y[i]), max_y = std::max(max_y, s.y[i]);
      }
    }
    if (std::max(max_x - min_x, max_y - min_y) != 255.0f) continue;
    ++full_extent;
    for (size_t s = 0; s < out.strokes.size(); ++s) {
      for (size_t i = 0; i < out.strokes[s].size(); ++i) {
        ASSERT_EQ(out.strokes[s].x[i], e.sketch.strokes[s].x[i] - min_x);
        ASSERT_EQ(out.strokes[s].y[i], e.sketch.strokes[s].y[i] - min_y);
      }
    }
  }
  EXPECT_GT(full_extent, 30);
}

TEST_F(AugmentTest, AugmentedDrawingsStayValidAndChange) {
  const AugmentOptions options;
  Rng rng(11);
  Sketch out;
  int changed = 0;
  for (const DatasetExample& e : dataset_->train) {
    ASSERT_TRUE(ApplyAffine(e.sketch, SampleAffine(options, &rng), &out).ok());
    ASSERT_TRUE(ValidateSketch(out).ok()) << ValidateSketch(out);
    EXPECT_EQ(out.num_points(), e.sketch.num_points());
    EXPECT_EQ(LongerSide(out), 255.0f) << "re-fitted to the simplified frame";
    bool differs = false;
    for (size_t s = 0; s < out.strokes.size(); ++s) {
      differs |= out.strokes[s].x != e.sketch.strokes[s].x;
      differs |= out.strokes[s].y != e.sketch.strokes[s].y;
    }
    changed += differs;
  }
  EXPECT_EQ(changed, static_cast<int>(dataset_->train.size()));
}

TEST_F(AugmentTest, SameSeedSameAffine) {
  const AugmentOptions options;
  Rng a(5), b(5), c(6);
  const Affine x = SampleAffine(options, &a), y = SampleAffine(options, &b);
  const Affine z = SampleAffine(options, &c);
  EXPECT_EQ(x.a, y.a);
  EXPECT_EQ(x.b, y.b);
  EXPECT_EQ(x.c, y.c);
  EXPECT_EQ(x.d, y.d);
  EXPECT_NE(x.a, z.a);
}

TEST(AugmentMathTest, SampledMapsStayWithinTheBounds) {
  AugmentOptions options;
  Rng rng(1);
  for (int i = 0; i < 1000; ++i) {
    const Affine m = SampleAffine(options, &rng);
    // Columns are rotation * shear * scale applied to e_x and e_y: |col_x| is the x scale.
    const double sx = std::hypot(m.a, m.c);
    EXPECT_GE(sx, options.min_scale - 1e-5);
    EXPECT_LE(sx, options.max_scale + 1e-5);
    const double rotation = std::atan2(m.c, m.a) * 180.0 / 3.14159265358979323846;
    EXPECT_LE(std::fabs(rotation), options.max_rotation_degrees + 1e-4);
    const double det = m.a * m.d - m.b * m.c;  // sx * sy: no reflection, no collapse
    EXPECT_GE(det, options.min_scale * options.min_scale - 1e-4);
  }
}

TEST(AugmentMathTest, RejectsBadOptions) {
  EXPECT_TRUE(ValidateAugmentOptions(AugmentOptions()).ok());
  AugmentOptions o;
  o.min_scale = 1.2;  // above max_scale
  EXPECT_EQ(ValidateAugmentOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o = AugmentOptions();
  o.max_shear = -0.1;
  EXPECT_EQ(ValidateAugmentOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o = AugmentOptions();
  o.max_rotation_degrees = NAN;
  EXPECT_EQ(ValidateAugmentOptions(o).code(), absl::StatusCode::kInvalidArgument);
  for (double p : {-0.1, 1.5, static_cast<double>(NAN)}) {
    o = AugmentOptions();
    o.mirror_probability = p;
    EXPECT_EQ(ValidateAugmentOptions(o).code(), absl::StatusCode::kInvalidArgument) << p;
  }
  o.mirror_probability = 1.0;
  EXPECT_TRUE(ValidateAugmentOptions(o).ok());
}

// The mirror negates the map's first column and nothing else: the four draws before its coin
// are those of a stream without it, so runs without the mirror keep their augmentation.
TEST(AugmentMathTest, MirrorNegatesTheFirstColumnOfTheSameMap) {
  AugmentOptions never, always;
  always.mirror_probability = 1.0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Rng a(seed), b(seed);
    const Affine plain = SampleAffine(never, &a), mirrored = SampleAffine(always, &b);
    EXPECT_EQ(mirrored.a, -plain.a);
    EXPECT_EQ(mirrored.c, -plain.c);
    EXPECT_EQ(mirrored.b, plain.b);
    EXPECT_EQ(mirrored.d, plain.d);
    EXPECT_LT(mirrored.a * mirrored.d - mirrored.b * mirrored.c, 0.0f) << "a reflection";
  }
  // About half of the drawings are mirrored at 0.5.
  AugmentOptions half;
  half.mirror_probability = 0.5;
  Rng rng(3);
  int reflections = 0;
  for (int i = 0; i < 1000; ++i) {
    const Affine m = SampleAffine(half, &rng);
    reflections += m.a * m.d - m.b * m.c < 0.0f;
  }
  EXPECT_GT(reflections, 430);
  EXPECT_LT(reflections, 570);
}

}  // namespace
}  // namespace sketch
