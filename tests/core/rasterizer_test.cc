#include "core/rasterizer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/sketch_reader.h"
#include "tests/core/pgm_file.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

Stroke MakeStroke(std::vector<float> x, std::vector<float> y) {
  Stroke s;
  s.x = std::move(x);
  s.y = std::move(y);
  return s;
}

Sketch StrokeSketch(std::vector<Stroke> strokes, StrokeFrame frame = StrokeFrame::kSimplified) {
  Sketch sketch;
  sketch.frame = frame;
  sketch.strokes = std::move(strokes);
  return sketch;
}

std::vector<uint8_t> Render(const Sketch& sketch, RasterOptions options = {}) {
  std::vector<uint8_t> image;
  const absl::Status status = Rasterize(sketch, options, &image);
  EXPECT_TRUE(status.ok()) << status;
  return image;
}

// Rows and columns holding any ink: [first, last] in both axes.
struct InkBox {
  int left = 1 << 30, top = 1 << 30, right = -1, bottom = -1;
};

InkBox FindInk(const std::vector<uint8_t>& image, int n) {
  InkBox box;
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) {
      if (image[r * n + c] == 0) continue;
      box.left = std::min(box.left, c);
      box.right = std::max(box.right, c);
      box.top = std::min(box.top, r);
      box.bottom = std::max(box.bottom, r);
    }
  }
  return box;
}

int MaxAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
  return diff;
}

// ---- Options and errors ----

TEST(RasterStyleTest, ParsesAndNamesStyles) {
  for (RasterStyle style : {RasterStyle::kDefault, RasterStyle::kSeed}) {
    auto parsed = ParseRasterStyle(RasterStyleName(style));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, style);
  }
  EXPECT_EQ(ParseRasterStyle("Seed").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RasterizerTest, SizeOutsideRangeIsInvalidArgument) {
  const Sketch sketch = StrokeSketch({MakeStroke({0, 10}, {0, 10})});
  std::vector<uint8_t> image;
  for (int size : {0, 7, 1025, -128}) {
    RasterOptions options;
    options.size = size;
    EXPECT_EQ(Rasterize(sketch, options, &image).code(), absl::StatusCode::kInvalidArgument)
        << size;
  }
}

TEST(RasterizerTest, BadLineWidthOrMarginIsInvalidArgument) {
  const Sketch sketch = StrokeSketch({MakeStroke({0, 10}, {0, 10})});
  std::vector<uint8_t> image;
  for (float width : {0.0f, NAN, 129.0f, INFINITY}) {
    RasterOptions options;
    options.line_width = width;
    EXPECT_FALSE(Rasterize(sketch, options, &image).ok()) << width;
  }
  for (float margin : {64.0f, NAN, INFINITY}) {
    RasterOptions options;
    options.margin = margin;
    EXPECT_FALSE(Rasterize(sketch, options, &image).ok()) << margin;
  }
}

TEST(RasterizerTest, MalformedStrokesAreInvalidArgument) {
  std::vector<uint8_t> image;
  const RasterOptions options;
  EXPECT_FALSE(Rasterize(StrokeSketch({}), options, &image).ok());
  EXPECT_FALSE(Rasterize(StrokeSketch({MakeStroke({}, {})}), options, &image).ok());
  EXPECT_FALSE(Rasterize(StrokeSketch({MakeStroke({1, 2}, {1})}), options, &image).ok());
  EXPECT_FALSE(Rasterize(StrokeSketch({MakeStroke({1, NAN}, {1, 2})}), options, &image).ok());
  EXPECT_FALSE(Rasterize(StrokeSketch({MakeStroke({1, 2}, {1, INFINITY})}), options, &image).ok());
}

// ---- Geometry ----

TEST(RasterizerTest, DrawingIsCentredAndFitsInsideTheMargin) {
  // An L shape off to one side, in raw coordinates with negative values.
  const Sketch sketch =
      StrokeSketch({MakeStroke({-500, -500, -300}, {-900, -800, -800})}, StrokeFrame::kRaw);
  const int n = 128;
  const std::vector<uint8_t> image = Render(sketch);
  ASSERT_EQ(image.size(), static_cast<size_t>(n * n));
  const InkBox box = FindInk(image, n);
  // Centred: equal blank space on opposite sides (the line is symmetric about its centreline).
  EXPECT_NEAR(box.left, n - 1 - box.right, 1);
  EXPECT_NEAR(box.top, n - 1 - box.bottom, 1);
  // The longer side spans size - 2 * margin (112 px) plus the line width and anti-aliasing.
  const float half_line = 128.0f / 24 / 2;
  EXPECT_NEAR(box.right - box.left + 1, 112 + 2 * half_line + 1, 2);
  EXPECT_GE(box.left, 8 - half_line - 1);
  // The shorter side keeps the aspect ratio: 100 / 200 of the longer one.
  EXPECT_NEAR(box.bottom - box.top + 1, 56 + 2 * half_line + 1, 2);
}

