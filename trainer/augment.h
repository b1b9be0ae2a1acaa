// Training-time augmentation: a random affine map (rotation, anisotropic scale, shear) applied
// to a stroke drawing's points before rasterization (the rasterizer re-fits and centres the
// drawing, so translation is pointless and the map is linear), or, when asked, to a bitmap
// drawing's pixels about its centre.
#ifndef SKETCH_TRAINER_AUGMENT_H_
#define SKETCH_TRAINER_AUGMENT_H_

#include "absl/status/status.h"
#include "core/affine_map.h"
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
  // Bitmap drawings too (resampled, core/affine_map.h's ApplyAffine); off, they are never
  // augmented.
  bool bitmaps = false;
};

// OK, or InvalidArgument naming the field: a negative or non-finite bound, rotation above 180,
// min_scale <= 0 or min_scale > max_scale, shear above 1 (it would fold the drawing flat).
absl::Status ValidateAugmentOptions(const AugmentOptions& options);

// Draws rotation, x scale, y scale, shear and the mirror's coin from `rng` in that order (five
// draws, always, so no draw depends on the options, and the first four are those of the streams
// before the mirror existed) and composes rotation * shear * scale * mirror, the mirror being
// diag(-1, 1) with probability mirror_probability and the identity otherwise.
Affine SampleAffine(const AugmentOptions& options, Rng* rng);

}  // namespace sketch

#endif  // SKETCH_TRAINER_AUGMENT_H_
