#include "core/sketch_validation.h"

#include <cmath>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

using ::testing::HasSubstr;

Sketch Simplified() {
  Sketch s;
  s.strokes = {{{0, 10, 255}, {5, 6, 7}, {}}, {{1}, {2}, {}}};
  return s;
}

Sketch Raw() {
  Sketch s;
  s.frame = StrokeFrame::kRaw;
  s.strokes = {{{-53.5f, 1365.25f}, {-1000, 2}, {0, 16}}};
  return s;
}

std::string ErrorOf(const Sketch& sketch, const SketchLimits& limits = {}) {
  const absl::Status status = ValidateSketch(sketch, limits);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(ValidateSketchTest, AcceptsGoodSketches) {
  EXPECT_TRUE(ValidateSketch(Simplified()).ok());
  EXPECT_TRUE(ValidateSketch(Raw()).ok());  // negative raw coordinates are real data
  Sketch raw_without_times = Raw();
  raw_without_times.strokes[0].t.clear();
  EXPECT_TRUE(ValidateSketch(raw_without_times).ok());
  Sketch bitmap;
  bitmap.bitmap.size = 28;
  bitmap.bitmap.pixels.assign(784, 0);
  EXPECT_TRUE(ValidateSketch(bitmap).ok());
}

TEST(ValidateSketchTest, RejectsEmptyDrawingsAndStrokes) {
  Sketch s;
  EXPECT_THAT(ErrorOf(s), HasSubstr("no strokes"));
  s = Simplified();
  s.strokes[1] = Stroke{};
  EXPECT_THAT(ErrorOf(s), HasSubstr("stroke 1 is empty"));
}

TEST(ValidateSketchTest, RejectsLengthMismatches) {
  Sketch s = Simplified();
  s.strokes[0].y.pop_back();
  EXPECT_THAT(ErrorOf(s), HasSubstr("stroke 0 has 3 x but 2 y"));
  s = Raw();
  s.strokes[0].t.push_back(30);
  EXPECT_THAT(ErrorOf(s), HasSubstr("2 points but 3 times"));
}

TEST(ValidateSketchTest, RejectsNonFiniteValues) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (StrokeFrame frame : {StrokeFrame::kSimplified, StrokeFrame::kRaw}) {
      Sketch s = frame == StrokeFrame::kRaw ? Raw() : Simplified();
      s.strokes[0].x[1] = bad;
      EXPECT_THAT(ErrorOf(s), HasSubstr("stroke 0 point 1 x is not finite"));
    }
  }
  Sketch s = Raw();
  s.strokes[0].t[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(ErrorOf(s), HasSubstr("time is not finite"));
}

TEST(ValidateSketchTest, SimplifiedCoordinatesAreIntegers0To255) {
  for (float bad : {-1.0f, 256.0f, 12.5f, 1e9f}) {
    Sketch s = Simplified();
    s.strokes[1].y[0] = bad;
    EXPECT_THAT(ErrorOf(s), HasSubstr("stroke 1 point 0 y"));
  }
}

TEST(ValidateSketchTest, RawCoordinatesAreBounded) {
  Sketch s = Raw();
  s.strokes[0].y[0] = -2e5f;
  EXPECT_THAT(ErrorOf(s), HasSubstr("exceeds the raw limit"));
  SketchLimits limits;
  limits.max_raw_abs_coordinate = 1000;
  EXPECT_THAT(ErrorOf(Raw(), limits), HasSubstr("stroke 0 point 1 x = 1365.25 exceeds"));
}

TEST(ValidateSketchTest, EnforcesCountLimits) {
  SketchLimits limits;
  limits.max_strokes = 1;
  EXPECT_THAT(ErrorOf(Simplified(), limits), HasSubstr("2 strokes, the limit is 1"));
  limits = {};
  limits.max_points_per_stroke = 2;
  EXPECT_THAT(ErrorOf(Simplified(), limits), HasSubstr("stroke 0 has 3 points"));
  limits = {};
  limits.max_total_points = 3;
  EXPECT_THAT(ErrorOf(Simplified(), limits), HasSubstr("more than 3 points"));
}

TEST(ValidateSketchTest, ChecksBitmaps) {
  Sketch s;
  s.bitmap.size = 28;
  s.bitmap.pixels.assign(783, 0);
  EXPECT_THAT(ErrorOf(s), HasSubstr("783 pixels, expected 784"));
  s.bitmap.size = 5000;
  s.bitmap.pixels.clear();
  EXPECT_THAT(ErrorOf(s), HasSubstr("bitmap of size 5000"));
  s = Simplified();
  s.bitmap.size = 1;
  s.bitmap.pixels = {0};
  EXPECT_THAT(ErrorOf(s), HasSubstr("either strokes or a bitmap"));
}

}  // namespace
}  // namespace sketch
