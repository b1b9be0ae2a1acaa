#include "client/text_grid.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace sketch {
namespace {

constexpr int kGap = 2;                     // spaces between pictures
constexpr uint8_t kInk = 128;               // a pixel at least this dark is a dot
constexpr char kAsciiRamp[] = " .:-=+*#@";  // by the number of ink pixels, 0..8

// `text` cut to `width` terminal columns (one per code point: captions are words and numbers)
// and padded with spaces to exactly that width.
std::string FitColumns(absl::string_view text, int width) {
  std::string out;
  int columns = 0;
  for (char c : text) {
    const bool continuation = (static_cast<uint8_t>(c) & 0xC0) == 0x80;
    if (!continuation && columns == width) break;
    if (!continuation) ++columns;
    out += c;
  }
  out.append(static_cast<size_t>(width - columns), ' ');
  return out;
}

// The message's words, greedily wrapped to `width` columns, in at most `lines` lines.
std::vector<std::string> Wrap(absl::string_view message, int width, int lines) {
  std::vector<std::string> out;
  std::string line;
  for (absl::string_view word : absl::StrSplit(message, ' ', absl::SkipEmpty())) {
    if (!line.empty() && line.size() + 1 + word.size() > static_cast<size_t>(width)) {
      out.push_back(std::move(line));
      line.clear();
    }
    if (!line.empty()) line += ' ';
    line.append(word.data(), word.size());
  }
  if (!line.empty()) out.push_back(std::move(line));
  if (out.size() > static_cast<size_t>(lines)) out.resize(static_cast<size_t>(lines));
  return out;
}

// The character for the 2 x 4 pixels whose top-left is (x, y) of the size x size image.
std::string Glyph(const std::vector<uint8_t>& image, int size, int x, int y, TextGlyphs glyphs) {
  // Braille dot bits by (column, row) within the character: dots 1-3 and 7 down the left,
  // 4-6 and 8 down the right.
  static constexpr uint8_t kDotBit[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};
  int bits = 0, count = 0;
  for (int dx = 0; dx < 2; ++dx) {
    for (int dy = 0; dy < 4; ++dy) {
      if (x + dx >= size || y + dy >= size) continue;
      if (image[static_cast<size_t>(y + dy) * size + x + dx] >= kInk) {
        bits |= kDotBit[dx][dy];
        ++count;
      }
    }
  }
  if (glyphs == TextGlyphs::kAscii) return std::string(1, kAsciiRamp[count]);
  if (bits == 0) return " ";
  // UTF-8 of U+2800 + bits: E2, A0 + the top 2 bits, 80 + the low 6.
  return {static_cast<char>(0xE2), static_cast<char>(0xA0 | (bits >> 6)),
          static_cast<char>(0x80 | (bits & 0x3F))};
}

// The picture as `width`-column lines: the drawing (or the reason there is none), then the
// caption.
std::vector<std::string> PictureLines(const Picture& picture, int width, TextGlyphs glyphs,
                                      std::vector<uint8_t>* image) {
  const int size = 2 * width;
  const int drawing_lines = (size + 3) / 4;
  std::vector<std::string> lines;
  absl::Status drawn = picture.drawing.status();
  if (drawn.ok()) drawn = DrawPicture(*picture.drawing, size, image);
  if (drawn.ok()) {
    for (int y = 0; y < size; y += 4) {
      std::string line;
      for (int x = 0; x < size; x += 2) line += Glyph(*image, size, x, y, glyphs);
      lines.push_back(std::move(line));
    }
  } else {
    for (const std::string& text : Wrap(drawn.message(), width, drawing_lines)) {
      lines.push_back(FitColumns(text, width));
    }
    lines.resize(static_cast<size_t>(drawing_lines), std::string(static_cast<size_t>(width), ' '));
  }
  for (const std::string& text : picture.caption) lines.push_back(FitColumns(text, width));
  return lines;
}

void AppendWithoutTrailingSpaces(std::string line, std::string* out) {
  line.erase(line.find_last_not_of(' ') + 1);
  *out += line;
  *out += '\n';
}

}  // namespace

std::string RenderTextGrid(const std::vector<Picture>& pictures, const TextGridOptions& options) {
  const int width = std::clamp(options.picture_columns, 4, 512);
  const size_t per_row =
      static_cast<size_t>(std::max(1, (options.terminal_columns + kGap) / (width + kGap)));
  std::string out;
  std::vector<uint8_t> image;
  for (size_t first = 0; first < pictures.size(); first += per_row) {
    const size_t last = std::min(pictures.size(), first + per_row);
    std::vector<std::vector<std::string>> columns;
    size_t height = 0;
    for (size_t p = first; p < last; ++p) {
      columns.push_back(PictureLines(pictures[p], width, options.glyphs, &image));
      height = std::max(height, columns.back().size());
    }
    const std::string blank(static_cast<size_t>(width), ' ');
    for (size_t row = 0; row < height; ++row) {
      std::string line;
      for (size_t c = 0; c < columns.size(); ++c) {
        if (c > 0) line.append(kGap, ' ');
        line += row < columns[c].size() ? columns[c][row] : blank;
      }
      AppendWithoutTrailingSpaces(std::move(line), &out);
    }
    out += '\n';
  }
  return out;
}

bool LocaleIsUtf8(const char* lc_all, const char* lc_ctype, const char* lang) {
  for (const char* value : {lc_all, lc_ctype, lang}) {
    if (value == nullptr || *value == '\0') continue;
    const std::string name = absl::AsciiStrToLower(value);
    return name.find("utf-8") != std::string::npos || name.find("utf8") != std::string::npos;
  }
  return false;
}

TextGridOptions TerminalGridOptions(int fd) {
  TextGridOptions options;
  winsize window{};
  int columns = 0;
  if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &window) == 0 && window.ws_col > 0) {
    options.terminal_columns = window.ws_col;
  } else if (const char* env = std::getenv("COLUMNS");
             env != nullptr && absl::SimpleAtoi(env, &columns) && columns > 0) {
    options.terminal_columns = columns;
  }
  options.glyphs = LocaleIsUtf8(std::getenv("LC_ALL"), std::getenv("LC_CTYPE"), std::getenv("LANG"))
                       ? TextGlyphs::kBraille
                       : TextGlyphs::kAscii;
  return options;
}

}  // namespace sketch