TEST(RasterizerTest, ImageDoesNotDependOnTranslationOrScale) {
  const Sketch a = StrokeSketch({MakeStroke({0, 50, 100}, {0, 80, 20}), MakeStroke({10}, {70})});
  Sketch b = a;
  b.frame = StrokeFrame::kRaw;
  for (Stroke& s : b.strokes) {
    for (float& x : s.x) x = x * 3.5f - 2000.0f;
    for (float& y : s.y) y = y * 3.5f + 1e4f;
  }
  EXPECT_LE(MaxAbsDiff(Render(a), Render(b)), 1);
}

TEST(RasterizerTest, InkIsFullInsideTheLineAndAntiAliasedAtItsEdge) {
  const Sketch sketch = StrokeSketch({MakeStroke({0, 255}, {100, 100})});
  const std::vector<uint8_t> image = Render(sketch);
  // A horizontal line through the centre: the column profile at x = 64.
  int full = 0, partial = 0;
  for (int r = 0; r < 128; ++r) {
    const int v = image[r * 128 + 64];
    full += v == 255;
    partial += v > 0 && v < 255;
  }
  EXPECT_GE(full, 4);  // 5.3 px line
  EXPECT_LE(full, 6);
  EXPECT_GE(partial, 1);
  EXPECT_LE(partial, 2);
}

TEST(RasterizerTest, LineWidthAndMarginOptionsAreHonoured) {
  const Sketch sketch = StrokeSketch({MakeStroke({0, 255}, {0, 0})});
  RasterOptions options;
  options.line_width = 1.0f;
  options.margin = 0.0f;
  const std::vector<uint8_t> image = Render(sketch, options);
  const InkBox box = FindInk(image, 128);
  EXPECT_EQ(box.left, 0);
  EXPECT_EQ(box.right, 127);
  EXPECT_LE(box.bottom - box.top + 1, 2);
}

// ---- Degenerate input ----

TEST(RasterizerTest, SinglePointRendersACentredDot) {
  for (RasterStyle style : {RasterStyle::kDefault, RasterStyle::kSeed}) {
    RasterOptions options;
    options.style = style;
    const std::vector<uint8_t> image =
        Render(StrokeSketch({MakeStroke({-7}, {1e5f})}, StrokeFrame::kRaw), options);
    const InkBox box = FindInk(image, 128);
    ASSERT_GE(box.right, 0) << RasterStyleName(style);
    EXPECT_EQ(box.left, 127 - box.right);
    EXPECT_EQ(box.top, 127 - box.bottom);
    EXPECT_LE(box.right - box.left + 1, 8);
  }
}

TEST(RasterizerTest, AllPointsEqualAndZeroLengthSegmentsRenderADot) {
  const Sketch equal = StrokeSketch({MakeStroke({5, 5, 5}, {9, 9, 9}), MakeStroke({5}, {9})});
  EXPECT_EQ(Render(equal), Render(StrokeSketch({MakeStroke({5}, {9})})));
  // Repeated points inside a stroke change nothing.
  const Sketch repeated = StrokeSketch({MakeStroke({0, 0, 0, 90, 90, 200}, {0, 0, 0, 50, 50, 9})});
  const Sketch plain = StrokeSketch({MakeStroke({0, 90, 200}, {0, 50, 9})});
  EXPECT_EQ(Render(repeated), Render(plain));
}

TEST(RasterizerTest, ExtremeFiniteCoordinatesDoNotOverflow) {
  const Sketch sketch =
      StrokeSketch({MakeStroke({-3e38f, 3e38f, 0}, {3e38f, -3e38f, 1e-30f})}, StrokeFrame::kRaw);
  const std::vector<uint8_t> image = Render(sketch);
  EXPECT_GT(*std::max_element(image.begin(), image.end()), 0);
  // A microscopic drawing is scaled up like any other.
  const Sketch tiny = StrokeSketch({MakeStroke({0, 1e-30f}, {0, 1e-30f})}, StrokeFrame::kRaw);
  const InkBox box = FindInk(Render(tiny), 128);
  EXPECT_GT(box.right - box.left, 100);
}

