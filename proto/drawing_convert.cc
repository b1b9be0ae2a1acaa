#include "proto/drawing_convert.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sketch {

namespace v1 = ::sketchsearch::v1;

v1::Drawing SketchToDrawing(const Sketch& sketch) {
  v1::Drawing drawing;
  drawing.set_key_id(sketch.key_id);
  drawing.set_word(sketch.word);
  if (sketch.is_bitmap()) {
    v1::Bitmap* bitmap = drawing.mutable_bitmap();
    bitmap->set_size(sketch.bitmap.size);
    bitmap->set_pixels(sketch.bitmap.pixels.data(), sketch.bitmap.pixels.size());
    return drawing;
  }
  v1::Ink* ink = drawing.mutable_ink();
  ink->set_frame(sketch.frame == StrokeFrame::kRaw ? v1::FRAME_RAW : v1::FRAME_SIMPLIFIED);
  for (const Stroke& stroke : sketch.strokes) {
    v1::Stroke* out = ink->add_strokes();
    out->mutable_x()->Add(stroke.x.begin(), stroke.x.end());
    out->mutable_y()->Add(stroke.y.begin(), stroke.y.end());
    out->mutable_t()->Add(stroke.t.begin(), stroke.t.end());
  }
  return drawing;
}

absl::StatusOr<Sketch> SketchFromDrawing(const v1::Drawing& drawing, absl::string_view field) {
  Sketch sketch;
  sketch.key_id = drawing.key_id();
  sketch.word = drawing.word();
  if (drawing.has_bitmap()) {
    const v1::Bitmap& bitmap = drawing.bitmap();
    const int64_t size = bitmap.size();
    if (size <= 0 || static_cast<int64_t>(bitmap.pixels().size()) != size * size) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".bitmap: ", bitmap.pixels().size(), " pixels for size ", size));
    }
    sketch.bitmap.size = static_cast<int>(size);
    sketch.bitmap.pixels.assign(bitmap.pixels().begin(), bitmap.pixels().end());
    return sketch;
  }
  if (!drawing.has_ink()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": neither ink nor bitmap"));
  }
  sketch.frame =
      drawing.ink().frame() == v1::FRAME_RAW ? StrokeFrame::kRaw : StrokeFrame::kSimplified;
  for (int s = 0; s < drawing.ink().strokes_size(); ++s) {
    const v1::Stroke& in = drawing.ink().strokes(s);
    if (in.x_size() != in.y_size()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".ink.strokes[", s, "]: ", in.x_size(),
                                                     " x but ", in.y_size(), " y"));
    }
    Stroke stroke;
    stroke.x.assign(in.x().begin(), in.x().end());
    stroke.y.assign(in.y().begin(), in.y().end());
    if (in.t_size() == in.x_size()) stroke.t.assign(in.t().begin(), in.t().end());
    sketch.strokes.push_back(std::move(stroke));
  }
  return sketch;
}

}  // namespace sketch
