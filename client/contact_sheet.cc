#include "client/contact_sheet.h"

#include <png.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/atomic_file.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

// A 5 x 7 pixel font: each glyph is 7 rows of 5 pixels, '#' ink, '.' background.
constexpr int kGlyphWidth = 5, kGlyphHeight = 7;
constexpr int kAdvance = kGlyphWidth + 1, kLineHeight = kGlyphHeight + 3;
struct Glyph {
  char c;
  const char* rows;
};
// clang-format off
constexpr Glyph kFont[] = {
    {'a', "...........###.....#.#####...#.####"}, {'b', "#....#....#.##.##..##...##...#####."},
    {'c', "...........###.#....#....#...#.###."}, {'d', "....#....#.##.##..###...##...#.####"},
    {'e', "...........###.#...#######.....###."}, {'f', "..##..#..#.#...###...#....#....#..."},
    {'g', "......#####...##...#.####....#.###."}, {'h', "#....#....#.##.##..##...##...##...#"},
    {'i', "..#........##....#....#....#...###."}, {'j', "...#........##....#....#.#..#..##.."},
    {'k', "#....#....#..#.#.#..##...#.#..#..#."}, {'l', ".##....#....#....#....#....#...###."},
    {'m', "..........##.#.#.#.##.#.##...##...#"}, {'n', "..........#.##.##..##...##...##...#"},
    {'o', "...........###.#...##...##...#.###."}, {'p', "..........####.#...#####.#....#...."},
    {'q', "...........#####...##...#.####....#"}, {'r', "..........#.##.##..##....#....#...."},
    {'s', "...........###.#.....###.....#####."}, {'t', ".#....#...###...#....#....#..#..##."},
    {'u', "..........#...##...##...##..##.##.#"}, {'v', "..........#...##...##...#.#.#...#.."},
    {'w', "..........#...##...##.#.##.#.#.#.#."}, {'x', "..........#...#.#.#...#...#.#.#...#"},
    {'y', "..........#...##...#.####....#.###."}, {'z', "..........#####...#...#...#...#####"},
    {'0', ".###.#...##..###.#.###..##...#.###."}, {'1', "..#...##....#....#....#....#...###."},
    {'2', ".###.#...#....#...#...#...#...#####"}, {'3', "#####...#...#.....#.....##...#.###."},
    {'4', "...#...##..#.#.#..#.#####...#....#."}, {'5', "######....####.....#....##...#.###."},
    {'6', "..##..#...#....####.#...##...#.###."}, {'7', "#####....#...#...#...#....#....#..."},
    {'8', ".###.#...##...#.###.#...##...#.###."}, {'9', ".###.#...##...#.####....#...#..##.."},
    {' ', "..................................."}, {'.', "..........................##...##.."},
    {',', ".....................##....#...#..."}, {'-', "...............#####..............."},
    {':', "......##...##........##...##......."}, {'#', ".#.#..#.#.#####.#.#.#####.#.#..#.#."},
    {'(', "...#...#...#....#....#.....#.....#."}, {')', ".#.....#.....#....#....#...#...#..."},
    {'\'', "..#....#...#......................."}, {'/', ".........#...#...#...#...#........."},
    {'_', "..............................#####"}, {'=', "..........#####.....#####.........."},
    {'+', ".......#....#..#####..#....#......."}, {'?', ".###.#...#....#...#...#.........#.."},
};
// clang-format on

constexpr bool GlyphsAreWellFormed() {
  for (const Glyph& glyph : kFont) {
    int length = 0;
    for (const char* p = glyph.rows; *p != '\0'; ++p, ++length) {
      if (*p != '#' && *p != '.') return false;
    }
    if (length != kGlyphWidth * kGlyphHeight) return false;
  }
  return true;
}
static_assert(GlyphsAreWellFormed(), "every glyph is 7 rows of 5 '#' or '.'");

