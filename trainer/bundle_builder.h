// `sketch-trainer bundle`: evaluates a trained model on its dataset, extracts the test-set
// features, measures the leave-one-out mAP (raw and L2-normalized features), indexes the test set
// and writes the model bundle the server loads.
#ifndef SKETCH_TRAINER_BUNDLE_BUILDER_H_
#define SKETCH_TRAINER_BUNDLE_BUILDER_H_

#include <string>

#include "absl/status/statusor.h"
#include "bundle/model_bundle.h"
#include "index/index_spec.h"
#include "index/query_expanding_index.h"
#include "models/preprocessing.h"
#include "trainer/evaluate.h"

namespace sketch {

enum class FeatureNormalization { kAuto, kRaw, kL2 };
absl::StatusOr<FeatureNormalization> ParseFeatureNormalization(const std::string& name);

struct BundleOptions {
  std::string model_dir;     // a `sketch-trainer train` output directory
  std::string dataset_path;  // the dataset it was trained on
  std::string bundle_dir;
  // Index raw fc_1 features, L2-normalized ones, or (auto) whichever gives the higher test mAP.
  FeatureNormalization normalization = FeatureNormalization::kAuto;
  EvaluateOptions evaluate;
  bool evaluate_train = true;  // the train split costs a pass as long as the training set
  // The index of the test features: Flat (exact, the default) or an approximate type whose
  // recall@10 against exact search is measured on `recall_queries` of the indexed features.
  IndexSpec index;
  int recall_queries = 1000;
  // Test-time views (models/preprocessing.h): the bundle's features, its figures and the
  // server's queries all average each drawing over them (its mirror, its rotations).
  TestTimeViews test_time;
  // Search-time query expansion (index/query_expanding_index.h), recorded in the manifest for
  // the server; the bundle's "map" is then the expanded search's. Needs L2-normalized features
  // (`normalization` auto or l2) and an index that is not IVF.
  QueryExpansionOptions query_expansion;
};

struct BundleReport {
  SplitEvaluation train;  // empty when evaluate_train is false
  SplitEvaluation test;
  double map_raw = 0;
  double map_l2 = 0;
  double map_query_expansion = 0;  // L2-normalized, expanded; 0 without query expansion
  bool l2_normalized = false;
  double index_recall_at_10 = 1;  // 1 for Flat
  BundleManifest manifest;
  double seconds = 0;
};

// Query expansion's requirements, checked before an evaluation spends minutes: valid options,
// and when it expands, features that are not raw and an index type that is not IVF.
// InvalidArgument otherwise.
absl::Status CheckQueryExpansion(const QueryExpansionOptions& query_expansion,
                                 FeatureNormalization normalization, const IndexSpec& index);

// Errors: NotFound (model dir, dataset), InvalidArgument (the dataset's classes differ from the
// model's; query expansion with raw features, an IVF index or bad options: before any
// evaluation), and whatever evaluation, indexing or writing returns.
absl::StatusOr<BundleReport> BuildBundle(const BundleOptions& options);

// The report as a short table (train/test accuracy, test loss, mAP raw and L2 and with query
// expansion, index type and its recall@10).
std::string FormatBundleReport(const BundleReport& report);

}  // namespace sketch

#endif  // SKETCH_TRAINER_BUNDLE_BUILDER_H_
