// Tests models/preprocessing.h: what is validated, and the rotated test-time views' planes.
#include "models/preprocessing.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/affine_map.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

using ::testing::HasSubstr;

// An L: down the left side, then along the bottom (not symmetric under any turn or mirror).
Sketch L() {
  Sketch sketch;
  sketch.strokes.push_back({{0, 0, 120}, {0, 255, 255}, {}});
  sketch.strokes.push_back({{60, 200}, {100, 40}, {}});
  return sketch;
}

std::vector<float> Render(const Sketch& sketch, const Preprocessing& preprocessing) {
  std::vector<float> out(static_cast<size_t>(InputPlaneCount(preprocessing)) *
                         preprocessing.raster.size * preprocessing.raster.size);
  std::vector<uint8_t> scratch;
  EXPECT_TRUE(RenderInput(sketch, preprocessing, &scratch, out.data()).ok());
  return out;
}

TEST(PreprocessingTest, ViewCountIsTheProductOfMirrorAndRotations) {
  TestTimeViews views;
  EXPECT_EQ(ViewCount(views), 1);
  views.mirror = true;
  EXPECT_EQ(ViewCount(views), 2);
  views.rotation_degrees = 6.0f;
  EXPECT_EQ(ViewCount(views), 6);
  views.mirror = false;
  EXPECT_EQ(ViewCount(views), 3);
}

TEST(PreprocessingTest, RefusesRotationsOutOfRange) {
  Preprocessing p;
  p.raster.size = 16;
  for (float ok : {0.0f, 6.0f, kMaxViewRotationDegrees}) {
    p.test_time.rotation_degrees = ok;
    EXPECT_TRUE(ValidatePreprocessing(p).ok()) << ok;
  }
  for (float bad : {-1.0f, kMaxViewRotationDegrees + 1.0f, std::nanf(""),
                    std::numeric_limits<float>::infinity()}) {
    p.test_time.rotation_degrees = bad;
    const absl::Status status = ValidatePreprocessing(p);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(status.message()), HasSubstr("rotation")) << bad;
  }
}

// Rotated views are rasterized from the rotated, re-fitted strokes: the drawing's planes, then
// those of its turn by +r, then by -r, each normalized as the drawing is (a mean image too), every
// channel of each view together.
TEST(PreprocessingTest, RotatedViewsAreTheTurnedDrawingsRasterizedAfresh) {
  Preprocessing plain;
  plain.raster.size = 24;
  plain.raster.channels = RasterChannels::kStrokeOrder;
  plain.normalization.mean = 0.1f;
  plain.normalization.std = 0.5f;
  Preprocessing rotated = plain;
  rotated.test_time.rotation_degrees = 6.0f;
  EXPECT_EQ(InputPlaneCount(plain), 3);
  EXPECT_EQ(InputPlaneCount(rotated), 9);
  rotated.test_time.mirror = true;  // the mirror is the engine's flip: no planes of its own
  EXPECT_EQ(InputPlaneCount(rotated), 9);

  const Sketch l = L();
  const std::vector<float> views = Render(l, rotated);
  const size_t view = 3 * 24 * 24;
  ASSERT_EQ(views.size(), 3 * view);
  const std::vector<float> own = Render(l, plain);
  EXPECT_EQ(std::vector<float>(views.begin(), views.begin() + view), own);
  for (int k : {1, 2}) {
    Sketch turned;
    ASSERT_TRUE(ApplyAffine(l, RotationAffine(k == 1 ? 6.0 : -6.0), &turned).ok());
    const std::vector<float> expected = Render(turned, plain);
    const std::vector<float> got(views.begin() + k * view, views.begin() + (k + 1) * view);
    EXPECT_EQ(got, expected) << "view " << k;
    EXPECT_NE(got, own) << "view " << k;
  }

  // With a mean image each view is normalized by it.
  Preprocessing ink = plain;
  ink.raster.channels = RasterChannels::kInk;
  ink.normalization.mean_image.assign(24 * 24, 0.25f);
  ink.normalization.mean_image[0] = 0.75f;
  Preprocessing ink_rotated = ink;
  ink_rotated.test_time.rotation_degrees = 10.0f;
  ASSERT_TRUE(ValidatePreprocessing(ink_rotated).ok());
  const std::vector<float> ink_views = Render(l, ink_rotated);
  Sketch turned;
  ASSERT_TRUE(ApplyAffine(l, RotationAffine(-10.0), &turned).ok());
  const std::vector<float> expected = Render(turned, ink);
  EXPECT_EQ(std::vector<float>(ink_views.begin() + 2 * 24 * 24, ink_views.end()), expected);

  // RasterizeBatch stacks them per drawing; a drawing that does not map is named.
  const Sketch other = L();
  auto batch = RasterizeBatch({&l, &other}, rotated);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->sizes(), (std::vector<int64_t>{2, 9, 24, 24}));
  Sketch bad;
  bad.strokes.push_back({{1, 2}, {1}, {}});
  auto refused = RasterizeBatch({&l, &bad}, rotated);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("sketch 1"));
}

}  // namespace
}  // namespace sketch
