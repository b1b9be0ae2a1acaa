#include "client/contact_sheet.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/decode_png.h"
#include "tests/client/fake_server.h"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

using ::sketch::TempPath;
using ::sketch::testing::DecodePng;
using ::sketch::testing::TestData;
using ::testing::HasSubstr;

// How many pixels of the rectangle are darker than `below`.
int Dark(const GrayImage& image, int x, int y, int width, int height, int below) {
  int dark = 0;
  for (int row = y; row < y + height; ++row) {
    for (int col = x; col < x + width; ++col) {
      dark += image.pixels[static_cast<size_t>(row) * image.width + col] < below;
    }
  }
  return dark;
}

// A query and two hits from the committed cats; the second hit without its drawing.
std::vector<Picture> CatGroup() {
  const std::vector<Sketch> cats = ReadAll(TestData("simplified/cat.ndjson"));
  Picture missing;
  missing.drawing = absl::NotFoundError("no drawing: the server sent none");
  missing.caption = {"2. cat", "key_id 7", "d 0.5"};
  return {Picture{cats[0], {"query", "cat"}, /*is_query=*/true},
          Picture{cats[1], {"1. cat", "key_id 6", "d 0.25"}}, missing};
}

// The layout the header promises at 128 pixels a picture: 8-pixel padding around it, a
// 4-pixel gap and three 10-pixel caption lines under it.
constexpr int kCellWidth = 128 + 16, kCellHeight = 8 + 128 + 4 + 30;

TEST(ContactSheetTest, DrawsTheQueryAndItsHitsWithCaptions) {
  absl::StatusOr<GrayImage> sheet = DrawContactSheet({CatGroup()}, ContactSheetOptions());
  ASSERT_TRUE(sheet.ok()) << sheet.status();
  EXPECT_EQ(sheet->width, 3 * kCellWidth);
  EXPECT_EQ(sheet->height, kCellHeight);
  // Drawings: black ink in the first two squares; the third holds only the grey note.
  EXPECT_GT(Dark(*sheet, 8, 8, 128, 128, 64), 200);
  EXPECT_GT(Dark(*sheet, kCellWidth + 8, 8, 128, 128, 64), 200);
  EXPECT_EQ(Dark(*sheet, 2 * kCellWidth + 8, 8, 128, 128, 96), 0);
  EXPECT_GT(Dark(*sheet, 2 * kCellWidth + 8, 8, 128, 128, 97), 20);
  // Captions: black text under every picture, one line for each caption line.
  for (int cell = 0; cell < 3; ++cell) {
    EXPECT_GT(Dark(*sheet, cell * kCellWidth + 8, 140, 128, 7, 1), 10) << cell;
    EXPECT_GT(Dark(*sheet, cell * kCellWidth + 8, 150, 128, 7, 1), 5) << cell;
  }
  EXPECT_EQ(Dark(*sheet, 8, 160, 128, 7, 1), 0);  // the query's caption has two lines
  // The query's frame is dark, the hits' light.
  EXPECT_EQ(Dark(*sheet, 5, 5, 3, 3, 65), 9);
  EXPECT_EQ(Dark(*sheet, kCellWidth + 7, 7, 1, 1, 209), 1);
  EXPECT_EQ(Dark(*sheet, kCellWidth + 7, 7, 1, 1, 208), 0);
}

