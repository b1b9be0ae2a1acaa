// The sketchsearch.v1 Drawing message and the Sketch record, both ways, as plain copies (the
// field-by-field mapping at the top of sketch_search.proto). The one copy of that mapping: the
// client turns what it read from a Quick, Draw! file into a request's Drawing, the server turns a
// stored drawing into a SearchHit.drawing, and the client turns that back into a Sketch to show.
// Needs only core and the messages (sketch::proto_drawing), so both sides link it without either
// linking the other.
#ifndef SKETCH_PROTO_DRAWING_CONVERT_H_
#define SKETCH_PROTO_DRAWING_CONVERT_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/sketch.h"
#include "sketchsearch/v1/sketch_search.pb.h"

namespace sketch {

// Strokes keep their frame (simplified or raw, with times); a bitmap becomes Drawing.bitmap;
// key_id and word travel along. No validation: a server checks what it receives
// (DrawingToSketch in server/proto_convert.h). Thread-safe.
sketchsearch::v1::Drawing SketchToDrawing(const Sketch& sketch);

// The reverse, for display: strokes in their frame (FRAME_RAW: raw, anything else simplified),
// or the bitmap's pixels. Only the shape is checked (the rasterizer checks coordinates):
// InvalidArgument naming `field` for a drawing with neither ink nor bitmap, a stroke whose x
// and y differ in length, or a bitmap whose pixels are not size^2 bytes. The server's own
// conversion (server/proto_convert.h) also validates and normalizes for the model; a client has
// no model to feed. Thread-safe.
absl::StatusOr<Sketch> SketchFromDrawing(const sketchsearch::v1::Drawing& drawing,
                                         absl::string_view field);

}  // namespace sketch

#endif  // SKETCH_PROTO_DRAWING_CONVERT_H_
