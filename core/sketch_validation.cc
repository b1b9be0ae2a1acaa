#include "core/sketch_validation.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

// ---- The hot path: plain predicates over a stroke's floats, no Status per point. ----

// Every value an integer in 0..255 (so also finite). Branch-free, so the compiler may vectorize.
bool AllSimplified(const std::vector<float>& values) {
  bool ok = true;
  for (const float v : values) {
    const bool in_range = v >= 0.0f && v <= 255.0f;  // false for NaN
    const float c = in_range ? v : 0.0f;             // keeps the int conversion defined
    ok &= in_range & (static_cast<float>(static_cast<int32_t>(c)) == v);
  }
  return ok;
}

// Every |value| <= bound; with bound <= FLT_MAX that also rules out NaN and infinities.
bool AllWithin(const std::vector<float>& values, float bound) {
  bool ok = true;
  for (const float v : values) ok &= std::fabs(v) <= bound;
  return ok;
}

// Exactly the rules CheckCoordinate and the time check below apply, over a whole stroke.
bool StrokeIsValid(const Stroke& stroke, StrokeFrame frame, float raw_bound) {
  const bool xy = frame == StrokeFrame::kSimplified
                      ? AllSimplified(stroke.x) & AllSimplified(stroke.y)
                      : AllWithin(stroke.x, raw_bound) & AllWithin(stroke.y, raw_bound);
  return xy && AllWithin(stroke.t, FLT_MAX);
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