const Glyph& GlyphFor(char c) {
  const char lower = absl::ascii_tolower(static_cast<unsigned char>(c));
  for (const Glyph& glyph : kFont) {
    if (glyph.c == lower) return glyph;
  }
  return GlyphFor('?');
}

// Draws `text` with its top-left corner at (x, y) in `ink`, clipped to `max_width` pixels (and
// to the image).
void DrawText(absl::string_view text, int x, int y, int max_width, uint8_t ink, GrayImage* image) {
  const int fit = std::max(0, (max_width + 1) / kAdvance);
  for (size_t i = 0; i < text.size() && static_cast<int>(i) < fit; ++i) {
    const Glyph& glyph = GlyphFor(text[i]);
    for (int row = 0; row < kGlyphHeight; ++row) {
      for (int col = 0; col < kGlyphWidth; ++col) {
        const int px = x + static_cast<int>(i) * kAdvance + col, py = y + row;
        if (glyph.rows[row * kGlyphWidth + col] != '#' || px < 0 || py < 0 || px >= image->width ||
            py >= image->height) {
          continue;
        }
        image->pixels[static_cast<size_t>(py) * image->width + px] = ink;
      }
    }
  }
}

void FillRect(int x, int y, int width, int height, uint8_t value, GrayImage* image) {
  for (int row = std::max(y, 0); row < std::min(y + height, image->height); ++row) {
    for (int col = std::max(x, 0); col < std::min(x + width, image->width); ++col) {
      image->pixels[static_cast<size_t>(row) * image->width + col] = value;
    }
  }
}

// A frame `thickness` pixels wide just outside the square at (x, y) of side `size`.
void DrawFrame(int x, int y, int size, int thickness, uint8_t value, GrayImage* image) {
  const int outer = size + 2 * thickness;
  FillRect(x - thickness, y - thickness, outer, thickness, value, image);
  FillRect(x - thickness, y + size, outer, thickness, value, image);
  FillRect(x - thickness, y, thickness, size, value, image);
  FillRect(x + size, y, thickness, size, value, image);
}

constexpr int kPadding = 8;
constexpr int kCaptionLines = 3;
constexpr uint8_t kWhite = 255, kFrame = 208, kQueryFrame = 64, kCaptionInk = 0, kNoteInk = 96;

struct Layout {
  int picture = 0;
  int cell_width = 0, cell_height = 0;
};

Layout LayoutFor(const ContactSheetOptions& options) {
  Layout layout;
  layout.picture = options.picture_size;
  layout.cell_width = layout.picture + 2 * kPadding;
  layout.cell_height = kPadding + layout.picture + kPadding / 2 + kCaptionLines * kLineHeight;
  return layout;
}

// Draws one picture in the cell whose top-left is (x, y).
void DrawCell(const Picture& picture, const Layout& layout, int x, int y,
              std::vector<uint8_t>* raster, GrayImage* sheet) {
  const int left = x + kPadding, top = y + kPadding, size = layout.picture;
  DrawFrame(left, top, size, picture.is_query ? 3 : 1, picture.is_query ? kQueryFrame : kFrame,
            sheet);
  absl::Status drawn = picture.drawing.status();
  if (drawn.ok()) drawn = DrawPicture(*picture.drawing, size, raster);
  if (drawn.ok()) {
    for (int row = 0; row < size; ++row) {
      for (int col = 0; col < size; ++col) {
        sheet->pixels[static_cast<size_t>(top + row) * sheet->width + left + col] =
            static_cast<uint8_t>(kWhite - (*raster)[static_cast<size_t>(row) * size + col]);
      }
    }
  } else {
    // The message, word-wrapped inside the frame.
    int line_y = top + 4;
    std::string line;
    const size_t fit = static_cast<size_t>(std::max(1, (size - 8 + 1) / kAdvance));
    auto flush = [&] {
      DrawText(line, left + 4, line_y, size - 8, kNoteInk, sheet);
      line_y += kLineHeight;
      line.clear();
    };
    for (absl::string_view word : absl::StrSplit(drawn.message(), ' ', absl::SkipEmpty())) {
      if (!line.empty() && line.size() + 1 + word.size() > fit) flush();
      if (line_y + kGlyphHeight > top + size) break;
      absl::StrAppend(&line, line.empty() ? "" : " ", word);
    }
    if (!line.empty() && line_y + kGlyphHeight <= top + size) flush();
  }
  int caption_y = top + size + kPadding / 2;
  for (int i = 0; i < static_cast<int>(picture.caption.size()) && i < kCaptionLines; ++i) {
    DrawText(picture.caption[i], left, caption_y, size, kCaptionInk, sheet);
    caption_y += kLineHeight;
  }
}

}  // namespace

