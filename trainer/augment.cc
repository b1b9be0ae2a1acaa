#include "trainer/augment.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

constexpr double kPi = 3.14159265358979323846;

double UniformIn(Rng* rng, double lo, double hi) { return lo + (hi - lo) * rng->UniformDouble(); }

absl::Status CheckBound(const char* name, double value, double max) {
  if (!std::isfinite(value) || value < 0.0f || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("augmentation ", name, " must be in [0, ", max, "], got ", value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateAugmentOptions(const AugmentOptions& options) {
  if (auto s = CheckBound("max_rotation_degrees", options.max_rotation_degrees, 180.0); !s.ok()) {
    return s;
  }
  if (auto s = CheckBound("max_shear", options.max_shear, 1.0); !s.ok()) return s;
  if (auto s = CheckBound("mirror_probability", options.mirror_probability, 1.0); !s.ok()) {
    return s;
  }
  if (!std::isfinite(options.min_scale) || !std::isfinite(options.max_scale) ||
      options.min_scale <= 0.0 || options.min_scale > options.max_scale) {
    return absl::InvalidArgumentError(
        absl::StrCat("augmentation scales need 0 < min_scale <= max_scale, got ", options.min_scale,
                     " and ", options.max_scale));
  }
  return absl::OkStatus();
}

Affine SampleAffine(const AugmentOptions& options, Rng* rng) {
  const double degrees =
      UniformIn(rng, -options.max_rotation_degrees, options.max_rotation_degrees);
  const double sx = UniformIn(rng, options.min_scale, options.max_scale);
  const double sy = UniformIn(rng, options.min_scale, options.max_scale);
  const double shear = UniformIn(rng, -options.max_shear, options.max_shear);
  const bool mirror = UniformIn(rng, 0.0, 1.0) < options.mirror_probability;
  const double theta = degrees * kPi / 180.0;
  const double cos_t = std::cos(theta), sin_t = std::sin(theta);
  // rotation * [[1, shear], [0, 1]] * diag(sx, sy) * diag(mirror ? -1 : 1, 1)
  const double mx = mirror ? -sx : sx;
  Affine m;
  m.a = static_cast<float>(cos_t * mx);
  m.b = static_cast<float>((cos_t * shear - sin_t) * sy);
  m.c = static_cast<float>(sin_t * mx);
  m.d = static_cast<float>((sin_t * shear + cos_t) * sy);
  return m;
}

}  // namespace sketch
