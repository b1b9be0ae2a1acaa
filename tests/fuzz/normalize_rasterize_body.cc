#include "tests/fuzz/normalize_rasterize_body.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/normalize.h"
#include "core/rasterizer.h"
#include "core/sketch.h"
#include "core/sketch_validation.h"

namespace sketch {
namespace {

// Property checks stay on in release builds (assert would vanish there).
#define SKETCH_FUZZ_CHECK(cond)                                                     \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

// Reads the input front to back; past the end it yields zeros, so every input is a sketch.
class ByteStream {
 public:
  ByteStream(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }

  // Mostly plausible coordinates, sometimes any float bit pattern (NaN, Inf, 3e38, denormals).
  float Coordinate() {
    const uint8_t tag = Byte();
    switch (tag >> 6) {
      case 0:
        return static_cast<float>(tag & 63) * 4.0f;
      case 1:
        return static_cast<float>(Byte());
      case 2: {
        uint32_t bits = 0;
        for (int i = 0; i < 4; ++i) bits = (bits << 8) | Byte();
        float value;
        std::memcpy(&value, &bits, sizeof(value));
        return value;
      }
      default:
        return static_cast<float>(static_cast<int16_t>((Byte() << 8) | Byte())) * 0.37f;
    }
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

Sketch MakeBitmapSketch(ByteStream* in) {
  Sketch sketch;
  sketch.bitmap.size = 1 + in->Byte() % 64;
  const size_t count = static_cast<size_t>(sketch.bitmap.size) * sketch.bitmap.size;
  const bool short_by_one = in->Byte() % 8 == 0;  // a malformed buffer now and then
  for (size_t i = 0; i + short_by_one < count; ++i) sketch.bitmap.pixels.push_back(in->Byte());
  return sketch;
}

Sketch MakeStrokeSketch(uint8_t flags, ByteStream* in) {
  Sketch sketch;
  sketch.frame = flags & 1 ? StrokeFrame::kRaw : StrokeFrame::kSimplified;
  const int strokes = in->Byte() % 16;
  for (int s = 0; s < strokes; ++s) {
    Stroke stroke;
    const uint8_t shape = in->Byte();
    const int points = shape % 64;
    for (int i = 0; i < points; ++i) {
      stroke.x.push_back(in->Coordinate());
      stroke.y.push_back(in->Coordinate());
      if (flags & 4) stroke.t.push_back(static_cast<float>(i * 17));
    }
    if (shape & 64 && !stroke.y.empty()) stroke.y.pop_back();  // x/y length mismatch
    sketch.strokes.push_back(std::move(stroke));
  }
  return sketch;
}

RasterOptions MakeOptions(ByteStream* in) {
  RasterOptions options;
  const uint8_t size_byte = in->Byte();
  // Mostly small (fast) images, sometimes the real size, sometimes an invalid one.
  options.size = size_byte == 255 ? 128 : size_byte == 254 ? 7 : 8 + size_byte % 57;
  const uint8_t extras = in->Byte();
  if (extras & 1) options.line_width = in->Coordinate();
  if (extras & 2) options.margin = in->Coordinate();
  if (extras & 4) options.channels = RasterChannels::kStrokeOrder;
  return options;
}

// Renders in both styles; whatever passed validation (with valid options) must render.
void RasterizeBoth(const Sketch& sketch, RasterOptions options, bool must_succeed) {
  std::vector<uint8_t> image;
  for (RasterStyle style : {RasterStyle::kDefault, RasterStyle::kSeed}) {
    options.style = style;
    const absl::Status status = Rasterize(sketch, options, &image);
    if (must_succeed) SKETCH_FUZZ_CHECK(status.ok());
    if (status.ok()) {
      SKETCH_FUZZ_CHECK(image.size() == static_cast<size_t>(options.size) * options.size *
                                             RasterChannelCount(options.channels));
    }
  }
}

}  // namespace

void FuzzNormalizeRasterize(const uint8_t* data, size_t size) {
  ByteStream in(data, size);
  const uint8_t flags = in.Byte();
  const RasterOptions options = MakeOptions(&in);
  const Sketch sketch = flags & 2 ? MakeBitmapSketch(&in) : MakeStrokeSketch(flags, &in);

  RasterOptions plain;  // default line width and margin: always valid
  plain.size = options.size;
  plain.channels = options.channels;
  const bool size_ok = options.size >= 8 && options.size <= 1024;
  const bool valid = ValidateSketch(sketch).ok();
  RasterizeBoth(sketch, options, /*must_succeed=*/false);
  RasterizeBoth(sketch, plain, /*must_succeed=*/valid && size_ok);
  if (!valid || sketch.is_bitmap()) return;

  const absl::StatusOr<Sketch> normalized = NormalizeToSimplified(sketch);
  SKETCH_FUZZ_CHECK(normalized.ok());
  SKETCH_FUZZ_CHECK(normalized->frame == StrokeFrame::kSimplified);
  SKETCH_FUZZ_CHECK(normalized->strokes.size() == sketch.strokes.size());
  SKETCH_FUZZ_CHECK(ValidateSketch(*normalized).ok());
  RasterizeBoth(*normalized, plain, /*must_succeed=*/size_ok);
}

}  // namespace sketch