absl::StatusOr<GrayImage> DrawContactSheet(const std::vector<std::vector<Picture>>& groups,
                                           const ContactSheetOptions& options) {
  if (options.picture_size < 8 || options.picture_size > 1024 || options.columns < 1) {
    return absl::InvalidArgumentError(absl::StrCat("contact sheet: picture size ",
                                                   options.picture_size, " (8..1024) or columns ",
                                                   options.columns, " (at least 1) out of range"));
  }
  const Layout layout = LayoutFor(options);
  int64_t rows = 0, widest = 0;
  for (const std::vector<Picture>& group : groups) {
    const int64_t n = static_cast<int64_t>(group.size());
    rows += (n + options.columns - 1) / options.columns;
    widest = std::max(widest, std::min<int64_t>(n, options.columns));
  }
  const int64_t width = widest * layout.cell_width, height = rows * layout.cell_height;
  if (width == 0 || height == 0) {
    return absl::InvalidArgumentError("contact sheet: no pictures to show");
  }
  if (width * height > (int64_t{1} << 28)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "contact sheet: ", width, " x ", height,
        " pixels is too large; show fewer drawings (--line, --key-id) or fewer hits (-k)"));
  }
  GrayImage sheet;
  sheet.width = static_cast<int>(width);
  sheet.height = static_cast<int>(height);
  sheet.pixels.assign(static_cast<size_t>(width * height), kWhite);
  std::vector<uint8_t> raster;
  int row = 0;
  for (const std::vector<Picture>& group : groups) {
    for (size_t i = 0; i < group.size(); ++i) {
      const int column = static_cast<int>(i % options.columns);
      if (i > 0 && column == 0) ++row;
      DrawCell(group[i], layout, column * layout.cell_width, row * layout.cell_height, &raster,
               &sheet);
    }
    if (!group.empty()) ++row;
  }
  return sheet;
}

absl::StatusOr<std::string> EncodePng(const GrayImage& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height) {
    return absl::InvalidArgumentError(absl::StrCat("PNG: a ", image.width, " x ", image.height,
                                                   " image with ", image.pixels.size(), " pixels"));
  }
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  // The first call measures, the second writes.
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, image.pixels.data(), 0, nullptr)) {
    return absl::InternalError(absl::StrCat("PNG: libpng: ", png.message));
  }
  std::string bytes(size, '\0');
  if (!png_image_write_to_memory(&png, bytes.data(), &size, 0, image.pixels.data(), 0, nullptr)) {
    return absl::InternalError(absl::StrCat("PNG: libpng: ", png.message));
  }
  bytes.resize(size);
  return bytes;
}

absl::Status WriteContactSheetPng(const std::string& path,
                                  const std::vector<std::vector<Picture>>& groups,
                                  const ContactSheetOptions& options) {
  ASSIGN_OR_RETURN(GrayImage sheet, DrawContactSheet(groups, options));
  ASSIGN_OR_RETURN(std::string png, EncodePng(sheet));
  return WriteFileAtomically(path, png);
}

}  // namespace sketch
