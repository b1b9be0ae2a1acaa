#include "core/affine_map.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/sketch_validation.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

constexpr double kSimplifiedExtent = 255.0;

struct Box {
  double min_x = HUGE_VAL, min_y = HUGE_VAL, max_x = -HUGE_VAL, max_y = -HUGE_VAL;
};

// out's strokes = in's points mapped by `affine`, times kept (raw drawings' stroke-order channels
// shade by them); `box` bounds the result.
absl::Status MapPoints(const Sketch& in, const Affine& affine, Sketch* out, Box* box) {
  out->strokes.resize(in.strokes.size());
  for (size_t s = 0; s < in.strokes.size(); ++s) {
    const Stroke& src = in.strokes[s];
    if (src.x.size() != src.y.size()) {
      return absl::InvalidArgumentError(absl::StrCat("stroke ", s, " has mismatched x and y"));
    }
    Stroke& dst = out->strokes[s];
    dst.x.resize(src.size());
    dst.y.resize(src.size());
    dst.t = src.t;
    for (size_t i = 0; i < src.size(); ++i) {
      const float x = affine.a * src.x[i] + affine.b * src.y[i];
      const float y = affine.c * src.x[i] + affine.d * src.y[i];
      dst.x[i] = x;
      dst.y[i] = y;
      box->min_x = std::min<double>(box->min_x, x);
      box->max_x = std::max<double>(box->max_x, x);
      box->min_y = std::min<double>(box->min_y, y);
      box->max_y = std::max<double>(box->max_y, y);
    }
  }
  return absl::OkStatus();
}

// Google's simplification frame: top-left aligned, longer side spanning 0..255, integers.
void RefitToSimplified(const Box& box, double extent, Sketch* sketch) {
  const double scale = extent > 0.0 ? kSimplifiedExtent / extent : 0.0;
  for (Stroke& stroke : sketch->strokes) {
    for (size_t i = 0; i < stroke.size(); ++i) {
      const double x = std::round((stroke.x[i] - box.min_x) * scale);
      const double y = std::round((stroke.y[i] - box.min_y) * scale);
      stroke.x[i] = static_cast<float>(std::clamp(x, 0.0, kSimplifiedExtent));
      stroke.y[i] = static_cast<float>(std::clamp(y, 0.0, kSimplifiedExtent));
    }
  }
}

void CopyMetadata(const Sketch& in, Sketch* out) {
  out->key_id = in.key_id;
  out->word = in.word;
  out->countrycode = in.countrycode;
  out->recognized = in.recognized;
  out->timestamp = in.timestamp;
  out->frame = in.frame;
}

// The bilinear sample of `pixels` (uint8 [n, n]) at (x, y) in pixel-centre coordinates; 0 beyond
// the edges.
float Bilinear(const std::vector<uint8_t>& pixels, int n, float x, float y) {
  const float fx = std::floor(x), fy = std::floor(y);
  const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
  const float wx = x - fx, wy = y - fy;
  const auto at = [&](int px, int py) -> float {
    return px < 0 || py < 0 || px >= n || py >= n ? 0.0f : pixels[py * n + px];
  };
  return (1 - wy) * ((1 - wx) * at(x0, y0) + wx * at(x0 + 1, y0)) +
         wy * ((1 - wx) * at(x0, y0 + 1) + wx * at(x0 + 1, y0 + 1));
}

absl::Status MapBitmap(const Sketch& in, const Affine& m, Sketch* out) {
  // The readers' rule for a bitmap (square, non-empty, pixel count matching): one check.
  RETURN_IF_ERROR(ValidateSketch(in));
  const int n = in.bitmap.size;
  const double det = static_cast<double>(m.a) * m.d - static_cast<double>(m.b) * m.c;
  if (!(std::abs(det) > 1e-6) || !std::isfinite(det)) {
    return absl::InvalidArgumentError("augmentation map is not invertible");
  }
  // The inverse map, applied to each output pixel's centre relative to the bitmap's centre.
  const float ia = static_cast<float>(m.d / det), ib = static_cast<float>(-m.b / det);
  const float ic = static_cast<float>(-m.c / det), id = static_cast<float>(m.a / det);
  CopyMetadata(in, out);
  out->strokes.clear();
  out->bitmap.size = n;
  out->bitmap.pixels.resize(in.bitmap.pixels.size());
  const float centre = 0.5f * static_cast<float>(n - 1);
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      const float dx = x - centre, dy = y - centre;
      const float value =
          Bilinear(in.bitmap.pixels, n, ia * dx + ib * dy + centre, ic * dx + id * dy + centre);
      out->bitmap.pixels[y * n + x] =
          static_cast<uint8_t>(std::clamp(std::lround(value), 0L, 255L));
    }
  }
  return absl::OkStatus();
}

}  // namespace

Affine RotationAffine(double degrees) {
  constexpr double kPi = 3.14159265358979323846;
  const double r = degrees * kPi / 180.0;
  const float c = static_cast<float>(std::cos(r)), s = static_cast<float>(std::sin(r));
  return Affine{c, -s, s, c};
}

absl::Status ApplyAffine(const Sketch& in, const Affine& affine, Sketch* out) {
  if (in.is_bitmap()) return MapBitmap(in, affine, out);
  CopyMetadata(in, out);
  out->frame = StrokeFrame::kSimplified;
  out->bitmap = Bitmap();
  Box box;
  if (auto status = MapPoints(in, affine, out, &box); !status.ok()) return status;
  const double extent = std::max(box.max_x - box.min_x, box.max_y - box.min_y);
  if (!std::isfinite(extent)) return absl::InvalidArgumentError("drawing has non-finite points");
  RefitToSimplified(box, extent, out);
  return absl::OkStatus();
}

}  // namespace sketch