TEST(RasterizerTest, ReusesTheImageWhateverItHeldBefore) {
  const Sketch sketch = StrokeSketch({MakeStroke({0, 255}, {0, 255})});
  std::vector<uint8_t> image(5, 77);
  ASSERT_TRUE(Rasterize(sketch, {}, &image).ok());
  EXPECT_EQ(image, Render(sketch));
  RasterOptions seed;
  seed.style = RasterStyle::kSeed;
  seed.size = 64;
  ASSERT_TRUE(Rasterize(sketch, seed, &image).ok());
  EXPECT_EQ(image, Render(sketch, seed));
}

// ---- The seed style ----

TEST(RasterizerTest, SeedStyleDrawsThinLinesInA200Of256Box) {
  const Sketch sketch = StrokeSketch({MakeStroke({0, 255, 255}, {0, 0, 255})});
  RasterOptions options;
  options.style = RasterStyle::kSeed;
  const std::vector<uint8_t> image = Render(sketch, options);
  // A 1 px line on the 256 canvas is half a pixel at 128: at most 2 rows, never solid.
  int rows = 0, peak = 0;
  for (int r = 0; r < 128; ++r) {
    rows += image[r * 128 + 40] > 0;
    peak = std::max<int>(peak, image[r * 128 + 40]);
  }
  EXPECT_LE(rows, 2);
  EXPECT_GE(peak, 64);
  EXPECT_LE(peak, 160);
  const InkBox box = FindInk(image, 128);
  EXPECT_NEAR(box.right - box.left + 1, 100, 2);  // 200/256 of 128, plus anti-aliasing
  EXPECT_NEAR(box.left, 127 - box.right, 1);
}

// ---- Bitmaps ----

Sketch BitmapSketch(int size, std::vector<uint8_t> pixels) {
  Sketch sketch;
  sketch.bitmap.size = size;
  sketch.bitmap.pixels = std::move(pixels);
  return sketch;
}

TEST(RasterizerTest, BitmapSameSizeIsCopied) {
  std::vector<uint8_t> pixels(28 * 28);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7);
  RasterOptions options;
  options.size = 28;
  EXPECT_EQ(Render(BitmapSketch(28, pixels), options), pixels);
}

TEST(RasterizerTest, BitmapUpscaleIsBilinear) {
  // A constant image stays constant; a centred square stays centred.
  EXPECT_EQ(Render(BitmapSketch(28, std::vector<uint8_t>(784, 200))),
            std::vector<uint8_t>(128 * 128, 200));
  std::vector<uint8_t> square(28 * 28, 0);
  for (int r = 10; r < 18; ++r) {
    for (int c = 10; c < 18; ++c) square[r * 28 + c] = 255;
  }
  const std::vector<uint8_t> image = Render(BitmapSketch(28, square));
  const InkBox box = FindInk(image, 128);
  EXPECT_EQ(box.left, 127 - box.right);
  EXPECT_EQ(box.top, 127 - box.bottom);
  EXPECT_EQ(image[64 * 128 + 64], 255);
  // The half-intensity edge sits where the square's edge does: 8 of 28 pixels, scaled.
  int above_half = 0;
  for (int c = 0; c < 128; ++c) above_half += image[64 * 128 + c] >= 128;
  EXPECT_NEAR(above_half, 8 * 128 / 28.0, 1.5);
  // Bilinear: ink spreads at most one source pixel (4.6 output pixels) past the edge.
  EXPECT_LE(box.right - box.left + 1, (8 + 2) * 128 / 28.0 + 1);
}

TEST(RasterizerTest, BitmapDownscaleAveragesAreas) {
  std::vector<uint8_t> checker(256 * 256);
  for (int r = 0; r < 256; ++r) {
    for (int c = 0; c < 256; ++c) checker[r * 256 + c] = ((r + c) % 2) * 255;
  }
  // Whole source pixels per output pixel: exactly half grey.
  for (int size : {128, 8}) {
    RasterOptions options;
    options.size = size;
    for (uint8_t v : Render(BitmapSketch(256, checker), options)) ASSERT_NEAR(v, 128, 1) << size;
  }
  // 2.56 source pixels per output pixel: partial pixels tilt each average by up to ~20, but
  // every source pixel counts, so the mean stays half grey (bilinear would alias to 0 or 255).
  RasterOptions options;
  options.size = 100;
  const std::vector<uint8_t> image = Render(BitmapSketch(256, checker), options);
  double sum = 0;
  for (uint8_t v : image) {
    ASSERT_NEAR(v, 128, 21);
    sum += v;
  }
  EXPECT_NEAR(sum / image.size(), 127.5, 1.0);
}

