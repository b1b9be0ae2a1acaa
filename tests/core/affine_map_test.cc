// Tests core/affine_map.h: stroke drawings mapped and re-fitted, bitmaps resampled, rotations.
#include "core/affine_map.h"

#include <cmath>
#include <vector>

#include "core/sketch_validation.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

// The rotation turns a point right of the origin down (y down: clockwise as drawn) by the angle,
// and the opposite angle's is its inverse.
TEST(AffineMapTest, RotationAffineTurnsByTheAngle) {
  const Affine r = RotationAffine(30.0);
  EXPECT_NEAR(r.a, std::sqrt(3.0) / 2, 1e-6);  // x of (1, 0)
  EXPECT_NEAR(r.c, 0.5, 1e-6);                 // y of (1, 0): down
  const Affine back = RotationAffine(-30.0);
  EXPECT_NEAR(r.a * back.a + r.b * back.c, 1.0f, 1e-6);
  EXPECT_NEAR(r.a * back.b + r.b * back.d, 0.0f, 1e-6);
  EXPECT_NEAR(r.c * back.a + r.d * back.c, 0.0f, 1e-6);
  EXPECT_NEAR(r.c * back.b + r.d * back.d, 1.0f, 1e-6);
  const Affine none = RotationAffine(0.0);
  EXPECT_EQ(none.a, 1.0f);
  EXPECT_EQ(none.b, 0.0f);
  EXPECT_EQ(none.c, 0.0f);
  EXPECT_EQ(none.d, 1.0f);
  // A quarter turn maps the L of QuarterTurnRotatesAndRefits as that test's matrix does.
  Sketch l;
  l.strokes.push_back({{0, 0, 100}, {0, 255, 255}, {}});
  Sketch out;
  ASSERT_TRUE(ApplyAffine(l, RotationAffine(90.0), &out).ok());
  EXPECT_EQ(out.strokes[0].x, (std::vector<float>{255, 0, 0}));
  EXPECT_EQ(out.strokes[0].y, (std::vector<float>{0, 0, 100}));
}

TEST(AffineMapTest, QuarterTurnRotatesAndRefits) {
  Sketch l;  // an L: down the left side, then along the bottom
  l.strokes.push_back({{0, 0, 100}, {0, 255, 255}, {}});
  Affine quarter;  // (x, y) -> (-y, x)
  quarter.a = 0, quarter.b = -1, quarter.c = 1, quarter.d = 0;
  Sketch out;
  ASSERT_TRUE(ApplyAffine(l, quarter, &out).ok());
  ASSERT_TRUE(ValidateSketch(out).ok());
  EXPECT_EQ(out.strokes[0].x, (std::vector<float>{255, 0, 0}));
  EXPECT_EQ(out.strokes[0].y, (std::vector<float>{0, 0, 100}));
}

TEST(AffineMapTest, DegenerateDrawingGoesToTheOrigin) {
  Sketch dot;
  dot.strokes.push_back({{7, 7}, {9, 9}, {}});
  Sketch out;
  ASSERT_TRUE(ApplyAffine(dot, Affine(), &out).ok());
  EXPECT_TRUE(ValidateSketch(out).ok());
  EXPECT_EQ(out.strokes[0].x, (std::vector<float>{0, 0}));
  EXPECT_EQ(out.strokes[0].y, (std::vector<float>{0, 0}));
}

