// Test helper: a PNG decoded back with libpng as 8-bit gray, to check what the client wrote.
#ifndef SKETCH_TESTS_CLIENT_DECODE_PNG_H_
#define SKETCH_TESTS_CLIENT_DECODE_PNG_H_

#include <png.h>

#include <string>

#include "client/contact_sheet.h"

namespace sketch::testing {

// The image in `bytes` (any PNG, converted to gray); an empty image when libpng refuses it.
inline GrayImage DecodePng(const std::string& bytes) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size())) return GrayImage();
  png.format = PNG_FORMAT_GRAY;
  GrayImage image;
  image.pixels.resize(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, image.pixels.data(), 0, nullptr)) return GrayImage();
  image.width = static_cast<int>(png.width);
  image.height = static_cast<int>(png.height);
  return image;
}

}  // namespace sketch::testing

#endif  // SKETCH_TESTS_CLIENT_DECODE_PNG_H_
