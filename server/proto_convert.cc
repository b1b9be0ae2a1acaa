#include "server/proto_convert.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/normalize.h"
#include "core/sketch_validation.h"
#include "core/status_macros.h"
#include "proto/drawing_convert.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

absl::StatusOr<Sketch> InkToSketch(const v1::Ink& ink, const RequestLimits& limits,
                                   absl::string_view field) {
  Sketch sketch;
  switch (ink.frame()) {
    case v1::FRAME_SIMPLIFIED:
      sketch.frame = StrokeFrame::kSimplified;
      break;
    case v1::FRAME_RAW:
      sketch.frame = StrokeFrame::kRaw;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".frame: must be FRAME_SIMPLIFIED or FRAME_RAW"));
  }
  // Checked before copying: an empty Stroke costs ~2 bytes on the wire but ~70 in memory, so a
  // message within the size limit could still ask for gigabytes. ValidateSketch checks the rest.
  RETURN_IF_ERROR(CheckCount(absl::StrCat(field, ".strokes"), ink.strokes_size(),
                             static_cast<int64_t>(limits.sketch.max_strokes), "strokes"));
  sketch.strokes.resize(ink.strokes_size());
  for (int s = 0; s < ink.strokes_size(); ++s) {
    const v1::Stroke& in = ink.strokes(s);
    Stroke& out = sketch.strokes[s];
    out.x.assign(in.x().begin(), in.x().end());
    out.y.assign(in.y().begin(), in.y().end());
    out.t.assign(in.t().begin(), in.t().end());
  }
  return sketch;
}

absl::StatusOr<Sketch> BitmapToSketch(const v1::Bitmap& bitmap, const RequestLimits& limits,
                                      absl::string_view field) {
  RETURN_IF_ERROR(
      CheckInRange(absl::StrCat(field, ".size"), bitmap.size(), 1, limits.max_bitmap_size));
  const size_t expected = static_cast<size_t>(bitmap.size()) * bitmap.size();
  if (bitmap.pixels().size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".pixels: ", bitmap.pixels().size(),
                                                   " bytes, expected size * size = ", expected));
  }
  Sketch sketch;
  sketch.bitmap.size = bitmap.size();
  sketch.bitmap.pixels.assign(bitmap.pixels().begin(), bitmap.pixels().end());
  return sketch;
}

// DeadlineExceeded once `deadline` has passed, naming the batch request reached.
absl::Status CheckDeadline(absl::Time deadline, int request) {
  if (deadline == absl::InfiniteFuture() || absl::Now() < deadline) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(
      "the call's deadline passed while its drawings were checked (at requests[", request, "])"));
}

}  // namespace

absl::StatusOr<Sketch> DrawingToSketch(const v1::Drawing& drawing, const RequestLimits& limits,
                                       absl::string_view field) {
  absl::StatusOr<Sketch> sketch;
  switch (drawing.content_case()) {
    case v1::Drawing::kInk:
      sketch = InkToSketch(drawing.ink(), limits, absl::StrCat(field, ".ink"));
      break;
    case v1::Drawing::kBitmap:
      sketch = BitmapToSketch(drawing.bitmap(), limits, absl::StrCat(field, ".bitmap"));
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(field, ": has neither ink nor bitmap"));
  }
  if (!sketch.ok()) return sketch.status();
  const std::string content = absl::StrCat(field, sketch->is_bitmap() ? ".bitmap" : ".ink");
  RETURN_IF_ERROR(Annotate(ValidateSketch(*sketch, limits.sketch), content));
  sketch->key_id = drawing.key_id();
  sketch->word = drawing.word();
  if (sketch->is_bitmap() || sketch->frame == StrokeFrame::kSimplified) return sketch;
  absl::StatusOr<Sketch> simplified = NormalizeToSimplified(*sketch);
  if (!simplified.ok()) return Annotate(simplified.status(), content);
  return simplified;
}

absl::StatusOr<ClassifyQuery> ToClassifyQuery(const v1::ClassifyRequest& request,
                                              const RequestLimits& limits,
                                              absl::string_view prefix) {
  ClassifyQuery query;
  ASSIGN_OR_RETURN(query.sketch,
                   DrawingToSketch(request.drawing(), limits, absl::StrCat(prefix, "drawing")));
  query.k = request.k();
  return query;
}

absl::StatusOr<SearchQuery> ToSearchQuery(const v1::SearchRequest& request,
                                          const RequestLimits& limits, absl::string_view prefix) {
  RETURN_IF_ERROR(CheckInRange(absl::StrCat(prefix, "k"), request.k(), 1, limits.max_search_k));
  RETURN_IF_ERROR(CheckCount(absl::StrCat(prefix, "exclude_key_ids"),
                             request.exclude_key_ids_size(), limits.max_excluded_key_ids));
  RETURN_IF_ERROR(CheckCount(absl::StrCat(prefix, "classes"), request.classes_size(),
                             limits.max_class_filters));
  RETURN_IF_ERROR(
      CheckSearchKnobs(prefix, request.params().nprobe(), request.params().ef_search(), limits));
  SearchQuery query;
  ASSIGN_OR_RETURN(query.sketch,
                   DrawingToSketch(request.drawing(), limits, absl::StrCat(prefix, "drawing")));
  query.k = request.k();
  query.excluded_key_ids.assign(request.exclude_key_ids().begin(), request.exclude_key_ids().end());
  query.classes.assign(request.classes().begin(), request.classes().end());
  query.include_top_class = request.include_top_class();
  query.include_drawings = request.include_drawings();
  if (query.include_drawings) {
    RETURN_IF_ERROR(CheckCount(absl::StrCat(prefix, "k"), query.k, limits.max_drawing_hits,
                               "hits with drawings"));
  }
  query.knobs.nprobe = request.params().nprobe();
  query.knobs.ef_search = request.params().ef_search();
  return query;
}

