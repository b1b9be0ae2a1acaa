// Writes the request fuzzer's seeds: valid requests of every kind, built from the first drawings of
// the committed Quick, Draw! sample (simplified ink, raw ink with times, a 28x28 bitmap), each
// behind the selector byte FuzzRequest reads. Valid seeds start the fuzzer deep in the conversion
// instead of at the parser.
// Usage: make_request_seeds OUT_DIR   (the seeds are kept in tests/fuzz/regressions/request_fuzzer)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/sketch.h"
#include "core/sketch_reader.h"
#include "proto/drawing_convert.h"
#include "sketchsearch/v1/sketch_search.pb.h"
#include "tests/fuzz/request_body.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

absl::StatusOr<Sketch> FirstRecord(const std::string& relative_path) {
  const std::string path = std::string(SKETCH_TEST_DATA_DIR) + "/quickdraw/" + relative_path;
  absl::StatusOr<std::unique_ptr<SketchReader>> reader = OpenSketchReader(path);
  if (!reader.ok()) return reader.status();
  Sketch sketch;
  absl::StatusOr<bool> got = (*reader)->Next(&sketch);
  if (!got.ok()) return got.status();
  if (!*got) return absl::NotFoundError(path + " has no records");
  return sketch;
}

v1::SearchRequest Search(const v1::Drawing& drawing, int k) {
  v1::SearchRequest request;
  *request.mutable_drawing() = drawing;
  request.set_k(k);
  request.add_exclude_key_ids(drawing.key_id());
  request.add_classes("cat");
  request.add_classes("apple");
  request.set_include_top_class(true);
  return request;
}

v1::ClassifyRequest Classify(const v1::Drawing& drawing, int k) {
  v1::ClassifyRequest request;
  *request.mutable_drawing() = drawing;
  request.set_k(k);
  return request;
}

class SeedWriter {
 public:
  explicit SeedWriter(std::filesystem::path dir) : dir_(std::move(dir)) {}

  void Write(const std::string& name, RequestKind kind, RasterStyle style, int raster_size_index,
             const google::protobuf::MessageLite& request) {
    const std::filesystem::path path = dir_ / ("seed-" + name);
    std::ofstream out(path, std::ios::binary);
    out.put(static_cast<char>(RequestSelector(kind, style, raster_size_index)));
    out << request.SerializeAsString();
    if (!out.flush()) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      ok_ = false;
    }
  }

  bool ok() const { return ok_; }

 private:
  std::filesystem::path dir_;
  bool ok_ = true;
};

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const absl::StatusOr<Sketch> simplified = FirstRecord("simplified/cat.ndjson");
  const absl::StatusOr<Sketch> raw = FirstRecord("raw/apple.ndjson");
  const absl::StatusOr<Sketch> bitmap = FirstRecord("numpy_bitmap/cat.npy");
  for (const absl::Status& status : {simplified.status(), raw.status(), bitmap.status()}) {
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      return 1;
    }
  }
  const v1::Drawing simplified_drawing = SketchToDrawing(*simplified);
  const v1::Drawing raw_drawing = SketchToDrawing(*raw);
  const v1::Drawing bitmap_drawing = SketchToDrawing(*bitmap);

  std::filesystem::create_directories(argv[1]);
  SeedWriter seeds(argv[1]);
  const RasterStyle kDefault = RasterStyle::kDefault, kSeed = RasterStyle::kSeed;
  seeds.Write("classify-simplified", RequestKind::kClassify, kDefault, 3,
              Classify(simplified_drawing, 5));
  seeds.Write("classify-raw", RequestKind::kClassify, kSeed, 2, Classify(raw_drawing, 3));
  seeds.Write("classify-bitmap", RequestKind::kClassify, kDefault, 0, Classify(bitmap_drawing, 1));
  seeds.Write("search-simplified", RequestKind::kSearch, kSeed, 1, Search(simplified_drawing, 10));
  seeds.Write("search-raw", RequestKind::kSearch, kDefault, 2, Search(raw_drawing, 100));
  seeds.Write("search-bitmap", RequestKind::kSearch, kSeed, 0, Search(bitmap_drawing, 1));
  v1::EmbedRequest embed;
  *embed.mutable_drawing() = raw_drawing;
  seeds.Write("embed-raw", RequestKind::kEmbed, kDefault, 1, embed);
  *embed.mutable_drawing() = bitmap_drawing;
  seeds.Write("embed-bitmap", RequestKind::kEmbed, kSeed, 3, embed);
  v1::ClassifyBatchRequest classify_batch;
  *classify_batch.add_requests() = Classify(simplified_drawing, 3);
  *classify_batch.add_requests() = Classify(raw_drawing, 3);
  *classify_batch.add_requests() = Classify(bitmap_drawing, 3);
  seeds.Write("classify-batch", RequestKind::kClassifyBatch, kDefault, 0, classify_batch);
  v1::SearchBatchRequest search_batch;
  *search_batch.add_requests() = Search(simplified_drawing, 20);
  *search_batch.add_requests() = Search(bitmap_drawing, 7);
  seeds.Write("search-batch", RequestKind::kSearchBatch, kSeed, 1, search_batch);
  return seeds.ok() ? 0 : 1;
}

}  // namespace
}  // namespace sketch

int main(int argc, char** argv) { return sketch::Main(argc, argv); }
