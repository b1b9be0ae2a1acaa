#include "core/normalize.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sketch {
namespace {

// Real raw drawings resample to at most ~36k points at 1 px spacing (measured over 9196 drawings
// of 329 classes). These caps only bite on hostile input: the spacing grows so that the work stays
// bounded and the output always meets the default SketchLimits (65535 points per stroke,
// 200000 in all: at most 2^17 resampled points plus 2 per stroke, and 1024 strokes).
constexpr double kMaxResampledPointsTotal = 1 << 17;
constexpr double kMaxResampledPointsPerStroke = 65000;
// RDP splits real strokes nearly in halves (depth ~log2 n); an adversarial polyline could make it
// quadratic. Past this depth a span keeps all its points, which bounds the work by depth * n.
constexpr int kMaxRdpDepth = 128;

struct Bounds {
  double min_x, min_y, max_x, max_y;
};

Bounds ComputeBounds(const Sketch& sketch) {
  Bounds b{HUGE_VAL, HUGE_VAL, -HUGE_VAL, -HUGE_VAL};
  for (const Stroke& stroke : sketch.strokes) {
    for (size_t i = 0; i < stroke.size(); ++i) {
      b.min_x = std::min(b.min_x, static_cast<double>(stroke.x[i]));
      b.max_x = std::max(b.max_x, static_cast<double>(stroke.x[i]));
      b.min_y = std::min(b.min_y, static_cast<double>(stroke.y[i]));
      b.max_y = std::max(b.max_y, static_cast<double>(stroke.y[i]));
    }
  }
  return b;
}

double PolylineLength(const std::vector<double>& x, const std::vector<double>& y) {
  double length = 0.0;
  for (size_t i = 1; i < x.size(); ++i) length += std::hypot(x[i] - x[i - 1], y[i] - y[i - 1]);
  return length;
}

// Points every `spacing` along the polyline, measured along its length (not per segment): the
// original vertices themselves are dropped, which is what makes Google's RDP output differ from
// RDP on the raw vertices. The last point is always kept, and a one-point or zero-length stroke
// becomes two equal points, as in the official simplified data.
void Resample(const std::vector<double>& x, const std::vector<double>& y, double spacing,
              std::vector<double>* out_x, std::vector<double>* out_y) {
  out_x->assign(1, x[0]);
  out_y->assign(1, y[0]);
  double carry = 0.0;  // distance from the last emitted point to the current vertex
  for (size_t i = 1; i < x.size(); ++i) {
    const double dx = x[i] - x[i - 1], dy = y[i] - y[i - 1];
    const double length = std::hypot(dx, dy);
    if (length == 0.0) continue;
    double pos = spacing - carry;
    for (; pos <= length; pos += spacing) {
      const double t = pos / length;
      out_x->push_back(x[i - 1] + t * dx);
      out_y->push_back(y[i - 1] + t * dy);
    }
    carry = length - (pos - spacing);
  }
  if (out_x->size() < 2 || out_x->back() != x.back() || out_y->back() != y.back()) {
    out_x->push_back(x.back());
    out_y->push_back(y.back());
  }
}

// Index and distance of the point in (a, b) farthest from the line through a and b (from a when
// a == b, which closed strokes hit). The first of equal maxima wins.
std::pair<size_t, double> Farthest(const double* x, const double* y, size_t a, size_t b) {
  const double dx = x[b] - x[a], dy = y[b] - y[a];
  const double length = std::hypot(dx, dy);
  const double c = x[b] * y[a] - y[b] * x[a];
  size_t best = a;
  double best_d = -1.0;
  for (size_t i = a + 1; i < b; ++i) {
    const double d = length == 0.0 ? std::hypot(x[i] - x[a], y[i] - y[a])
                                   : std::fabs(dy * x[i] - dx * y[i] + c) / length;
    if (d > best_d) {
      best_d = d;
      best = i;
    }
  }
  return {best, best_d};
}

// Marks in `keep` the points RDP keeps; iterative so that deep splits cannot overflow the stack.
void RdpKeep(const double* x, const double* y, size_t n, double epsilon, std::vector<char>* keep) {
  keep->assign(n, 0);
  if (n == 0) return;
  (*keep)[0] = (*keep)[n - 1] = 1;
  struct Span {
    size_t a, b;
    int depth;
  };
  std::vector<Span> stack;
  if (n > 2) stack.push_back({0, n - 1, 0});
  while (!stack.empty()) {
    const Span span = stack.back();
    stack.pop_back();
    if (span.depth >= kMaxRdpDepth) {
      std::fill(keep->begin() + span.a, keep->begin() + span.b, 1);
      continue;
    }
    const auto [index, distance] = Farthest(x, y, span.a, span.b);
    if (distance <= epsilon) continue;
    (*keep)[index] = 1;
    if (index - span.a > 1) stack.push_back({span.a, index, span.depth + 1});
    if (span.b - index > 1) stack.push_back({index, span.b, span.depth + 1});
  }
}

// The shape rules the arithmetic below relies on (the caller's ValidateSketch covers the rest).
absl::Status CheckStrokes(const Sketch& sketch) {
  if (sketch.strokes.empty()) return absl::InvalidArgumentError("drawing has no strokes");
  for (size_t s = 0; s < sketch.strokes.size(); ++s) {
    const Stroke& stroke = sketch.strokes[s];
    if (stroke.x.empty() || stroke.x.size() != stroke.y.size()) {
      return absl::InvalidArgumentError(absl::StrCat("stroke ", s, " has ", stroke.x.size(),
                                                     " x and ", stroke.y.size(), " y values"));
    }
    for (size_t i = 0; i < stroke.size(); ++i) {
      if (!std::isfinite(stroke.x[i]) || !std::isfinite(stroke.y[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("stroke ", s, " point ", i, " is not finite"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOptions(const NormalizeOptions& options) {
  if (!(options.target_extent > 0.0f && options.target_extent <= 255.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("target_extent must be in (0, 255], got ", options.target_extent));
  }
  if (!(options.resample_spacing > 0.0f && std::isfinite(options.resample_spacing))) {
    return absl::InvalidArgumentError(
        absl::StrCat("resample_spacing must be positive, got ", options.resample_spacing));
  }
  if (!(options.rdp_epsilon >= 0.0f && std::isfinite(options.rdp_epsilon))) {
    return absl::InvalidArgumentError(
        absl::StrCat("rdp_epsilon must be >= 0, got ", options.rdp_epsilon));
  }
  return absl::OkStatus();
}

// Buffers for one call; the resampled stroke and the RDP flags are reused from stroke to stroke.
struct Scratch {
  std::vector<std::vector<double>> xs, ys;  // per stroke, in the target frame
  std::vector<double> rx, ry;               // resampled stroke
  std::vector<char> keep;
};

// Aligns to the top-left and scales uniformly so the longer side spans 0..target_extent.
// Divides before multiplying, as Google did (it matches their rounding more often).
// Returns the total polyline length in the target frame.
double MapToTargetFrame(const Sketch& sketch, double target_extent, Scratch* scratch) {
  const Bounds b = ComputeBounds(sketch);
  const double extent = std::max(b.max_x - b.min_x, b.max_y - b.min_y);
  // A zero-size drawing maps to the origin; the divisor 1 is arbitrary (TF tutorial's guard).
  const double divisor = extent > 0.0 ? extent : 1.0;
  const size_t n = sketch.strokes.size();
  scratch->xs.resize(n);
  scratch->ys.resize(n);
  double total_length = 0.0;
  for (size_t s = 0; s < n; ++s) {
    const Stroke& stroke = sketch.strokes[s];
    std::vector<double>& x = scratch->xs[s];
    std::vector<double>& y = scratch->ys[s];
    x.resize(stroke.size());
    y.resize(stroke.size());
    for (size_t i = 0; i < stroke.size(); ++i) {
      x[i] = (stroke.x[i] - b.min_x) / divisor * target_extent;
      y[i] = (stroke.y[i] - b.min_y) / divisor * target_extent;
    }
    total_length += PolylineLength(x, y);
  }
  return total_length;
}

// Resamples, simplifies and rounds one stroke (in the target frame) into `out`.
void SimplifyStroke(const std::vector<double>& x, const std::vector<double>& y, double spacing,
                    const NormalizeOptions& options, Scratch* scratch, Stroke* out) {
  const double length = PolylineLength(x, y);
  spacing = std::max(spacing, length / kMaxResampledPointsPerStroke);
  Resample(x, y, spacing, &scratch->rx, &scratch->ry);
  const size_t n = scratch->rx.size();
  RdpKeep(scratch->rx.data(), scratch->ry.data(), n, options.rdp_epsilon, &scratch->keep);
  out->x.clear();
  out->y.clear();
  out->t.clear();
  const double hi = options.target_extent;
  for (size_t i = 0; i < n; ++i) {
    if (!scratch->keep[i]) continue;
    // Round half to even: it reproduces Google's output more often than half away from zero
    // (7093 vs 6861 of 7503 drawings exactly, in a double-precision prototype), a hint that
    // they used numpy/Python rounding.
    out->x.push_back(static_cast<float>(std::clamp(std::nearbyint(scratch->rx[i]), 0.0, hi)));
    out->y.push_back(static_cast<float>(std::clamp(std::nearbyint(scratch->ry[i]), 0.0, hi)));
  }
}

}  // namespace

absl::StatusOr<Sketch> NormalizeToSimplified(const Sketch& sketch,
                                             const NormalizeOptions& options) {
  if (sketch.is_bitmap()) {
    return absl::InvalidArgumentError("a bitmap sketch has no strokes to normalize");
  }
  if (auto status = CheckOptions(options); !status.ok()) return status;
  if (sketch.frame == StrokeFrame::kSimplified) return sketch;
  if (auto status = CheckStrokes(sketch); !status.ok()) return status;

  Scratch scratch;
  const double total_length = MapToTargetFrame(sketch, options.target_extent, &scratch);
  const double spacing =
      std::max<double>(options.resample_spacing, total_length / kMaxResampledPointsTotal);
  Sketch out = sketch;
  out.frame = StrokeFrame::kSimplified;
  for (size_t s = 0; s < sketch.strokes.size(); ++s) {
    SimplifyStroke(scratch.xs[s], scratch.ys[s], spacing, options, &scratch, &out.strokes[s]);
  }
  return out;
}

void SimplifyPolyline(const std::vector<float>& x, const std::vector<float>& y, float epsilon,
                      std::vector<float>* out_x, std::vector<float>* out_y) {
  const size_t n = std::min(x.size(), y.size());
  const std::vector<double> dx(x.begin(), x.begin() + n), dy(y.begin(), y.begin() + n);
  std::vector<char> keep;
  RdpKeep(dx.data(), dy.data(), n, epsilon, &keep);
  out_x->clear();
  out_y->clear();
  for (size_t i = 0; i < n; ++i) {
    if (!keep[i]) continue;
    out_x->push_back(x[i]);
    out_y->push_back(y[i]);
  }
}

}  // namespace sketch