TEST(ContactSheetTest, EachGroupStartsARowAndWraps) {
  std::vector<Picture> long_group(10, CatGroup()[1]);
  ContactSheetOptions options;
  options.columns = 4;
  options.picture_size = 32;
  absl::StatusOr<GrayImage> sheet = DrawContactSheet({long_group, CatGroup()}, options);
  ASSERT_TRUE(sheet.ok()) << sheet.status();
  const int cell_width = 32 + 16, cell_height = 8 + 32 + 4 + 30;
  EXPECT_EQ(sheet->width, 4 * cell_width);
  EXPECT_EQ(sheet->height, (3 + 1) * cell_height);  // 4 + 4 + 2, then the second group
  // The third row holds two pictures, the fourth (the second group) three.
  EXPECT_GT(Dark(*sheet, cell_width + 8, 2 * cell_height + 8, 32, 32, 64), 0);
  EXPECT_EQ(Dark(*sheet, 2 * cell_width, 2 * cell_height, cell_width, cell_height, 255), 0);
  EXPECT_GT(Dark(*sheet, 8, 3 * cell_height + 8, 32, 32, 64), 0);
}

TEST(ContactSheetTest, ShowsBitmapsAsTheyAre) {
  Sketch bitmap;
  bitmap.bitmap.size = 28;
  bitmap.bitmap.pixels.assign(28 * 28, 0);
  bitmap.bitmap.pixels[0] = 255;  // the top-left pixel: a 4 x 4 block at 128, 8 pixels in
  std::vector<uint8_t> image;
  ASSERT_TRUE(DrawPicture(bitmap, 128, &image).ok());
  int ink = 0;
  for (int y = 0; y < 128; ++y) {
    for (int x = 0; x < 128; ++x) {
      const bool inside = x >= 8 && x < 12 && y >= 8 && y < 12;
      EXPECT_EQ(image[static_cast<size_t>(y) * 128 + x], inside ? 255 : 0) << x << "," << y;
      ink += image[static_cast<size_t>(y) * 128 + x] > 0;
    }
  }
  EXPECT_EQ(ink, 16);
  // Larger than the picture: averaged down by the rasterizer.
  bitmap.bitmap.size = 256;
  bitmap.bitmap.pixels.assign(256 * 256, 255);
  ASSERT_TRUE(DrawPicture(bitmap, 128, &image).ok());
  EXPECT_EQ(image[64 * 128 + 64], 255);
}

TEST(ContactSheetTest, PngDecodesBackToTheSheet) {
  absl::StatusOr<GrayImage> sheet = DrawContactSheet({CatGroup()}, ContactSheetOptions());
  ASSERT_TRUE(sheet.ok()) << sheet.status();
  absl::StatusOr<std::string> png = EncodePng(*sheet);
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->substr(1, 3), "PNG");
  const GrayImage back = DecodePng(*png);
  EXPECT_EQ(back.width, sheet->width);
  EXPECT_EQ(back.height, sheet->height);
  EXPECT_EQ(back.pixels, sheet->pixels);

  const std::string path = TempPath("sheet.png");
  ASSERT_TRUE(WriteContactSheetPng(path, {CatGroup()}, ContactSheetOptions()).ok());
  EXPECT_EQ(DecodePng(ReadFileBytes(path)).pixels, sheet->pixels);
}

TEST(ContactSheetTest, RefusesWhatItCannotDraw) {
  EXPECT_EQ(DrawContactSheet({}, ContactSheetOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DrawContactSheet({{}, {}}, ContactSheetOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
  ContactSheetOptions tiny;
  tiny.picture_size = 4;
  EXPECT_THAT(DrawContactSheet({CatGroup()}, tiny).status().message(), HasSubstr("picture size"));
  ContactSheetOptions huge;
  huge.picture_size = 1024;
  huge.columns = 1;
  std::vector<Picture> many(300, CatGroup()[0]);
  EXPECT_THAT(DrawContactSheet({many}, huge).status().message(), HasSubstr("too large"));
  EXPECT_EQ(EncodePng(GrayImage{2, 2, {0, 0, 0}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status unwritable =
      WriteContactSheetPng(TempPath("no/such/dir/sheet.png"), {CatGroup()}, ContactSheetOptions());
  EXPECT_FALSE(unwritable.ok());
  EXPECT_THAT(unwritable.message(), HasSubstr("no/such/dir/sheet.png"));
}

}  // namespace
}  // namespace sketch
