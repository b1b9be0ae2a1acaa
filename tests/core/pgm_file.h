// Binary PGM (P5) files for the rasterizer's golden images: small enough to diff by eye in any
// image viewer (tests/data/golden/README.md). Test-only.
#ifndef SKETCH_TESTS_CORE_PGM_FILE_H_
#define SKETCH_TESTS_CORE_PGM_FILE_H_

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace sketch {

// False when the file is missing or not an 8-bit P5 image.
inline bool ReadPgm(const std::string& path, int* width, int* height,
                    std::vector<uint8_t>* pixels) {
  std::ifstream in(path, std::ios::binary);
  std::string magic;
  int max_value = 0;
  in >> magic >> *width >> *height >> max_value;
  in.get();  // the single whitespace byte before the raster
  if (!in || magic != "P5" || *width <= 0 || *height <= 0 || max_value != 255) return false;
  pixels->resize(static_cast<size_t>(*width) * *height);
  in.read(reinterpret_cast<char*>(pixels->data()), static_cast<std::streamsize>(pixels->size()));
  return static_cast<bool>(in);
}

inline void WritePgm(const std::string& path, int width, int height,
                     const std::vector<uint8_t>& pixels) {
  std::ofstream out(path, std::ios::binary);
  out << "P5\n" << width << " " << height << "\n255\n";
  out.write(reinterpret_cast<const char*>(pixels.data()),
            static_cast<std::streamsize>(pixels.size()));
}

}  // namespace sketch

#endif  // SKETCH_TESTS_CORE_PGM_FILE_H_