// Golden bitmaps, 5x5 (centre (2, 2)): the identity copies; a quarter turn (x, y) -> (-y, x)
// moves a pixel right of the centre below it; doubling the scale spreads a centre pixel's ink
// over its neighbours by the bilinear weights; ink mapped beyond the edge is lost. Metadata is
// kept.
TEST(AffineMapTest, BitmapsAreResampledAboutTheirCentre) {
  Sketch in;
  in.word = "star";
  in.key_id = 7;
  in.bitmap.size = 5;
  in.bitmap.pixels.assign(25, 0);
  in.bitmap.pixels[2 * 5 + 3] = 200;  // (x 3, y 2): one right of the centre
  Sketch out;
  ASSERT_TRUE(ApplyAffine(in, Affine(), &out).ok());
  EXPECT_EQ(out.bitmap.pixels, in.bitmap.pixels);
  EXPECT_EQ(out.word, "star");
  EXPECT_EQ(out.key_id, 7u);
  EXPECT_TRUE(out.strokes.empty());

  ASSERT_TRUE(ApplyAffine(in, Affine{0, -1, 1, 0}, &out).ok());
  std::vector<uint8_t> turned(25, 0);
  turned[3 * 5 + 2] = 200;  // (x 2, y 3): one below the centre
  EXPECT_EQ(out.bitmap.pixels, turned);

  Sketch dot = in;
  dot.bitmap.pixels.assign(25, 0);
  dot.bitmap.pixels[2 * 5 + 2] = 200;
  ASSERT_TRUE(ApplyAffine(dot, Affine{2, 0, 0, 2}, &out).ok());
  // Output (3, 2) samples the input at (2.5, 2): half the centre's ink; (3, 3) a quarter.
  std::vector<uint8_t> spread(25, 0);
  spread[2 * 5 + 2] = 200;
  for (int i : {1 * 5 + 2, 3 * 5 + 2, 2 * 5 + 1, 2 * 5 + 3}) spread[i] = 100;
  for (int i : {1 * 5 + 1, 1 * 5 + 3, 3 * 5 + 1, 3 * 5 + 3}) spread[i] = 50;
  EXPECT_EQ(out.bitmap.pixels, spread);

  Sketch edge = in;
  edge.bitmap.pixels.assign(25, 0);
  edge.bitmap.pixels[2 * 5 + 4] = 200;  // at the right edge
  ASSERT_TRUE(ApplyAffine(edge, Affine{2, 0, 0, 2}, &out).ok());
  EXPECT_EQ(out.bitmap.pixels, std::vector<uint8_t>(25, 0));  // mapped to x 6: gone
}

TEST(AffineMapTest, RejectsMalformedBitmapsStrokesAndSingularMaps) {
  Sketch bitmap;
  bitmap.bitmap.size = 2;
  bitmap.bitmap.pixels = {0, 1, 2};  // 3 pixels for 2x2
  Sketch out;
  EXPECT_EQ(ApplyAffine(bitmap, Affine(), &out).code(), absl::StatusCode::kInvalidArgument);
  bitmap.bitmap.pixels.push_back(3);
  EXPECT_TRUE(ApplyAffine(bitmap, Affine(), &out).ok());
  EXPECT_EQ(ApplyAffine(bitmap, Affine{1, 1, 1, 1}, &out).code(),
            absl::StatusCode::kInvalidArgument);
  Sketch bad;
  bad.strokes.push_back({{1, 2}, {1}, {}});
  EXPECT_EQ(ApplyAffine(bad, Affine(), &out).code(), absl::StatusCode::kInvalidArgument);
  Sketch inf;
  inf.strokes.push_back({{1, INFINITY}, {1, 2}, {}});
  EXPECT_EQ(ApplyAffine(inf, Affine(), &out).code(), absl::StatusCode::kInvalidArgument);
}

TEST(AffineMapTest, MirroredDrawingIsFlippedAndRefitted) {
  Sketch l;  // an L: down the left side, then along the bottom
  l.strokes.push_back({{0, 0, 100}, {0, 255, 255}, {}});
  Affine mirror;  // (x, y) -> (-x, y)
  mirror.a = -1;
  Sketch out;
  ASSERT_TRUE(ApplyAffine(l, mirror, &out).ok());
  ASSERT_TRUE(ValidateSketch(out).ok());
  // Down the right side, then along the bottom to the left; re-fitted to start at x = 0.
  EXPECT_EQ(out.strokes[0].x, (std::vector<float>{100, 100, 0}));
  EXPECT_EQ(out.strokes[0].y, (std::vector<float>{0, 255, 255}));
}

}  // namespace
}  // namespace sketch
