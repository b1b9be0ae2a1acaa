#include "tests/fuzz/request_body.h"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/repeated_ptr_field.h>
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "core/sketch.h"
#include "core/sketch_validation.h"
#include "server/proto_convert.h"
#include "server/request_limits.h"
#include "sketchsearch/v1/sketch_search.pb.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

static_assert(sizeof(kFuzzRasterSizes) / sizeof(kFuzzRasterSizes[0]) == 4,
              "the selector holds a raster size index in two bits");

// What the server runs with unless its flags say otherwise.
const RequestLimits& Limits() {
  static const RequestLimits limits;
  return limits;
}

void Require(bool ok, const char* what, const absl::Status& status = absl::OkStatus()) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %s (%s)\n", what, status.ToString().c_str());
  std::abort();
}

// The field a rejection names: its message up to the first ": " (empty when there is none).
absl::string_view FieldOf(const absl::Status& status) {
  const absl::string_view message = status.message();
  const size_t end = message.find(": ");
  return end == absl::string_view::npos ? absl::string_view() : message.substr(0, end);
}

bool IsDrawingField(absl::string_view field) {
  for (absl::string_view known :
       {"drawing", "drawing.ink", "drawing.ink.frame", "drawing.ink.strokes", "drawing.bitmap",
        "drawing.bitmap.size", "drawing.bitmap.pixels"}) {
    if (field == known) return true;
  }
  return false;
}

bool IsSearchField(absl::string_view field) {
  return IsDrawingField(field) || field == "k" || field == "exclude_key_ids" || field == "classes";
}

// Every rejection of a request is the caller's fault and says which field is wrong. Returns
// false (not accepted), for the Check* functions below.
bool CheckRejection(const absl::Status& status, bool (*is_field)(absl::string_view)) {
  Require(absl::IsInvalidArgument(status),
          "a request failed with a code other than INVALID_ARGUMENT", status);
  Require(is_field(FieldOf(status)), "a rejection does not start with a field of the request",
          status);
  return false;
}

bool SameStroke(const Stroke& stroke, const v1::Stroke& in) {
  return std::equal(stroke.x.begin(), stroke.x.end(), in.x().begin(), in.x().end()) &&
         std::equal(stroke.y.begin(), stroke.y.end(), in.y().begin(), in.y().end()) &&
         std::equal(stroke.t.begin(), stroke.t.end(), in.t().begin(), in.t().end());
}

// What the Embedder requires of a sketch (valid, bitmap or simplified) and what conversion
// promises about it, then the rasterization the Embedder runs first.
void CheckAcceptedDrawing(const v1::Drawing& drawing, const Sketch& sketch,
                          const RasterOptions& raster) {
  const absl::Status valid = ValidateSketch(sketch, Limits().sketch);
  Require(valid.ok(), "an accepted drawing does not pass ValidateSketch", valid);
  Require(sketch.key_id == drawing.key_id() && sketch.word == drawing.word(),
          "conversion lost the drawing's key_id or word");
  if (drawing.has_bitmap()) {
    const std::string& pixels = drawing.bitmap().pixels();
    Require(sketch.is_bitmap() && sketch.bitmap.size == drawing.bitmap().size() &&
                std::equal(sketch.bitmap.pixels.begin(), sketch.bitmap.pixels.end(), pixels.begin(),
                           pixels.end(),
                           [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); }),
            "a bitmap changed in conversion");
  } else {
    const v1::Ink& ink = drawing.ink();
    Require(drawing.has_ink() && !sketch.is_bitmap(), "accepted a drawing with neither content");
    Require(sketch.frame == StrokeFrame::kSimplified, "an accepted drawing is not simplified");
    Require(sketch.strokes.size() == static_cast<size_t>(ink.strokes_size()),
            "conversion changed the number of strokes");
    if (ink.frame() == v1::FRAME_SIMPLIFIED) {
      for (int s = 0; s < ink.strokes_size(); ++s) {
        Require(SameStroke(sketch.strokes[s], ink.strokes(s)),
                "a simplified drawing changed in conversion");
      }
    }
  }
  std::vector<uint8_t> image;
  const absl::Status rendered = Rasterize(sketch, raster, &image);
  Require(rendered.ok(), "an accepted drawing does not rasterize", rendered);
  Require(image.size() == static_cast<size_t>(raster.size) * raster.size,
          "the raster has the wrong size");
}

// Each Check* returns whether the service accepted the request.
bool CheckClassify(const v1::ClassifyRequest& request, const RasterOptions& raster) {
  const absl::StatusOr<ClassifyQuery> query = ToClassifyQuery(request, Limits());
  if (!query.ok()) return CheckRejection(query.status(), IsDrawingField);
  // k's range depends on the loaded model: the Classifier checks it.
  Require(query->k == request.k(), "the query's k is not the request's");
  CheckAcceptedDrawing(request.drawing(), query->sketch, raster);
  return true;
}

