#include "client/text_grid.h"

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_server.h"

namespace sketch {
namespace {

using ::sketch::testing::TestData;
using ::testing::HasSubstr;

// An 8 x 8 bitmap drawing (DrawPicture shows it as it is at picture_columns 4: 8 x 8 pixels).
Sketch Bitmap8(const std::vector<std::pair<int, int>>& ink) {
  Sketch sketch;
  sketch.bitmap.size = 8;
  sketch.bitmap.pixels.assign(64, 0);
  for (const auto& [x, y] : ink) sketch.bitmap.pixels[static_cast<size_t>(y) * 8 + x] = 255;
  return sketch;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Terminal columns: one per UTF-8 code point.
int Columns(const std::string& line) {
  int columns = 0;
  for (char c : line) columns += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return columns;
}

TextGridOptions Small(TextGlyphs glyphs) {
  TextGridOptions options;
  options.picture_columns = 4;  // 8 x 8 pixels: 4 characters by 2 lines
  options.glyphs = glyphs;
  return options;
}

TEST(TextGridTest, BrailleDotsAreThePixels) {
  // Left column of the first character: dots 1, 2, 3, 7; (3, 4): dot 1 of the second character
  // of the second line; the last pixel: dot 8 of the last character.
  const Sketch sketch = Bitmap8({{0, 0}, {0, 1}, {0, 2}, {0, 3}, {3, 4}, {7, 7}});
  const std::string grid = RenderTextGrid({Picture{sketch, {"cap"}}}, Small(TextGlyphs::kBraille));
  EXPECT_EQ(grid,
            "\u2847\n"          // ⡇ = 0x47: dots 1, 2, 3, 7
            " \u2808 \u2880\n"  // ⠈ = dot 4 (right column, top); ⢀ = dot 8
            "cap\n"
            "\n");
}

TEST(TextGridTest, AsciiCountsTheInkOfEachCharacter) {
  std::vector<std::pair<int, int>> all;
  for (int y = 0; y < 4; ++y) all.push_back({0, y}), all.push_back({1, y});
  all.push_back({7, 7});
  const std::string grid = RenderTextGrid({Picture{Bitmap8(all), {}}}, Small(TextGlyphs::kAscii));
  EXPECT_EQ(grid, "@\n   .\n\n");
}

TEST(TextGridTest, AStrokeDrawingIsRasterizedLikeTheModelsInput) {
  // A square outline fills the 32 x 32 pixels but the rasterizer's 2-pixel margin; its 1.33-pixel
  // line covers pixel rows 1-2 and 29-30 (dots 2, 3, 5, 6: U+2836) and columns 1-2 and 29-30.
  Sketch square;
  square.strokes.push_back({{0, 255, 255, 0, 0}, {0, 0, 255, 255, 0}, {}});
  const std::string side = "\u28B8\u2847            \u28B8\u2847\n";
  std::string expected = "\u28A0\u2876";
  for (int i = 0; i < 12; ++i) expected += "\u2836";
  expected += "\u28B6\u2844\n";
  for (int i = 0; i < 6; ++i) expected += side;
  expected += "\u2818\u2837";
  for (int i = 0; i < 12; ++i) expected += "\u2836";
  expected += "\u283E\u2803\nsquare\n\n";
  EXPECT_EQ(RenderTextGrid({Picture{square, {"square"}}}, TextGridOptions()), expected);
}

TEST(TextGridTest, MissingDrawingsShowWhy) {
  Picture missing;
  missing.drawing = absl::NotFoundError("no drawing: the server sent none");
  missing.caption = {"1. cat", "key_id 123456789012345678"};
  Sketch empty;  // no strokes: the rasterizer refuses it
  const std::vector<std::string> lines =
      Lines(RenderTextGrid({missing, Picture{empty, {"2. dog"}}}, TextGridOptions()));
  ASSERT_EQ(lines.size(), 8u + 2 + 1);
  EXPECT_EQ(lines[0], "no drawing: the   drawing has no");  // wrapped inside 16 columns
  EXPECT_EQ(lines[1], "server sent none  strokes");
  for (int i = 2; i < 8; ++i) EXPECT_EQ(lines[i], "");
  EXPECT_EQ(lines[8], "1. cat            2. dog");
  EXPECT_EQ(lines[9], "key_id 123456789");  // cut to the picture's width
  EXPECT_EQ(lines[10], "");
}

TEST(TextGridTest, WrapsToTheTerminalWidth) {
  const Sketch dot = Bitmap8({{4, 4}});
  std::vector<Picture> pictures(5, Picture{dot, {"a caption longer than sixteen"}});
  TextGridOptions options;
  options.terminal_columns = 40;  // two 16-column pictures and a 2-space gap fit
  const std::vector<std::string> lines = Lines(RenderTextGrid(pictures, options));
  EXPECT_EQ(lines.size(), 3u * (8 + 1 + 1));  // rows of 2, 2 and 1
  for (const std::string& line : lines) EXPECT_LE(Columns(line), 34) << line;
  options.terminal_columns = 10;  // narrower than one picture: one a row all the same
  EXPECT_EQ(Lines(RenderTextGrid(pictures, options)).size(), 5u * 10);
}

TEST(TextGridTest, LocaleDecidesBraille) {
  EXPECT_TRUE(LocaleIsUtf8(nullptr, nullptr, "en_US.UTF-8"));
  EXPECT_TRUE(LocaleIsUtf8("C.utf8", "", nullptr));
  EXPECT_FALSE(LocaleIsUtf8("C", nullptr, "en_US.UTF-8"));  // LC_ALL wins
  EXPECT_TRUE(LocaleIsUtf8("", "de_DE.utf8", "C"));         // empty counts as unset
  EXPECT_FALSE(LocaleIsUtf8(nullptr, nullptr, nullptr));
  EXPECT_FALSE(LocaleIsUtf8(nullptr, nullptr, "en_US.ISO-8859-1"));
}

// Every committed sample drawing (20 of each file, every format) draws without error, within
// an 80-column terminal, in both character sets.
TEST(TextGridTest, RendersEveryKindOfSampleDrawing) {
  int files = 0;
  for (const char* folder : {"simplified", "raw", "numpy_bitmap"}) {
    for (const auto& entry : std::filesystem::directory_iterator(TestData(folder))) {
      std::vector<Sketch> sketches = ReadAll(entry.path().string(), "word");
      if (sketches.size() > 20) sketches.resize(20);
      ASSERT_FALSE(sketches.empty()) << entry.path();
      std::vector<Picture> pictures;
      std::vector<uint8_t> image;
      for (const Sketch& sketch : sketches) {
        ASSERT_TRUE(DrawPicture(sketch, 32, &image).ok()) << entry.path() << " " << sketch.key_id;
        pictures.push_back(Picture{sketch, {sketch.word}});
      }
      for (TextGlyphs glyphs : {TextGlyphs::kBraille, TextGlyphs::kAscii}) {
        TextGridOptions options;
        options.glyphs = glyphs;
        const std::vector<std::string> lines = Lines(RenderTextGrid(pictures, options));
        EXPECT_EQ(lines.size(), (pictures.size() + 3) / 4 * 10) << entry.path();
        for (const std::string& line : lines) EXPECT_LE(Columns(line), 70) << entry.path();
      }
      ++files;
    }
  }
  EXPECT_GE(files, 20);
}

}  // namespace
}  // namespace sketch
