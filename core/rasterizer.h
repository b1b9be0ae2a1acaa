// Renders strokes (or resizes a bitmap) to an N x N anti-aliased grayscale image, the network's
// input: one channel of ink, or three with the stroke order and drawing progress shaded in.
#ifndef SKETCH_CORE_RASTERIZER_H_
#define SKETCH_CORE_RASTERIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/sketch.h"

namespace sketch {

enum class RasterStyle {
  // Strokes stay visible at 128: a line size/24 wide (5.3 px at 128) in a margin of size/16
  // (8 px), round caps and joins. Google's own 28x28 bitmaps use a relatively thicker line
  // (16/304 of the size, 6.7 px at 128), which fills small features in at this size.
  kDefault,
  // The 2018 study's: bounding box scaled so its longer side is 200/256 of a canvas twice the
  // output size (256 for 128), 1-canvas-pixel anti-aliased lines, 2x2 box filter down to size.
  kSeed,
};

// "default" or "seed".
absl::StatusOr<RasterStyle> ParseRasterStyle(const std::string& name);
const char* RasterStyleName(RasterStyle style);

// What the image's channels hold; a network's first conv takes RasterChannelCount of them.
enum class RasterChannels {
  kInk,  // 1 channel: the ink (coverage 0..255)
  // 3 channels, planar: [0] the ink as kInk draws it; [1] the ink shaded by stroke order, the
  // first stroke at full intensity fading linearly to 1/4 for the last; [2] the ink shaded by
  // drawing progress, each segment by the fraction of the drawing done at its start (by time
  // for raw strokes that carry times, else by point count), full at the start to 1/4 at the end.
  // Where strokes overlap the brighter (earlier) one wins. This is the stroke order and timing
  // the 2018 Kaggle Quick, Draw! winners fed their CNNs. A bitmap has no order: all three
  // channels hold its pixels.
  kStrokeOrder,
};

// "ink" or "order".
absl::StatusOr<RasterChannels> ParseRasterChannels(const std::string& name);
const char* RasterChannelsName(RasterChannels channels);
int RasterChannelCount(RasterChannels channels);  // 1 or 3

struct RasterOptions {
  int size = 128;
  RasterStyle style = RasterStyle::kDefault;
  // kDefault only; in output pixels. Negative means "proportional to size" (the default).
  float line_width = -1.0f;
  float margin = -1.0f;
  RasterChannels channels = RasterChannels::kInk;
};

// Renders into `image` (uint8 [channels, size, size], planar, row-major, 0 = background, 255 =
// ink), reusing its storage (no allocation once it has grown to channels * (2 * size)^2). The
// drawing's bounding box is scaled uniformly to fit inside the margin and centred. Coverage is
// clamp(width/2 + 0.5 - distance, 0, 1) per pixel centre, max-blended. Any frame and any finite
// coordinates are accepted (raw ones included); degenerate drawings (one point, all points equal,
// zero-length segments) render a centred dot. Bitmap sketches are resized to size x size: bilinear
// when enlarging, area average when shrinking. InvalidArgument for a size outside 8..1024, a
// kDefault line_width outside (0, size] or margin of size/2 or more (negative picks the default),
// no strokes, an empty stroke, mismatched x/y, non-finite coordinates, or a bitmap whose pixel
// count is not size^2. Thread-safe.
absl::Status Rasterize(const Sketch& sketch, const RasterOptions& options,
                       std::vector<uint8_t>* image);

}  // namespace sketch

#endif  // SKETCH_CORE_RASTERIZER_H_