bool CheckSearch(const v1::SearchRequest& request, const RasterOptions& raster) {
  const absl::StatusOr<SearchQuery> query = ToSearchQuery(request, Limits());
  if (!query.ok()) return CheckRejection(query.status(), IsSearchField);
  Require(query->k == request.k() && query->k >= 1 && query->k <= Limits().max_search_k,
          "the query's k is not the request's, within 1..max_search_k");
  Require(std::equal(query->excluded_key_ids.begin(), query->excluded_key_ids.end(),
                     request.exclude_key_ids().begin(), request.exclude_key_ids().end()) &&
              std::equal(query->classes.begin(), query->classes.end(), request.classes().begin(),
                         request.classes().end()) &&
              query->include_top_class == request.include_top_class(),
          "the query's filters are not the request's");
  CheckAcceptedDrawing(request.drawing(), query->sketch, raster);
  return true;
}

bool CheckEmbed(const v1::EmbedRequest& request, const RasterOptions& raster) {
  // The service converts an Embed request's drawing directly, under the field name "drawing".
  const absl::StatusOr<Sketch> sketch = DrawingToSketch(request.drawing(), Limits(), "drawing");
  if (!sketch.ok()) return CheckRejection(sketch.status(), IsDrawingField);
  CheckAcceptedDrawing(request.drawing(), *sketch, raster);
  return true;
}

// A batch fails as a whole ("requests: ...", "requests.k: ...") or on its first bad request
// ("requests[i]. ..."), with exactly the error that request alone gets under that prefix.
// `convert_one(request, prefix)` is the single-request conversion.
template <typename Request, typename ConvertOne>
bool CheckBatchRejection(const absl::Status& status,
                         const google::protobuf::RepeatedPtrField<Request>& requests,
                         bool (*is_request_field)(absl::string_view),
                         const ConvertOne& convert_one) {
  Require(absl::IsInvalidArgument(status), "a batch failed with a code other than INVALID_ARGUMENT",
          status);
  absl::string_view field = FieldOf(status);
  if (field == "requests") {
    Require(requests.size() < 1 || requests.size() > Limits().max_batch_requests,
            "a batch of an allowed size was refused for its size", status);
    return false;
  }
  if (field == "requests.k") {
    int64_t hits = 0;
    for (const Request& request : requests) hits += std::max<int64_t>(request.k(), 0);
    Require(hits > Limits().max_batch_hits, "a batch within the hit limit was refused", status);
    return false;
  }
  Require(absl::ConsumePrefix(&field, "requests["), "a batch rejection names no request", status);
  const size_t close = field.find("].");
  int index = -1;
  Require(close != absl::string_view::npos && absl::SimpleAtoi(field.substr(0, close), &index) &&
              index >= 0 && index < requests.size(),
          "a batch rejection names a request that is not there", status);
  Require(is_request_field(field.substr(close + 2)),
          "a batch rejection does not name a field of the request", status);
  for (int i = 0; i < index; ++i) {
    Require(convert_one(requests[i], absl::StrCat("requests[", i, "].")).ok(),
            "a batch was refused for a request after its first bad one", status);
  }
  const absl::Status alone = convert_one(requests[index], absl::StrCat("requests[", index, "]."));
  Require(alone == status, "a batch's error differs from its request's own", alone);
  return false;
}

bool CheckClassifyBatch(const v1::ClassifyBatchRequest& batch, const RasterOptions& raster) {
  const absl::StatusOr<std::vector<ClassifyQuery>> queries = ToClassifyQueries(batch, Limits());
  if (!queries.ok()) {
    return CheckBatchRejection(queries.status(), batch.requests(), IsDrawingField,
                               [](const v1::ClassifyRequest& request, const std::string& prefix) {
                                 return ToClassifyQuery(request, Limits(), prefix).status();
                               });
  }
  Require(queries->size() == static_cast<size_t>(batch.requests_size()) && !queries->empty() &&
              batch.requests_size() <= Limits().max_batch_requests,
          "a batch converted to the wrong number of queries, or past the limit");
  for (int i = 0; i < batch.requests_size(); ++i) {
    Require((*queries)[i].k == batch.requests(i).k(), "a batch query's k is not its request's");
    CheckAcceptedDrawing(batch.requests(i).drawing(), (*queries)[i].sketch, raster);
  }
  return true;
}