absl::StatusOr<std::vector<ClassifyQuery>> ToClassifyQueries(const v1::ClassifyBatchRequest& batch,
                                                             const RequestLimits& limits,
                                                             absl::Time deadline) {
  RETURN_IF_ERROR(CheckInRange("requests", batch.requests_size(), 1, limits.max_batch_requests));
  std::vector<ClassifyQuery> queries;
  queries.reserve(batch.requests_size());
  for (int i = 0; i < batch.requests_size(); ++i) {
    RETURN_IF_ERROR(CheckDeadline(deadline, i));
    ASSIGN_OR_RETURN(ClassifyQuery query, ToClassifyQuery(batch.requests(i), limits,
                                                          absl::StrCat("requests[", i, "].")));
    queries.push_back(std::move(query));
  }
  return queries;
}

absl::StatusOr<std::vector<SearchQuery>> ToSearchQueries(const v1::SearchBatchRequest& batch,
                                                         const RequestLimits& limits,
                                                         absl::Time deadline) {
  RETURN_IF_ERROR(CheckInRange("requests", batch.requests_size(), 1, limits.max_batch_requests));
  int64_t hits = 0;
  for (const v1::SearchRequest& request : batch.requests()) hits += std::max(request.k(), 0);
  RETURN_IF_ERROR(CheckCount("requests.k", hits, limits.max_batch_hits, "hits in total"));
  int64_t drawing_hits = 0;
  for (const v1::SearchRequest& request : batch.requests()) {
    if (request.include_drawings()) drawing_hits += std::max(request.k(), 0);
  }
  RETURN_IF_ERROR(CheckCount("requests.k", drawing_hits, limits.max_drawing_hits,
                             "hits with drawings in total"));
  std::vector<SearchQuery> queries;
  queries.reserve(batch.requests_size());
  for (int i = 0; i < batch.requests_size(); ++i) {
    RETURN_IF_ERROR(CheckDeadline(deadline, i));
    ASSIGN_OR_RETURN(SearchQuery query,
                     ToSearchQuery(batch.requests(i), limits, absl::StrCat("requests[", i, "].")));
    queries.push_back(std::move(query));
  }
  return queries;
}

void ToProto(const ClassScore& score, v1::ClassScore* out) {
  out->set_label(score.label);
  out->set_word(score.word);
  out->set_probability(score.probability);
}

void ToProto(const std::vector<ClassScore>& scores, v1::ClassifyResponse* response) {
  for (const ClassScore& score : scores) ToProto(score, response->add_classes());
}

void ToProto(const SearchResult& result, v1::SearchResponse* response) {
  response->mutable_hits()->Reserve(static_cast<int>(result.hits.size()));
  for (const SearchHit& hit : result.hits) {
    v1::SearchHit* out = response->add_hits();
    out->set_id(hit.id);
    out->set_key_id(hit.key_id);
    out->set_word(hit.word);
    out->set_distance(hit.distance);
    out->set_label(hit.label);
    out->set_source(hit.source);
    if (hit.drawing.has_value()) *out->mutable_drawing() = SketchToDrawing(*hit.drawing);
  }
  if (result.top_class.has_value()) ToProto(*result.top_class, response->mutable_top_class());
}

void ToProto(const ServiceInfo& info, const RequestLimits& limits, int max_message_bytes,
             v1::GetInfoResponse* response) {
  response->set_architecture(info.bundle.architecture);
  for (const std::string& name : info.classes) response->add_classes(name);
  response->set_input_size(info.input_size);
  response->set_index_size(info.index_size);
  response->set_dimension(info.dimension);
  response->set_bundle_hash(info.bundle.bundle_hash);
  response->set_recipe(info.bundle.recipe);
  for (const auto& [name, value] : info.bundle.metrics)
    (*response->mutable_metrics())[name] = value;
  v1::Limits* out = response->mutable_limits();
  out->set_max_strokes(static_cast<int32_t>(limits.sketch.max_strokes));
  out->set_max_points_per_stroke(static_cast<int32_t>(limits.sketch.max_points_per_stroke));
  out->set_max_total_points(static_cast<int32_t>(limits.sketch.max_total_points));
  out->set_max_raw_abs_coordinate(limits.sketch.max_raw_abs_coordinate);
  out->set_max_bitmap_size(limits.max_bitmap_size);
  out->set_max_search_k(limits.max_search_k);
  out->set_max_excluded_key_ids(limits.max_excluded_key_ids);
  out->set_max_class_filters(limits.max_class_filters);
  out->set_max_batch_requests(limits.max_batch_requests);
  out->set_max_message_bytes(max_message_bytes);
  out->set_max_batch_hits(limits.max_batch_hits);
  out->set_max_drawing_hits(limits.max_drawing_hits);
  out->set_max_nprobe(limits.max_nprobe);
  out->set_max_ef_search(limits.max_ef_search);
  v1::IndexInfo* index = response->mutable_index();
  index->set_type(info.bundle.index.type);
  index->set_exact(info.bundle.index.exact);
  index->set_recall_at_10(info.bundle.index.recall_at_10);
  index->mutable_default_params()->set_nprobe(info.bundle.index.default_knobs.nprobe);
  index->mutable_default_params()->set_ef_search(info.bundle.index.default_knobs.ef_search);
  index->set_has_drawings(info.has_drawings);
  index->set_query_expansion_neighbors(info.bundle.index.query_expansion_neighbors);
  index->set_query_expansion_alpha(info.bundle.index.query_expansion_alpha);
  for (const std::string& word : info.words) index->add_words(word);
  response->set_test_time_views(info.bundle.test_time_views);
}

}  // namespace sketch
