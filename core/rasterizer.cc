#include "core/rasterizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/strings/str_cat.h"
#include "core/sketch_validation.h"

namespace sketch {
namespace {

constexpr int kMinSize = 8;
constexpr int kMaxSize = 1024;

// kDefault, in fractions of the output size. Google's 28x28 bitmaps use a 16/304 line (6.7 px at
// 128), which fills small features in at 128; size/24 (5.3 px at 128) keeps strokes several
// pixels wide after the network's early downsampling while closed shapes stay open. The margin
// of size/16 (8 px at 128) leaves the line's half-width plus anti-aliasing inside the image.
constexpr float kDefaultLineWidthFraction = 1.0f / 24.0f;
constexpr float kDefaultMarginFraction = 1.0f / 16.0f;
// kSeed (the 2018 study): the longer side spans 200 of 256 canvas pixels, lines 1 canvas pixel
// wide, the canvas is twice the output size and box-filtered down.
constexpr double kSeedBoxFraction = 200.0 / 256.0;
constexpr float kSeedLineWidth = 1.0f;
constexpr int kSeedSupersample = 2;

// Maps drawing coordinates to canvas pixels: the bounding box's centre goes to the canvas centre.
struct Transform {
  double centre_x, centre_y;  // of the drawing's bounding box, in drawing units
  double scale;               // canvas pixels per drawing unit (0 for a one-point drawing)
  double canvas_centre;       // canvas pixels

  float MapX(float x) const { return static_cast<float>(canvas_centre + (x - centre_x) * scale); }
  float MapY(float y) const { return static_cast<float>(canvas_centre + (y - centre_y) * scale); }
};

// Fits the drawing's bounding box (longer side) into `box` pixels, centred in a `canvas` square.
// Doubles keep the extent finite for any finite float coordinates.
Transform FitTransform(const Sketch& sketch, double box, int canvas) {
  double min_x = HUGE_VAL, min_y = HUGE_VAL, max_x = -HUGE_VAL, max_y = -HUGE_VAL;
  for (const Stroke& stroke : sketch.strokes) {
    for (size_t i = 0; i < stroke.size(); ++i) {
      min_x = std::min(min_x, static_cast<double>(stroke.x[i]));
      max_x = std::max(max_x, static_cast<double>(stroke.x[i]));
      min_y = std::min(min_y, static_cast<double>(stroke.y[i]));
      max_y = std::max(max_y, static_cast<double>(stroke.y[i]));
    }
  }
  const double extent = std::max(max_x - min_x, max_y - min_y);
  Transform t;
  t.centre_x = 0.5 * (min_x + max_x);
  t.centre_y = 0.5 * (min_y + max_y);
  t.scale = extent > 0.0 ? box / extent : 0.0;
  t.canvas_centre = 0.5 * canvas;
  return t;
}

// One segment with round caps, in canvas pixels, and the distance at which its coverage ends.
struct Capsule {
  float x0, y0, dx, dy;
  float inv_len2;  // 0 for a zero-length segment: every pixel then measures from (x0, y0)
  float reach;     // width/2 + 0.5
  float level;     // full coverage's intensity, 0..1 (1: plain ink, the same bytes as unshaded)
};

// Coverage of pixel centre (fx, fy) (relative to the capsule's start), times the level, as 0..255.
inline uint8_t Coverage(const Capsule& c, float fx, float fy) {
  const float t = std::clamp((fx * c.dx + fy * c.dy) * c.inv_len2, 0.0f, 1.0f);
  const float ex = fx - t * c.dx, ey = fy - t * c.dy;
  const float coverage = std::clamp(c.reach - std::sqrt(ex * ex + ey * ey), 0.0f, 1.0f);
  return static_cast<uint8_t>(static_cast<int>(coverage * c.level * 255.0f + 0.5f));
}

// Max-blends columns col..col_hi of one row. The SSE2 path (always there on x86-64) does the
// scalar arithmetic four pixels at a time, in the same order (so the same bytes, barring FMA); the
// compiler cannot vectorize the scalar loop itself because std::sqrt may set errno.
void BlendRow(const Capsule& c, float fy, int col, int col_hi, uint8_t* out) {
#if defined(__SSE2__)
  const __m128 x0 = _mm_set1_ps(c.x0), dx = _mm_set1_ps(c.dx), dy = _mm_set1_ps(c.dy);
  const __m128 fy4 = _mm_set1_ps(fy), fydy = _mm_set1_ps(fy * c.dy);
  const __m128 inv = _mm_set1_ps(c.inv_len2), reach = _mm_set1_ps(c.reach);
  const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f), half = _mm_set1_ps(0.5f);
  const __m128 full = _mm_set1_ps(255.0f), level = _mm_set1_ps(c.level);
  for (; col + 3 <= col_hi; col += 4) {
    const __m128 centre =
        _mm_add_ps(_mm_cvtepi32_ps(_mm_setr_epi32(col, col + 1, col + 2, col + 3)), half);
    const __m128 fx = _mm_sub_ps(centre, x0);
    __m128 t = _mm_mul_ps(_mm_add_ps(_mm_mul_ps(fx, dx), fydy), inv);
    t = _mm_min_ps(_mm_max_ps(t, zero), one);
    const __m128 ex = _mm_sub_ps(fx, _mm_mul_ps(t, dx));
    const __m128 ey = _mm_sub_ps(fy4, _mm_mul_ps(t, dy));
    const __m128 d = _mm_sqrt_ps(_mm_add_ps(_mm_mul_ps(ex, ex), _mm_mul_ps(ey, ey)));
    const __m128 coverage = _mm_min_ps(_mm_max_ps(_mm_sub_ps(reach, d), zero), one);
    const __m128i value =
        _mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(_mm_mul_ps(coverage, level), full), half));
    const __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(value, value), value);
    int32_t old;
    std::memcpy(&old, out + col, 4);
    const int32_t blended = _mm_cvtsi128_si32(_mm_max_epu8(bytes, _mm_cvtsi32_si128(old)));
    std::memcpy(out + col, &blended, 4);
  }