bool CheckSearchBatch(const v1::SearchBatchRequest& batch, const RasterOptions& raster) {
  const absl::StatusOr<std::vector<SearchQuery>> queries = ToSearchQueries(batch, Limits());
  if (!queries.ok()) {
    return CheckBatchRejection(queries.status(), batch.requests(), IsSearchField,
                               [](const v1::SearchRequest& request, const std::string& prefix) {
                                 return ToSearchQuery(request, Limits(), prefix).status();
                               });
  }
  Require(queries->size() == static_cast<size_t>(batch.requests_size()) && !queries->empty() &&
              batch.requests_size() <= Limits().max_batch_requests,
          "a batch converted to the wrong number of queries, or past the limit");
  int64_t hits = 0;
  for (int i = 0; i < batch.requests_size(); ++i) {
    const SearchQuery& query = (*queries)[i];
    Require(query.k == batch.requests(i).k() && query.k >= 1, "a batch query's k is not its own");
    Require(query.excluded_key_ids.size() ==
                    static_cast<size_t>(batch.requests(i).exclude_key_ids_size()) &&
                query.classes.size() == static_cast<size_t>(batch.requests(i).classes_size()),
            "a batch query's filters are not its request's");
    hits += query.k;
    CheckAcceptedDrawing(batch.requests(i).drawing(), query.sketch, raster);
  }
  Require(hits <= Limits().max_batch_hits, "a batch past the hit limit was accepted");
  return true;
}

// Parses like gRPC's protobuf deserializer; a message that does not parse never reaches the
// service.
template <typename Message>
bool Parse(const uint8_t* data, size_t size, Message* message) {
  return message->ParseFromArray(data, static_cast<int>(size));
}

// CheckRequestWire on the encoded bytes never crashes, and what it lets through decodes (when
// it decodes) within the counts it promises.
void CheckWire(RequestKind kind, const uint8_t* data, size_t size) {
  google::protobuf::io::ArrayInputStream input(data, static_cast<int>(size));
  const absl::Status wire = CheckRequestWire(kind, &input, Limits());
  if (!wire.ok()) {
    Require(wire.code() == absl::StatusCode::kInvalidArgument, "wire check: not InvalidArgument",
            wire);
    return;
  }
  const auto strokes_ok = [](const v1::Drawing& d) {
    return static_cast<size_t>(d.ink().strokes_size()) <= Limits().sketch.max_strokes;
  };
  const auto search_ok = [&](const v1::SearchRequest& r) {
    return strokes_ok(r.drawing()) && r.classes_size() <= Limits().max_class_filters;
  };
  switch (kind) {
    case RequestKind::kClassify: {
      v1::ClassifyRequest r;
      if (Parse(data, size, &r)) Require(strokes_ok(r.drawing()), "wire check let strokes by");
      break;
    }
    case RequestKind::kEmbed: {
      v1::EmbedRequest r;
      if (Parse(data, size, &r)) Require(strokes_ok(r.drawing()), "wire check let strokes by");
      break;
    }
    case RequestKind::kSearch: {
      v1::SearchRequest r;
      if (Parse(data, size, &r)) Require(search_ok(r), "wire check let strokes/classes by");
      break;
    }
    case RequestKind::kClassifyBatch: {
      v1::ClassifyBatchRequest b;
      if (!Parse(data, size, &b)) break;
      Require(b.requests_size() <= Limits().max_batch_requests, "wire check let entries by");
      for (const auto& r : b.requests()) Require(strokes_ok(r.drawing()), "batch strokes");
      break;
    }
    case RequestKind::kSearchBatch: {
      v1::SearchBatchRequest b;
      if (!Parse(data, size, &b)) break;
      Require(b.requests_size() <= Limits().max_batch_requests, "wire check let entries by");
      for (const auto& r : b.requests()) Require(search_ok(r), "batch strokes/classes");
      break;
    }
    case RequestKind::kGetInfo:
      break;
  }
}

}  // namespace

bool FuzzRequest(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  const uint8_t selector = data[0];
  const auto kind = static_cast<RequestKind>((selector & 7) % kRequestKinds);
  RasterOptions raster;  // line width and margin: the defaults, as in every trained model
  raster.style = selector >> kSelectorStyleBit & 1 ? RasterStyle::kSeed : RasterStyle::kDefault;
  raster.size = kFuzzRasterSizes[selector >> kSelectorSizeShift & 3];
  ++data;
  --size;
  // A string field with invalid UTF-8 fails to parse after an error log per input; quiet it.
  google::protobuf::LogSilencer quiet;
  CheckWire(kind, data, size);
  switch (kind) {
    case RequestKind::kClassify: {
      v1::ClassifyRequest request;
      return Parse(data, size, &request) && CheckClassify(request, raster);
    }
    case RequestKind::kSearch: {
      v1::SearchRequest request;
      return Parse(data, size, &request) && CheckSearch(request, raster);
    }
    case RequestKind::kEmbed: {
      v1::EmbedRequest request;
      return Parse(data, size, &request) && CheckEmbed(request, raster);
    }
    case RequestKind::kClassifyBatch: {
      v1::ClassifyBatchRequest batch;
      return Parse(data, size, &batch) && CheckClassifyBatch(batch, raster);
    }
    case RequestKind::kSearchBatch: {
      v1::SearchBatchRequest batch;
      return Parse(data, size, &batch) && CheckSearchBatch(batch, raster);
    }
    case RequestKind::kGetInfo:
      break;
  }
  return false;  // unreachable: the switch covers every kind
}

}  // namespace sketch
