// A Sketch as read from a Quick, Draw! file, turned into the Drawing message the service takes
// (see the field-by-field mapping at the top of sketch_search.proto), and a Drawing the service
// sends back (SearchHit.drawing) turned into a Sketch to show.
#ifndef SKETCH_CLIENT_DRAWING_CONVERT_H_
#define SKETCH_CLIENT_DRAWING_CONVERT_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/sketch.h"
#include "sketchsearch/v1/sketch_search.pb.h"

namespace sketch {

// Strokes keep their frame (simplified or raw, with times); a bitmap becomes Drawing.bitmap;
// key_id and word travel along. No validation: the server checks. Thread-safe.
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

#endif  // SKETCH_CLIENT_DRAWING_CONVERT_H_