#endif
  for (; col <= col_hi; ++col) {
    out[col] = std::max(out[col], Coverage(c, static_cast<float>(col) + 0.5f - c.x0, fy));
  }
}

// Max-blends one anti-aliased capsule into an n x n canvas: a pixel's coverage is
// clamp(width/2 + 0.5 - distance, 0, 1), distance from its centre to the segment. Max (not sum)
// blending keeps joins and overlapping strokes from darkening, and round caps make joins for
// free. Only pixels near the segment are visited: per row, the span of the segment's part within
// `reach` rows, widened by `reach`.
void DrawSegment(float x0, float y0, float x1, float y1, float width, float level, int n,
                 uint8_t* pixels) {
  Capsule c{x0, y0, x1 - x0, y1 - y0, 0.0f, 0.5f * width + 0.5f, level};
  const float len2 = c.dx * c.dx + c.dy * c.dy;
  if (len2 > 0.0f) c.inv_len2 = 1.0f / len2;
  const int row_lo = std::max(0, static_cast<int>(std::floor(std::min(y0, y1) - c.reach)));
  const int row_hi = std::min(n - 1, static_cast<int>(std::ceil(std::max(y0, y1) + c.reach)));
  for (int row = row_lo; row <= row_hi; ++row) {
    const float fy = static_cast<float>(row) + 0.5f - y0;
    float t_lo = 0.0f, t_hi = 1.0f;
    if (std::fabs(c.dy) > 1e-6f) {
      const float ta = (fy - c.reach) / c.dy, tb = (fy + c.reach) / c.dy;
      t_lo = std::max(0.0f, std::min(ta, tb));
      t_hi = std::min(1.0f, std::max(ta, tb));
      if (t_lo > t_hi) continue;
    }
    const float xa = x0 + t_lo * c.dx, xb = x0 + t_hi * c.dx;
    const int col_lo = std::max(0, static_cast<int>(std::floor(std::min(xa, xb) - c.reach)));
    const int col_hi = std::min(n - 1, static_cast<int>(std::ceil(std::max(xa, xb) + c.reach)));
    BlendRow(c, fy, col_lo, col_hi, pixels + static_cast<size_t>(row) * n);
  }
}

