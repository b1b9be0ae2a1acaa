#include "trainer/drawing_evaluation.h"

#include <chrono>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

using Json = nlohmann::ordered_json;  // the keys in the order written

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// nlohmann writes NaN as null already; spelled out so the file's meaning does not rest on it.
Json Figure(double value) { return std::isnan(value) ? Json(nullptr) : Json(value); }

}  // namespace

absl::StatusOr<DrawingEvaluation> EvaluateDrawings(const DrawingEvaluationOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(const std::vector<DrawingFile> files, ListDrawingFiles(options.inputs));
  ASSIGN_OR_RETURN(const GalleryModel model,
                   LoadGalleryModel(options.model, options.normalization, options.test_time));
  // Before the extraction spends minutes (the measure searches a Flat index).
  RETURN_IF_ERROR(CheckQueryExpansion(
      options.query_expansion,
      model.l2_normalized ? FeatureNormalization::kL2 : FeatureNormalization::kRaw, IndexSpec()));
  const auto extraction = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(GalleryFeatures extracted,
                   ExtractGalleryFeatures(files, model, options.features));
  DrawingEvaluation e;
  e.feature_seconds = SecondsSince(extraction);
  e.files = static_cast<int64_t>(files.size());
  e.drawings = static_cast<int64_t>(extracted.rows.size());
  e.skipped = extracted.skipped;
  e.model_classes = static_cast<int64_t>(model.model.classes.size());
  e.l2_normalized = model.l2_normalized;
  e.precision = std::string(PrecisionName(ResolvePrecision(options.features.precision)));
  e.test_time = model.model.preprocessing.test_time;
  ASSIGN_OR_RETURN(
      const MeasuredFeatures measured,
      MeasureSearchFeatures(std::move(extracted.features), extracted.rows, model.l2_normalized,
                            options.whitening, options.query_expansion, options.map_sample));
  e.query_expansion_neighbors = options.query_expansion.neighbors;
  e.whitening_dims = measured.features.whitening_dims();
  e.retrieval = measured.retrieval;
  e.seconds = SecondsSince(start);
  return e;
}

std::string FormatDrawingEvaluation(const DrawingEvaluation& e) {
  const GalleryRetrieval& r = e.retrieval;
  std::string out = absl::StrFormat(
      "drawings: %d in %d files, %d skipped; %d words: %d drawings of %d of the model's %d "
      "classes, %d of %d unseen words\n",
      e.drawings, e.files, e.skipped, r.words, r.seen_entries, r.seen_words, e.model_classes,
      r.unseen_entries, r.words - r.seen_words);
  out += FormatGalleryRetrieval(
      r, FeatureSpaceName(e.l2_normalized, e.whitening_dims, e.query_expansion_neighbors));
  const int views = ViewCount(e.test_time);
  absl::StrAppendFormat(&out, "%s, %d view%s a drawing; %.1f s (features %.1f s)\n", e.precision,
                        views, views == 1 ? "" : "s", e.seconds, e.feature_seconds);
  return out;
}

std::string DrawingEvaluationJson(const DrawingEvaluationOptions& options,
                                  const DrawingEvaluation& e) {
  const GalleryRetrieval& r = e.retrieval;
  const auto part = [](double map, double p10, int64_t queries) {
    return Json{{"map", Figure(map)}, {"precision_at_10", Figure(p10)}, {"queries", queries}};
  };
  const Json out = {{"model", options.model},
                    {"inputs", options.inputs},
                    {"files", e.files},
                    {"drawings", e.drawings},
                    {"skipped", e.skipped},
                    {"words", r.words},
                    {"model_classes", e.model_classes},
                    {"seen", {{"words", r.seen_words}, {"drawings", r.seen_entries}}},
                    {"unseen", {{"words", r.words - r.seen_words}, {"drawings", r.unseen_entries}}},
                    {"features", e.l2_normalized ? "l2" : "raw"},
                    {"test_time",
                     {{"mirror_average", e.test_time.mirror},
                      {"rotation_degrees", e.test_time.rotation_degrees},
                      {"views", ViewCount(e.test_time)}}},
                    {"whitening", e.whitening_dims > 0 ? Json{{"dims", e.whitening_dims},
                                                              {"shrink", options.whitening.shrink}}
                                                       : Json(nullptr)},
                    {"query_expansion", e.query_expansion_neighbors > 0
                                            ? Json{{"neighbors", e.query_expansion_neighbors},
                                                   {"alpha", options.query_expansion.alpha}}
                                            : Json(nullptr)},
                    {"precision", e.precision},
                    {"measured_drawings", r.map_drawings},
                    {"retrieval",
                     {{"all", part(r.map_all, r.p10_all, r.seen_queries + r.unseen_queries)},
                      {"seen", part(r.map_seen, r.p10_seen, r.seen_queries)},
                      {"unseen", part(r.map_unseen, r.p10_unseen, r.unseen_queries)}}},
                    {"feature_seconds", e.feature_seconds},
                    {"seconds", e.seconds}};
  return out.dump(2) + "\n";
}

}  // namespace sketch