TEST(RasterizerTest, MalformedBitmapIsInvalidArgument) {
  std::vector<uint8_t> image;
  EXPECT_FALSE(Rasterize(BitmapSketch(28, std::vector<uint8_t>(700)), {}, &image).ok());
  Sketch both = BitmapSketch(2, std::vector<uint8_t>(4));
  both.strokes.push_back(MakeStroke({1}, {1}));
  EXPECT_FALSE(Rasterize(both, {}, &image).ok());
  // The readers' bound on a side (core/sketch_validation.h) holds here too.
  EXPECT_FALSE(Rasterize(BitmapSketch(4097, std::vector<uint8_t>(4097 * 4097)), {}, &image).ok());
}

// ---- Goldens on real drawings ----
// Regenerate with SKETCH_UPDATE_GOLDENS=1 (then look at them: tests/data/golden/README.md).

Sketch FirstDrawing(const std::string& word) {
  Sketch sketch;
  auto reader = OpenSketchReader(SKETCH_TEST_DATA_DIR "/quickdraw/simplified/" + word + ".ndjson");
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return sketch;
  auto more = (*reader)->Next(&sketch);
  EXPECT_TRUE(more.ok() && *more);
  return sketch;
}

class GoldenTest : public ::testing::TestWithParam<std::tuple<std::string, RasterStyle>> {};

TEST_P(GoldenTest, MatchesGolden) {
  const auto& [word, style] = GetParam();
  RasterOptions options;
  options.style = style;
  const std::vector<uint8_t> image = Render(FirstDrawing(word), options);
  const std::string path = std::string(SKETCH_TEST_DATA_DIR "/golden/") + word + "_" +
                           RasterStyleName(style) + "_128.pgm";
  if (std::getenv("SKETCH_UPDATE_GOLDENS") != nullptr) {
    WritePgm(path, options.size, options.size, image);
    GTEST_SKIP() << "wrote " << path;
  }
  int width = 0, height = 0;
  std::vector<uint8_t> golden;
  ASSERT_TRUE(ReadPgm(path, &width, &height, &golden)) << path;
  ASSERT_EQ(width, options.size);
  ASSERT_EQ(height, options.size);
  // Float rounding may differ between compilers by a unit here and there, never more.
  EXPECT_LE(MaxAbsDiff(image, golden), 2) << path;
}

INSTANTIATE_TEST_SUITE_P(RealDrawings, GoldenTest,
                         ::testing::Combine(::testing::Values("cat", "airplane"),
                                            ::testing::Values(RasterStyle::kDefault,
                                                              RasterStyle::kSeed)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" +
                                  RasterStyleName(std::get<1>(info.param));
                         });

// Not a benchmark (bench/ has those): a quick rate on real drawings, printed for the record.
TEST(RasterizerSpeedTest, PrintsDrawingsPerSecond) {
  std::vector<Sketch> drawings;
  const std::string dir = SKETCH_TEST_DATA_DIR "/quickdraw/simplified";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    auto reader = OpenSketchReader(entry.path().string());
    ASSERT_TRUE(reader.ok()) << reader.status();
    Sketch sketch;
    while ((*reader)->Next(&sketch).value_or(false)) drawings.push_back(sketch);
  }
  ASSERT_FALSE(drawings.empty());
  std::vector<uint8_t> image;
  for (RasterStyle style : {RasterStyle::kDefault, RasterStyle::kSeed}) {
    RasterOptions options;
    options.style = style;
    // CPU time: the figure should not depend on what else the machine runs.
    const std::clock_t start = std::clock();
    size_t count = 0, ink = 0;
    for (int repeat = 0; repeat < 5; ++repeat) {
      for (const Sketch& sketch : drawings) {
        ASSERT_TRUE(Rasterize(sketch, options, &image).ok());
        ink += image[64 * 128 + 64];
        ++count;
      }
    }
    const double seconds = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
    std::printf("%s style: %.0f drawings/s at 128x128 (%zu drawings, ink %zu)\n",
                RasterStyleName(style), count / seconds, count, ink);
  }
}

}  // namespace
}  // namespace sketch