// kStrokeOrder's shading: intensity 1 at fraction 0 of the order down to 1/4 at fraction 1, so
// the last stroke stays well above the background after anti-aliasing.
constexpr float kLastShadeLevel = 0.25f;
float ShadeLevel(double fraction) {
  if (!(fraction > 0.0)) return 1.0f;  // NaN included
  return static_cast<float>(1.0 - (1.0 - kLastShadeLevel) * std::min(fraction, 1.0));
}

// Where along the drawing each point lies, 0..1: by time when every stroke carries finite times
// (raw data) spanning more than an instant, else by point count.
class Progress {
 public:
  explicit Progress(const Sketch& sketch) {
    by_time_ = true;
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    for (const Stroke& stroke : sketch.strokes) {
      if (stroke.t.size() != stroke.size()) by_time_ = false;
      for (float t : stroke.t) {
        if (!std::isfinite(t)) by_time_ = false;
        lo = std::min(lo, static_cast<double>(t));
        hi = std::max(hi, static_cast<double>(t));
      }
    }
    by_time_ = by_time_ && std::isfinite(lo) && std::isfinite(hi) && hi > lo;
    start_ = lo;
    span_ = by_time_ ? hi - lo : static_cast<double>(sketch.num_points()) - 1.0;
  }
  // Point `i` of `stroke`, `before` points before it in the drawing.
  double At(const Stroke& stroke, size_t i, size_t before) const {
    if (span_ <= 0.0) return 0.0;
    return by_time_ ? (stroke.t[i] - start_) / span_ : static_cast<double>(before + i) / span_;
  }

 private:
  bool by_time_;
  double start_, span_;
};

// Draws every stroke's segments into plane 0 (the ink) and, for kStrokeOrder, planes 1 (shaded
// by stroke order) and 2 (shaded by progress) of an n x n x channels canvas. A one-point stroke
// is a zero-length segment: a round dot one line width across.
void DrawStrokes(const Sketch& sketch, const Transform& transform, float width, int n,
                 RasterChannels channels, uint8_t* pixels) {
  const bool shaded = channels == RasterChannels::kStrokeOrder;
  const size_t plane = static_cast<size_t>(n) * n;
  const Progress progress(sketch);
  const double last_stroke = static_cast<double>(sketch.strokes.size()) - 1.0;
  size_t before = 0;  // points in the strokes drawn so far
  for (size_t s = 0; s < sketch.strokes.size(); ++s) {
    const Stroke& stroke = sketch.strokes[s];
    const float order_level = ShadeLevel(last_stroke > 0.0 ? s / last_stroke : 0.0);
    auto segment = [&](float x0, float y0, float x1, float y1, size_t start_point) {
      DrawSegment(x0, y0, x1, y1, width, 1.0f, n, pixels);
      if (!shaded) return;
      DrawSegment(x0, y0, x1, y1, width, order_level, n, pixels + plane);
      DrawSegment(x0, y0, x1, y1, width, ShadeLevel(progress.At(stroke, start_point, before)), n,
                  pixels + 2 * plane);
    };
    float px = transform.MapX(stroke.x[0]), py = transform.MapY(stroke.y[0]);
    if (stroke.size() == 1) segment(px, py, px, py, 0);
    for (size_t i = 1; i < stroke.size(); ++i) {
      const float qx = transform.MapX(stroke.x[i]), qy = transform.MapY(stroke.y[i]);
      segment(px, py, qx, qy, i - 1);
      px = qx;
      py = qy;
    }
    before += stroke.size();
  }
}

