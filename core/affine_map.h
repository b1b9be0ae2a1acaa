// Affine maps of drawings: a 2x2 linear map applied to a stroke drawing's points, which are then
// re-fitted to Google's simplified frame (the rasterizer re-fits and centres a drawing anyway, so
// translation is pointless and the map is linear), or to a bitmap drawing's pixels about its
// centre. Training-time augmentation (trainer/augment.h) draws random ones; the test-time
// rotated views (models/preprocessing.h) use fixed rotations.
#ifndef SKETCH_CORE_AFFINE_MAP_H_
#define SKETCH_CORE_AFFINE_MAP_H_

#include "absl/status/status.h"
#include "core/sketch.h"

namespace sketch {

// A 2x2 linear map: (x, y) -> (a x + b y, c x + d y).
struct Affine {
  float a = 1.0f, b = 0.0f, c = 0.0f, d = 1.0f;
};

// The rotation by `degrees`: (x, y) -> (x cos - y sin, x sin + y cos), clockwise as drawn (y
// points down), as training's augmentation turns drawings.
Affine RotationAffine(double degrees);

// Writes to `out` the drawing `in` mapped by `affine`. A bitmap drawing: each output pixel takes
// the bilinear sample of `in` at the pre-image of its centre under `affine` about the bitmap's
// centre (0 beyond the edges), same size, rounded to uint8. A stroke drawing (any frame): every
// point mapped by `affine`, then
// re-fitted to the simplified frame (top-left aligned, longer side 0..255, rounded to integers),
// so the result passes ValidateSketch like any dataset drawing. Metadata is copied; `out`'s
// stroke storage is reused. A degenerate map or drawing (zero extent) puts every point at the
// origin, which rasterizes as a dot. InvalidArgument for a malformed stroke (x/y length
// mismatch, non-finite points), a bitmap ValidateSketch rejects, or a map that is not
// invertible. Per-point times are kept. `in` and `out` must
// differ. Thread-safe.
absl::Status ApplyAffine(const Sketch& in, const Affine& affine, Sketch* out);

}  // namespace sketch

#endif  // SKETCH_CORE_AFFINE_MAP_H_
