// Training-time augmentation: a random affine map (rotation, anisotropic scale, shear) applied
// to a stroke drawing's points before rasterization (the rasterizer re-fits and centres the
// drawing, so translation is pointless and the map is linear), or, when asked, to a bitmap
// drawing's pixels about its centre.
#ifndef SKETCH_TRAINER_AUGMENT_H_
#define SKETCH_TRAINER_AUGMENT_H_

#include "absl/status/status.h"
#include "core/random.h"
#include "core/sketch.h"

namespace sketch {

struct AugmentOptions {
  double max_rotation_degrees = 12.0;  // rotation uniform in [-max, max]
  double min_scale = 0.85;             // x and y scales drawn independently in [min, max]
  double max_scale = 1.15;
  double max_shear = 0.15;  // x += shear * y, shear uniform in [-max, max]
  // Probability of mirroring the drawing left-right (x -> -x before the rest of the map). Quick,
  // Draw! words mean the same mirrored, and a model that serves with mirror averaging
  // (models/preprocessing.h) then sees both orientations in training too. 0 = never.
  double mirror_probability = 0.0;
  // Bitmap drawings too (resampled, ApplyAffine); off, they are never augmented.
  bool bitmaps = false;
};

// OK, or InvalidArgument naming the field: a negative or non-finite bound, rotation above 180,
// min_scale <= 0 or min_scale > max_scale, shear above 1 (it would fold the drawing flat).
absl::Status ValidateAugmentOptions(const AugmentOptions& options);

// A 2x2 linear map: (x, y) -> (a x + b y, c x + d y).
struct Affine {
  float a = 1.0f, b = 0.0f, c = 0.0f, d = 1.0f;
};

// Draws rotation, x scale, y scale, shear and the mirror's coin from `rng` in that order (five
// draws, always, so no draw depends on the options, and the first four are those of the streams
// before the mirror existed) and composes rotation * shear * scale * mirror, the mirror being
// diag(-1, 1) with probability mirror_probability and the identity otherwise.
Affine SampleAffine(const AugmentOptions& options, Rng* rng);

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

#endif  // SKETCH_TRAINER_AUGMENT_H_
