// Strict checks on a decoded sketch: the rules every reader and the server apply before any work.
#ifndef SKETCH_CORE_SKETCH_VALIDATION_H_
#define SKETCH_CORE_SKETCH_VALIDATION_H_

#include <cstddef>

#include "absl/status/status.h"
#include "core/sketch.h"

namespace sketch {

// Bounds that keep hostile or corrupt input from costing unbounded memory or time.
struct SketchLimits {
  size_t max_strokes = 1024;
  size_t max_points_per_stroke = 65535;  // the .bin format's u16 bound
  size_t max_total_points = 200000;
  // Raw coordinates are device pixels and may be negative (real raw data goes below -1000);
  // anything beyond this magnitude is corrupt.
  float max_raw_abs_coordinate = 1e5f;
};

// Returns OK, or InvalidArgument naming the stroke/point and the rule broken:
// no strokes, an empty stroke, x/y/t length mismatch, NaN/Inf, a simplified coordinate outside
// 0..255 or not an integer, a raw coordinate beyond the limit, or a limit exceeded.
// Bitmap sketches are checked for a square, non-empty pixel buffer. Thread-safe.
absl::Status ValidateSketch(const Sketch& sketch, const SketchLimits& limits = {});

}  // namespace sketch

#endif  // SKETCH_CORE_SKETCH_VALIDATION_H_
