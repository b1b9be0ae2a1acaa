// A contact sheet: pictures (client/picture.h) laid out as a grayscale image with their captions
// written under them in a small built-in pixel font, and saved as PNG (libpng). What
// `sketch search --png FILE` writes: each query, then its hits.
#ifndef SKETCH_CLIENT_CONTACT_SHEET_H_
#define SKETCH_CLIENT_CONTACT_SHEET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/picture.h"

namespace sketch {

// 8-bit grayscale, row-major: 0 black, 255 white.
struct GrayImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // uint8 [height * width]
};

struct ContactSheetOptions {
  int picture_size = 128;  // pixels across a drawing (the model's input size), 8..1024
  int columns = 8;         // pictures per row; a group wraps onto further rows
};

// Each group (a query and its hits) starts a new row and fills `columns` pictures a row. A
// picture is black ink on white in a light frame (the query's frame dark and thick), its
// caption beneath, cut to the picture's width (lowercase letters, digits and . , - : # ( ) ' /
// _ = + drawn; capitals as lowercase; anything else as '?'). A picture whose drawing is an
// error, or cannot be drawn, shows the message in its frame. InvalidArgument for options out of
// range, no pictures at all, or a sheet of more than 2^28 pixels. Thread-safe.
absl::StatusOr<GrayImage> DrawContactSheet(const std::vector<std::vector<Picture>>& groups,
                                           const ContactSheetOptions& options);

// The image as an 8-bit grayscale PNG. InvalidArgument for an empty image or one whose pixels
// are not width * height; Internal when libpng fails. Thread-safe.
absl::StatusOr<std::string> EncodePng(const GrayImage& image);

// DrawContactSheet, EncodePng, and the bytes written to `path` atomically (core/atomic_file.h);
// their errors, the write's naming `path`.
absl::Status WriteContactSheetPng(const std::string& path,
                                  const std::vector<std::vector<Picture>>& groups,
                                  const ContactSheetOptions& options);

}  // namespace sketch

#endif  // SKETCH_CLIENT_CONTACT_SHEET_H_
