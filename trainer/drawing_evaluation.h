// `sketch-trainer evaluate --drawings`: how well a model's features retrieve any drawings (files
// or folders in the four Quick, Draw! formats, words the model never saw included): leave-one-out
// mAP and precision@10 of all of them, of the model's classes and of the unseen words. It is
// `sketch-trainer index`'s measure (trainer/gallery_features.h: the same files, word -> label
// mapping, features and figures) without the bundle: nothing is written, the features stay in
// memory (4 KiB a drawing).
#ifndef SKETCH_TRAINER_DRAWING_EVALUATION_H_
#define SKETCH_TRAINER_DRAWING_EVALUATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trainer/bundle_builder.h"
#include "trainer/gallery_features.h"

namespace sketch {

struct DrawingEvaluationOptions {
  std::string model;                // a `sketch-trainer train` output directory or a bundle
  std::vector<std::string> inputs;  // drawing files and folders (searched recursively)
  // kAuto: a bundle's own choice (manifest index.l2_normalized); L2 for a model directory, as
  // `index` would index them.
  FeatureNormalization normalization = FeatureNormalization::kAuto;
  // Embed with these test-time views; each one set overrides the model's own, the rest keep it.
  TestTimeViews test_time;
  // dims > 0: whiten the L2-normalized features, fitted on these drawings, as `index --whiten`
  // does on a gallery.
  WhiteningOptions whitening;
  // Query expansion (index/query_expanding_index.h) in the measure, as `index --query-expansion`
  // would serve it; needs L2-normalized features.
  QueryExpansionOptions query_expansion;
  FeatureOptions features;      // skip_invalid, batch_size, precision, progress
  // Above this many drawings the O(n^2) measure runs within a seeded random sample of this size
  // (0: always all of them); the same sample `index` measures.
  int64_t map_sample = 20000;
};

struct DrawingEvaluation {
  int64_t files = 0;
  int64_t drawings = 0;
  int64_t skipped = 0;  // malformed records skipped (skip_invalid)
  int64_t model_classes = 0;
  GalleryRetrieval retrieval;
  bool l2_normalized = false;
  int whitening_dims = 0;  // 0: not whitened
  int query_expansion_neighbors = 0;  // 0: not expanded
  std::string precision;  // as run: "fp32" or "bf16"
  TestTimeViews test_time;  // as embedded: the option's, else the model's own
  double feature_seconds = 0, seconds = 0;
};

// Errors: NotFound (model, inputs), InvalidArgument (no drawing file or no drawing in the inputs,
// a malformed record without skip_invalid naming file:line, a whitening the drawings cannot fit,
// query expansion of raw features or with bad options: before any drawing is embedded),
// DataLoss (a damaged or mismatched model, e.g. weights of another size than its config), Internal
// when torch fails.
absl::StatusOr<DrawingEvaluation> EvaluateDrawings(const DrawingEvaluationOptions& options);

// The report for a terminal: counts, the three parts' mAP and P@10 ("-" for an empty part), time.
std::string FormatDrawingEvaluation(const DrawingEvaluation& evaluation);

// The same as one JSON object (a part with no query has null figures), with the options that
// produced it.
std::string DrawingEvaluationJson(const DrawingEvaluationOptions& options,
                                  const DrawingEvaluation& evaluation);

}  // namespace sketch

#endif  // SKETCH_TRAINER_DRAWING_EVALUATION_H_
