// RasterChannels::kStrokeOrder: the ink plane, the stroke-order plane and the progress plane.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/rasterizer.h"
#include "core/sketch_reader.h"
#include "gtest/gtest.h"
#include "tests/core/pgm_file.h"

namespace sketch {
namespace {

constexpr int kSize = 128;

Stroke Line(float x0, float y0, float x1, float y1, std::vector<float> t = {}) {
  Stroke s;
  s.x = {x0, x1};
  s.y = {y0, y1};
  s.t = std::move(t);
  return s;
}

std::vector<uint8_t> Render(const Sketch& sketch, RasterChannels channels,
                            RasterStyle style = RasterStyle::kDefault) {
  RasterOptions options;
  options.size = kSize;
  options.style = style;
  options.channels = channels;
  std::vector<uint8_t> image;
  const absl::Status status = Rasterize(sketch, options, &image);
  EXPECT_TRUE(status.ok()) << status;
  return image;
}

std::vector<uint8_t> Plane(const std::vector<uint8_t>& image, int p) {
  const size_t plane = static_cast<size_t>(kSize) * kSize;
  return std::vector<uint8_t>(image.begin() + p * plane, image.begin() + (p + 1) * plane);
}

// The brightest pixel of rows [row - 3, row + 3] of a plane.
int MaxNearRow(const std::vector<uint8_t>& plane, int row) {
  int best = 0;
  for (int r = std::max(0, row - 3); r <= std::min(kSize - 1, row + 3); ++r) {
    for (int c = 0; c < kSize; ++c) best = std::max<int>(best, plane[r * kSize + c]);
  }
  return best;
}

// Level `level` at full coverage, as the rasterizer rounds it.
int Shade(double level) { return static_cast<int>(level * 255.0 + 0.5); }

Sketch FirstDrawing(const std::string& path) {
  Sketch sketch;
  auto reader = OpenSketchReader(SKETCH_TEST_DATA_DIR "/quickdraw/" + path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return sketch;
  auto more = (*reader)->Next(&sketch);
  EXPECT_TRUE(more.ok() && *more);
  return sketch;
}

TEST(RasterChannelsTest, ParsesNamesAndCounts) {
  for (RasterChannels channels : {RasterChannels::kInk, RasterChannels::kStrokeOrder}) {
    auto parsed = ParseRasterChannels(RasterChannelsName(channels));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, channels);
  }
  EXPECT_EQ(RasterChannelCount(RasterChannels::kInk), 1);
  EXPECT_EQ(RasterChannelCount(RasterChannels::kStrokeOrder), 3);
  EXPECT_EQ(ParseRasterChannels("Order").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRasterChannels("").status().code(), absl::StatusCode::kInvalidArgument);
}

// Plane 0 is the ink image byte for byte, and the shaded planes never outshine it, in both
// styles, for simplified and raw drawings.
TEST(RasterChannelsTest, InkPlaneIsTheInkImageAndShadesStayBelowIt) {
  for (const char* path : {"simplified/cat.ndjson", "raw/ant.ndjson"}) {
    const Sketch sketch = FirstDrawing(path);
    for (RasterStyle style : {RasterStyle::kDefault, RasterStyle::kSeed}) {
      SCOPED_TRACE(std::string(path) + " " + RasterStyleName(style));
      const std::vector<uint8_t> ink = Render(sketch, RasterChannels::kInk, style);
      const std::vector<uint8_t> order = Render(sketch, RasterChannels::kStrokeOrder, style);
      ASSERT_EQ(order.size(), 3 * ink.size());
      EXPECT_EQ(Plane(order, 0), ink);
      int inked = 0, shaded = 0;
      for (size_t i = 0; i < ink.size(); ++i) {
        for (int p = 1; p < 3; ++p) ASSERT_LE(order[p * ink.size() + i], ink[i]) << i;
        if (ink[i] == 0) continue;
        ++inked;
        // The dimmest shade is 1/4 of the ink (less a rounding unit per averaged subpixel).
        const int floor = ink[i] / 4 - 2;
        shaded += order[ink.size() + i] >= floor && order[2 * ink.size() + i] >= floor;
      }
      EXPECT_GT(inked, 200);
      EXPECT_EQ(shaded, inked);
    }
  }
}

// Three parallel strokes, top to bottom in drawing order: full, 5/8 and 1/4 intensity.
TEST(RasterChannelsTest, StrokeOrderPlaneFadesFromFirstToLastStroke) {
  Sketch sketch;
  for (float y : {0.0f, 100.0f, 200.0f}) sketch.strokes.push_back(Line(0, y, 255, y));
  const std::vector<uint8_t> image = Render(sketch, RasterChannels::kStrokeOrder);
  // Scale (128 - 2*8) / 255 around the box's centre y = 100 on canvas row 64.
  const double scale = 112.0 / 255.0;
  const std::vector<uint8_t> order = Plane(image, 1);
  EXPECT_EQ(MaxNearRow(order, static_cast<int>(64 - 100 * scale)), 255);
  EXPECT_EQ(MaxNearRow(order, 64), Shade(0.625));
  EXPECT_EQ(MaxNearRow(order, static_cast<int>(64 + 100 * scale)), Shade(0.25));
  EXPECT_EQ(MaxNearRow(Plane(image, 0), 64), 255);
}

// One stroke of three points: its second segment starts half way through the drawing.
TEST(RasterChannelsTest, ProgressPlaneShadesByPointCount) {
  Sketch sketch;
  Stroke stroke;
  stroke.x = {0, 100, 200};
  stroke.y = {0, 0, 0};
  sketch.strokes.push_back(stroke);
  const std::vector<uint8_t> progress = Plane(Render(sketch, RasterChannels::kStrokeOrder), 2);
  // x 50 and 150 map to columns 64 -/+ 50 * 112/200 = 36 and 92, on row 64.
  EXPECT_EQ(progress[64 * kSize + 36], 255);
  EXPECT_EQ(progress[64 * kSize + 92], Shade(0.625));
}

// Raw strokes with times shade by time: a second stroke drawn after a long pause is nearly at
// the end of the drawing, not two thirds of the way as its point count says.
TEST(RasterChannelsTest, ProgressPlaneShadesRawDrawingsByTime) {
  Sketch sketch;
  sketch.frame = StrokeFrame::kRaw;
  sketch.strokes = {Line(0, 0, 200, 0, {0, 10}), Line(0, 100, 200, 100, {990, 1000})};
  const double scale = 112.0 / 200.0;
  const int second_row = static_cast<int>(64 + 50 * scale);
  const std::vector<uint8_t> timed = Render(sketch, RasterChannels::kStrokeOrder);
  EXPECT_EQ(MaxNearRow(Plane(timed, 2), static_cast<int>(64 - 50 * scale)), 255);
  EXPECT_EQ(MaxNearRow(Plane(timed, 2), second_row), Shade(1.0 - 0.75 * 0.99));
  EXPECT_EQ(MaxNearRow(Plane(timed, 1), second_row), Shade(0.25));

  // Without every stroke's times it falls back to the point count: point 2 of 0..3.
  sketch.strokes[1].t.clear();
  const std::vector<uint8_t> counted = Render(sketch, RasterChannels::kStrokeOrder);
  EXPECT_EQ(MaxNearRow(Plane(counted, 2), second_row), Shade(1.0 - 0.75 * 2.0 / 3.0));
}

// Times are not checked by Rasterize (the ink ignores them): broken ones must not leak into the
// shading, which falls back to the point count.
TEST(RasterChannelsTest, NonFiniteTimesFallBackToPointCount) {
  Sketch sketch;
  sketch.frame = StrokeFrame::kRaw;
  sketch.strokes = {Line(0, 0, 200, 0, {0, 10}), Line(0, 100, 200, 100, {990, 1000})};
  const std::vector<uint8_t> counted = [&] {
    Sketch untimed = sketch;
    for (Stroke& s : untimed.strokes) s.t.clear();
    return Render(untimed, RasterChannels::kStrokeOrder);
  }();
  for (float bad : {std::nanf(""), HUGE_VALF, -HUGE_VALF}) {
    sketch.strokes[1].t[0] = bad;
    EXPECT_EQ(Render(sketch, RasterChannels::kStrokeOrder), counted) << bad;
  }
}

TEST(RasterChannelsTest, OnePointDrawingIsAFullDotInEveryPlane) {
  Sketch sketch;
  Stroke dot;
  dot.x = {10};
  dot.y = {10};
  sketch.strokes.push_back(dot);
  const std::vector<uint8_t> image = Render(sketch, RasterChannels::kStrokeOrder);
  for (int p = 0; p < 3; ++p) EXPECT_EQ(image[p * kSize * kSize + 64 * kSize + 64], 255) << p;
}

TEST(RasterChannelsTest, BitmapFillsEveryPlaneWithItsPixels) {
  Sketch sketch;
  sketch.bitmap.size = 28;
  sketch.bitmap.pixels.resize(28 * 28);
  for (size_t i = 0; i < sketch.bitmap.pixels.size(); ++i) {
    sketch.bitmap.pixels[i] = static_cast<uint8_t>(i * 7);
  }
  const std::vector<uint8_t> ink = Render(sketch, RasterChannels::kInk);
  const std::vector<uint8_t> order = Render(sketch, RasterChannels::kStrokeOrder);
  ASSERT_EQ(order.size(), 3 * ink.size());
  for (int p = 0; p < 3; ++p) EXPECT_EQ(Plane(order, p), ink) << p;
}

// Goldens: the three planes stacked top to bottom (128 x 384). Regenerate with
// SKETCH_UPDATE_GOLDENS=1, then look at them (tests/data/golden/README.md).
class StrokeOrderGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StrokeOrderGoldenTest, MatchesGolden) {
  const std::string& name = GetParam();
  const std::string source =
      name == "ant_raw" ? "raw/ant.ndjson" : "simplified/" + name + ".ndjson";
  const std::vector<uint8_t> image = Render(FirstDrawing(source), RasterChannels::kStrokeOrder);
  const std::string path =
      std::string(SKETCH_TEST_DATA_DIR "/golden/") + name + "_default_order_128.pgm";
  if (std::getenv("SKETCH_UPDATE_GOLDENS") != nullptr) {
    WritePgm(path, kSize, 3 * kSize, image);
    GTEST_SKIP() << "wrote " << path;
  }
  int width = 0, height = 0;
  std::vector<uint8_t> golden;
  ASSERT_TRUE(ReadPgm(path, &width, &height, &golden)) << path;
  ASSERT_EQ(width, kSize);
  ASSERT_EQ(height, 3 * kSize);
  int diff = 0;
  for (size_t i = 0; i < image.size(); ++i) diff = std::max(diff, std::abs(image[i] - golden[i]));
  // Float rounding may differ between compilers by a unit here and there, never more.
  EXPECT_LE(diff, 2) << path;
}

INSTANTIATE_TEST_SUITE_P(RealDrawings, StrokeOrderGoldenTest,
                         ::testing::Values("cat", "airplane", "ant_raw"));

}  // namespace
}  // namespace sketch
