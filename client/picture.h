// A picture to show: one drawing of a search (the query or a hit), or why it has none, with the
// few short lines printed under it. The terminal grid (client/text_grid.h) and the PNG contact
// sheet (client/contact_sheet.h) both show these.
#ifndef SKETCH_CLIENT_PICTURE_H_
#define SKETCH_CLIENT_PICTURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/input_selection.h"
#include "core/sketch.h"
#include "sketchsearch/v1/sketch_search.pb.h"

namespace sketch {

struct Picture {
  absl::StatusOr<Sketch> drawing;    // an error: its message is shown instead of the drawing
  std::vector<std::string> caption;  // short lines, shown under it (cut to the picture's width)
  bool is_query = false;             // framed apart from the hits
};

// The query, then each hit in rank order. Captions: the query's "query", its word and key_id;
// a hit's "<rank>. <word>", its key_id and "d <distance>" (16-digit key_ids fit the terminal
// grid's pictures). A hit that came without its
// drawing gets NotFound saying so (the server's bundle stores no drawings, or the request did
// not ask); a malformed one, SketchFromDrawing's InvalidArgument. Thread-safe.
std::vector<Picture> SearchPictures(const InputRecord& query,
                                    const sketchsearch::v1::SearchResponse& response);

// Draws `sketch` into `image` (uint8 [size * size], row-major, 0 = background, 255 = ink):
// strokes through core's rasterizer (core/rasterizer.h, the model's own, default style);
// a bitmap as it is, each of its pixels a block of floor(size / bitmap size) pixels, centred
// (the rasterizer's area average only for bitmaps larger than `size`). The rasterizer's
// InvalidArgument for a drawing it cannot render (no strokes, non-finite coordinates) or a
// size outside 8..1024. Thread-safe.
absl::Status DrawPicture(const Sketch& sketch, int size, std::vector<uint8_t>* image);

}  // namespace sketch

#endif  // SKETCH_CLIENT_PICTURE_H_
