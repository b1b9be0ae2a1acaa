#include "client/drawing_convert.h"

namespace sketch {

sketchsearch::v1::Drawing SketchToDrawing(const Sketch& sketch) {
  namespace v1 = ::sketchsearch::v1;
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

}  // namespace sketch
