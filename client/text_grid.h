// Pictures (client/picture.h) drawn with characters: a grid of small drawings, each with its
// caption underneath, as wide as the terminal allows. Braille characters (2 x 4 dots per
// character) on UTF-8 terminals; an ASCII density ramp elsewhere.
#ifndef SKETCH_CLIENT_TEXT_GRID_H_
#define SKETCH_CLIENT_TEXT_GRID_H_

#include <string>
#include <vector>

#include "client/picture.h"

namespace sketch {

enum class TextGlyphs {
  kBraille,  // U+2800..U+28FF: every dot is a pixel
  kAscii,    // one of " .:-=+*#@" by how many of the character's 8 pixels are ink
};

struct TextGridOptions {
  int terminal_columns = 80;  // the grid never prints wider (one picture a row at the least)
  TextGlyphs glyphs = TextGlyphs::kBraille;
  int picture_columns = 16;  // characters across a picture: 2 pixels each, drawn square
};

// The pictures left to right, wrapped to terminal_columns, 2 spaces apart; each row is the
// drawings (picture_columns / 2 lines of picture_columns characters), then the caption lines
// cut to picture_columns characters, then a blank line. A picture whose drawing is an error, or
// cannot be drawn, shows the message inside its square instead. Ink is a pixel at 128 or more.
// Complete lines ending in '\n', no trailing spaces. picture_columns is clamped to 4..512.
// Thread-safe.
std::string RenderTextGrid(const std::vector<Picture>& pictures, const TextGridOptions& options);

// The terminal behind file descriptor `fd`: its width in columns (the window's size when `fd`
// is a terminal, else $COLUMNS, else 80) and whether the locale's characters are UTF-8
// (LocaleIsUtf8 over $LC_ALL, $LC_CTYPE, $LANG). Not thread-safe (reads the environment).
TextGridOptions TerminalGridOptions(int fd);

// Whether the locale is UTF-8: the first of the three that is set and not empty (the POSIX
// precedence) names the "UTF-8" or "utf8" codeset. Null or empty arguments count as unset; none
// set is the "C" locale: false.
bool LocaleIsUtf8(const char* lc_all, const char* lc_ctype, const char* lang);

}  // namespace sketch

#endif  // SKETCH_CLIENT_TEXT_GRID_H_
