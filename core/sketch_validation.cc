#include "core/sketch_validation.h"

#include <cfloat>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

// ---- The hot path: plain predicates over a stroke's floats, no Status per point. ----

// Every x and y an integer in 0..255 (so also finite). Adding and subtracting 2^23 rounds a
// float of that range to an integer, so the loop has no branch nor conversion and vectorizes.
// (That rounding needs float arithmetic done in float, as with SSE, not in x87's wider format.)
static_assert(FLT_EVAL_METHOD == 0, "AllSimplified needs float math in float precision");
bool AllSimplified(const float* x, const float* y, size_t n) {
  constexpr float kRound = 8388608.0f;  // 2^23
  int ok = 1;  // an int, not a bool, or gcc does not vectorize the reduction
  for (size_t i = 0; i < n; ++i) {
    // All false for NaN.
    const bool x_ok = (x[i] >= 0.0f) & (x[i] <= 255.0f) & ((x[i] + kRound) - kRound == x[i]);
    const bool y_ok = (y[i] >= 0.0f) & (y[i] <= 255.0f) & ((y[i] + kRound) - kRound == y[i]);
    ok &= x_ok & y_ok;
  }
  return ok != 0;
}

// Every |value| <= bound; with bound <= FLT_MAX that also rules out NaN and infinities.
bool AllWithin(const float* values, size_t n, float bound) {
  int ok = 1;
  for (size_t i = 0; i < n; ++i) ok &= std::fabs(values[i]) <= bound;
  return ok != 0;
}

// Exactly the rules of CheckPoints below, over a whole stroke whose sizes are already checked.
bool StrokeIsValid(const Stroke& stroke, StrokeFrame frame, float raw_bound) {
  const size_t n = stroke.size();
  const bool xy =
      frame == StrokeFrame::kSimplified
          ? AllSimplified(stroke.x.data(), stroke.y.data(), n)
          : AllWithin(stroke.x.data(), n, raw_bound) && AllWithin(stroke.y.data(), n, raw_bound);
  return xy && AllWithin(stroke.t.data(), stroke.t.size(), FLT_MAX);
}

// ---- The error path: finds the first bad point, in point order, and says what is wrong. ----

absl::Status CheckCoordinate(float v, const char* axis, size_t stroke, size_t point,
                             StrokeFrame frame, const SketchLimits& limits) {
  auto where = [&] { return absl::StrCat("stroke ", stroke, " point ", point, " ", axis); };
  if (!std::isfinite(v)) return absl::InvalidArgumentError(absl::StrCat(where(), " is not finite"));
  if (frame == StrokeFrame::kSimplified) {
    if (v < 0.0f || v > 255.0f || v != std::floor(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), " = ", v, " is not a simplified coordinate (integer 0..255)"));
    }
  } else if (std::fabs(v) > limits.max_raw_abs_coordinate) {
    return absl::InvalidArgumentError(absl::StrCat(where(), " = ", v, " exceeds the raw limit of ",
                                                   limits.max_raw_abs_coordinate));
  }
  return absl::OkStatus();
}

absl::Status CheckPoints(const Stroke& stroke, size_t s, StrokeFrame frame,
                         const SketchLimits& limits) {
  for (size_t p = 0; p < stroke.size(); ++p) {
    auto status = CheckCoordinate(stroke.x[p], "x", s, p, frame, limits);
    if (status.ok()) status = CheckCoordinate(stroke.y[p], "y", s, p, frame, limits);
    if (!status.ok()) return status;
    if (!stroke.t.empty() && !std::isfinite(stroke.t[p])) {
      return absl::InvalidArgumentError(
          absl::StrCat("stroke ", s, " point ", p, " time is not finite"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateBitmap(const Bitmap& bitmap) {
  const size_t expected = static_cast<size_t>(bitmap.size) * static_cast<size_t>(bitmap.size);
  if (bitmap.size <= 0 || bitmap.size > 4096 || bitmap.pixels.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("bitmap of size ", bitmap.size, " has ",
                                                   bitmap.pixels.size(), " pixels, expected ",
                                                   expected));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSketch(const Sketch& sketch, const SketchLimits& limits) {
  if (sketch.is_bitmap()) {
    if (!sketch.strokes.empty()) {
      return absl::InvalidArgumentError("a sketch holds either strokes or a bitmap, not both");
    }
    return ValidateBitmap(sketch.bitmap);
  }
  if (sketch.strokes.empty()) return absl::InvalidArgumentError("drawing has no strokes");
  if (sketch.strokes.size() > limits.max_strokes) {
    return absl::InvalidArgumentError(absl::StrCat("drawing has ", sketch.strokes.size(),
                                                   " strokes, the limit is ", limits.max_strokes));
  }
  // |v| <= raw_bound is exactly "finite and not beyond the limit", whatever the limit (even NaN).
  const float raw_bound =
      limits.max_raw_abs_coordinate < FLT_MAX ? limits.max_raw_abs_coordinate : FLT_MAX;
  size_t total = 0;
  for (size_t s = 0; s < sketch.strokes.size(); ++s) {
    const Stroke& stroke = sketch.strokes[s];
    if (stroke.x.size() != stroke.y.size()) {
      return absl::InvalidArgumentError(absl::StrCat("stroke ", s, " has ", stroke.x.size(),
                                                     " x but ", stroke.y.size(), " y values"));
    }
    if (!stroke.t.empty() && stroke.t.size() != stroke.x.size()) {
      return absl::InvalidArgumentError(absl::StrCat("stroke ", s, " has ", stroke.x.size(),
                                                     " points but ", stroke.t.size(), " times"));
    }
    if (stroke.x.empty()) return absl::InvalidArgumentError(absl::StrCat("stroke ", s, " is empty"));
    if (stroke.size() > limits.max_points_per_stroke) {
      return absl::InvalidArgumentError(absl::StrCat("stroke ", s, " has ", stroke.size(),
                                                     " points, the limit is ",
                                                     limits.max_points_per_stroke));
    }
    total += stroke.size();
    if (total > limits.max_total_points) {
      return absl::InvalidArgumentError(
          absl::StrCat("drawing has more than ", limits.max_total_points, " points in total"));
    }
    if (!StrokeIsValid(stroke, sketch.frame, raw_bound)) {
      RETURN_IF_ERROR(CheckPoints(stroke, s, sketch.frame, limits));
    }
  }
  return absl::OkStatus();
}

}  // namespace sketch
