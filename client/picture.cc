#include "client/picture.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/rasterizer.h"
#include "proto/drawing_convert.h"

namespace sketch {

namespace v1 = ::sketchsearch::v1;

std::vector<Picture> SearchPictures(const InputRecord& query, const v1::SearchResponse& response) {
  std::vector<Picture> pictures;
  pictures.reserve(response.hits_size() + 1);
  Picture first{query.sketch, {"query"}, /*is_query=*/true};
  if (!query.sketch.word.empty()) first.caption.push_back(query.sketch.word);
  if (query.sketch.key_id != 0) first.caption.push_back(absl::StrCat(query.sketch.key_id));
  pictures.push_back(std::move(first));
  for (int i = 0; i < response.hits_size(); ++i) {
    const v1::SearchHit& hit = response.hits(i);
    Picture picture;
    picture.drawing = absl::NotFoundError("no drawing: the server sent none");
    if (hit.has_drawing()) {
      picture.drawing = SketchFromDrawing(hit.drawing(), absl::StrCat("hits[", i, "].drawing"));
    }
    picture.caption = {absl::StrCat(i + 1, ". ", hit.word()), absl::StrCat(hit.key_id()),
                       absl::StrFormat("d %.4g", hit.distance())};
    pictures.push_back(std::move(picture));
  }
  return pictures;
}

absl::Status DrawPicture(const Sketch& sketch, int size, std::vector<uint8_t>* image) {
  const int block = sketch.is_bitmap() ? size / sketch.bitmap.size : 0;
  const size_t pixels = static_cast<size_t>(sketch.bitmap.size) * sketch.bitmap.size;
  if (block < 1 || sketch.bitmap.pixels.size() != pixels || size < 8 || size > 1024) {
    RasterOptions options;
    options.size = size;
    return Rasterize(sketch, options, image);
  }
  image->assign(static_cast<size_t>(size) * size, 0);
  const int offset = (size - block * sketch.bitmap.size) / 2;
  for (int y = 0; y < block * sketch.bitmap.size; ++y) {
    const uint8_t* row = &sketch.bitmap.pixels[static_cast<size_t>(y / block) * sketch.bitmap.size];
    uint8_t* out = &(*image)[static_cast<size_t>(offset + y) * size + offset];
    for (int x = 0; x < block * sketch.bitmap.size; ++x) out[x] = row[x / block];
  }
  return absl::OkStatus();
}

}  // namespace sketch
