// A Sketch as read from a Quick, Draw! file, turned into the Drawing message the service takes
// (see the field-by-field mapping at the top of sketch_search.proto).
#ifndef SKETCH_CLIENT_DRAWING_CONVERT_H_
#define SKETCH_CLIENT_DRAWING_CONVERT_H_

#include "core/sketch.h"
#include "sketchsearch/v1/sketch_search.pb.h"

namespace sketch {

// Strokes keep their frame (simplified or raw, with times); a bitmap becomes Drawing.bitmap;
// key_id and word travel along. No validation: the server checks. Thread-safe.
sketchsearch::v1::Drawing SketchToDrawing(const Sketch& sketch);

}  // namespace sketch

#endif  // SKETCH_CLIENT_DRAWING_CONVERT_H_
