// A Quick, Draw! record in memory: strokes (simplified or raw frame) or a grayscale bitmap,
// with the dataset metadata that travels with it. Every reader produces these.
#ifndef SKETCH_CORE_SKETCH_H_
#define SKETCH_CORE_SKETCH_H_

#include <cstdint>
#include <string>
#include <vector>

namespace sketch {

// Which coordinate frame a sketch's strokes are in.
enum class StrokeFrame {
  // Integers 0..255, aligned to the top-left, longer side spanning 0..255 (Google's simplified data).
  kSimplified,
  // Device pixels as drawn (float, any offset), with per-point times in ms.
  kRaw,
};

// One pen-down..pen-up trace. x.size() == y.size() always; t is empty or the same size.
struct Stroke {
  std::vector<float> x;
  std::vector<float> y;
  std::vector<float> t;  // ms since the drawing's first point; raw frame only.

  size_t size() const { return x.size(); }
};

// A square grayscale image, row-major, 0 = background (numpy_bitmap convention).
struct Bitmap {
  int size = 0;  // width == height
  std::vector<uint8_t> pixels;  // uint8 [size * size]
};

struct Sketch {
  uint64_t key_id = 0;
  std::string word;
  std::string countrycode;  // two letters, may be empty
  bool recognized = false;
  int64_t timestamp = 0;  // unix seconds (UTC); 0 when unknown
  StrokeFrame frame = StrokeFrame::kSimplified;
  std::vector<Stroke> strokes;  // empty for a bitmap sketch
  Bitmap bitmap;                // size 0 for a stroke sketch

  bool is_bitmap() const { return bitmap.size > 0; }
  size_t num_points() const {
    size_t n = 0;
    for (const Stroke& s : strokes) n += s.size();
    return n;
  }
};

}  // namespace sketch

#endif  // SKETCH_CORE_SKETCH_H_