// Box-filters a (2n x 2n) canvas at `in` to n x n at `out`, which may be `in` itself or any
// address before it: output (r, c) is written at out + r*n + c, at or before every input byte
// still to be read (at in + 4rn + 2c or later), so one buffer serves both.
void Downscale2x(int n, const uint8_t* in, uint8_t* out_plane) {
  const int m = 2 * n;
  for (int r = 0; r < n; ++r) {
    const uint8_t* top = in + static_cast<size_t>(2 * r) * m;
    const uint8_t* bottom = top + m;
    uint8_t* out = out_plane + static_cast<size_t>(r) * n;
    for (int c = 0; c < n; ++c) {
      const int sum = top[2 * c] + top[2 * c + 1] + bottom[2 * c] + bottom[2 * c + 1];
      out[c] = static_cast<uint8_t>((sum + 2) / 4);
    }
  }
}

// Shape checks only (any frame and any finite coordinates are drawable).
absl::Status CheckStrokes(const Sketch& sketch) {
  if (sketch.strokes.empty()) return absl::InvalidArgumentError("drawing has no strokes");
  for (size_t s = 0; s < sketch.strokes.size(); ++s) {
    const Stroke& stroke = sketch.strokes[s];
    if (stroke.x.size() != stroke.y.size()) {
      return absl::InvalidArgumentError(absl::StrCat("stroke ", s, " has ", stroke.x.size(),
                                                     " x but ", stroke.y.size(), " y values"));
    }
    if (stroke.x.empty())
      return absl::InvalidArgumentError(absl::StrCat("stroke ", s, " is empty"));
    for (size_t i = 0; i < stroke.size(); ++i) {
      if (!std::isfinite(stroke.x[i]) || !std::isfinite(stroke.y[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("stroke ", s, " point ", i, " is not finite"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOptions(const RasterOptions& options) {
  if (options.size < kMinSize || options.size > kMaxSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("raster size must be in ", kMinSize, "..", kMaxSize, ", got ", options.size));
  }
  if (options.style != RasterStyle::kDefault) return absl::OkStatus();
  if (std::isnan(options.line_width) ||
      (options.line_width >= 0.0f &&
       !(options.line_width > 0.0f && options.line_width <= static_cast<float>(options.size)))) {
    return absl::InvalidArgumentError(
        absl::StrCat("line_width must be in (0, size] or negative, got ", options.line_width));
  }
  if (std::isnan(options.margin) || options.margin >= 0.5f * static_cast<float>(options.size)) {
    return absl::InvalidArgumentError(
        absl::StrCat("margin must be below size/2 or negative, got ", options.margin));
  }
  return absl::OkStatus();
}

// Source pixels covering output pixel `i` of `n` along an axis of `src` pixels when shrinking:
// the interval [i*src/n, (i+1)*src/n), each source pixel weighted by its overlap.
template <typename Fn>
void ForAreaWeights(int i, int src, int n, Fn&& fn) {
  const double lo = static_cast<double>(i) * src / n, hi = static_cast<double>(i + 1) * src / n;
  const double norm = static_cast<double>(n) / src;
  for (int k = static_cast<int>(lo); k < src && k < hi; ++k) {
    fn(k, (std::min<double>(k + 1, hi) - std::max<double>(k, lo)) * norm);
  }
}

// Bilinear when enlarging (pixel centres aligned, edges clamped), area averaging when shrinking
// (bilinear would alias: it skips source pixels). Both are separable.
template <typename Fn>
void ForResizeWeights(int i, int src, int n, Fn&& fn) {
  if (n < src) return ForAreaWeights(i, src, n, fn);
  const double s = std::clamp((i + 0.5) * src / n - 0.5, 0.0, static_cast<double>(src - 1));
  const int k0 = static_cast<int>(s);
  const int k1 = std::min(k0 + 1, src - 1);
  const double frac = s - k0;
  fn(k0, 1.0 - frac);
  if (k1 != k0) fn(k1, frac);
}

void ResizeBitmap(const Bitmap& bitmap, int n, uint8_t* out) {
  const int src = bitmap.size;
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) {
      double value = 0.0;
      ForResizeWeights(r, src, n, [&](int sr, double wr) {
        const uint8_t* row = bitmap.pixels.data() + static_cast<size_t>(sr) * src;
        ForResizeWeights(c, src, n, [&](int sc, double wc) { value += wr * wc * row[sc]; });
      });
      out[static_cast<size_t>(r) * n + c] =
          static_cast<uint8_t>(std::clamp(std::floor(value + 0.5), 0.0, 255.0));
    }
  }
}

absl::Status RasterizeBitmap(const Sketch& sketch, int n, RasterChannels channels,
                             std::vector<uint8_t>* image) {
  // A bitmap's whole check is O(1) (a square, non-empty buffer), so the rasterizer applies the
  // readers' own rule rather than a copy of it.
  if (auto status = ValidateSketch(sketch); !status.ok()) return status;
  const Bitmap& bitmap = sketch.bitmap;
  const size_t plane = static_cast<size_t>(n) * n;
  image->resize(plane * RasterChannelCount(channels));
  ResizeBitmap(bitmap, n, image->data());
  for (int p = 1; p < RasterChannelCount(channels); ++p) {
    std::copy_n(image->data(), plane, image->data() + p * plane);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RasterStyle> ParseRasterStyle(const std::string& name) {
  if (name == "default") return RasterStyle::kDefault;
  if (name == "seed") return RasterStyle::kSeed;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown raster style '", name, "' (expected default or seed)"));
}

const char* RasterStyleName(RasterStyle style) {
  switch (style) {
    case RasterStyle::kDefault:
      return "default";
    case RasterStyle::kSeed:
      return "seed";
  }
  return "unknown";
}

absl::StatusOr<RasterChannels> ParseRasterChannels(const std::string& name) {
  if (name == "ink") return RasterChannels::kInk;
  if (name == "order") return RasterChannels::kStrokeOrder;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown raster channels '", name, "' (expected ink or order)"));
}

const char* RasterChannelsName(RasterChannels channels) {
  switch (channels) {
    case RasterChannels::kInk:
      return "ink";
    case RasterChannels::kStrokeOrder:
      return "order";
  }
  return "unknown";
}

int RasterChannelCount(RasterChannels channels) {
  return channels == RasterChannels::kStrokeOrder ? 3 : 1;
}

absl::Status Rasterize(const Sketch& sketch, const RasterOptions& options,
                       std::vector<uint8_t>* image) {
  if (auto status = CheckOptions(options); !status.ok()) return status;
  const int n = options.size;
  const int planes = RasterChannelCount(options.channels);
  if (sketch.is_bitmap()) return RasterizeBitmap(sketch, n, options.channels, image);
  if (auto status = CheckStrokes(sketch); !status.ok()) return status;

  const size_t plane = static_cast<size_t>(n) * n;
  if (options.style == RasterStyle::kSeed) {
    const int canvas = kSeedSupersample * n;
    const size_t canvas_plane = static_cast<size_t>(canvas) * canvas;
    image->assign(canvas_plane * planes, 0);
    const Transform transform = FitTransform(sketch, kSeedBoxFraction * canvas, canvas);
    DrawStrokes(sketch, transform, kSeedLineWidth, canvas, options.channels, image->data());
    // In place, plane by plane: plane p's output starts at p*n*n, before its input at 4*p*n*n.
    for (int p = 0; p < planes; ++p) {
      Downscale2x(n, image->data() + p * canvas_plane, image->data() + p * plane);
    }
    image->resize(plane * planes);
    return absl::OkStatus();
  }
  const float width =
      options.line_width >= 0.0f ? options.line_width : kDefaultLineWidthFraction * n;
  const float margin = options.margin >= 0.0f ? options.margin : kDefaultMarginFraction * n;
  image->assign(plane * planes, 0);
  const Transform transform = FitTransform(sketch, n - 2.0 * margin, n);
  DrawStrokes(sketch, transform, width, n, options.channels, image->data());
  return absl::OkStatus();
}

}  // namespace sketch
