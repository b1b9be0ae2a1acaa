// `sketch-trainer bundle`: evaluates a trained model on its dataset, extracts the test-set
// features, measures the leave-one-out mAP (raw and L2-normalized features), indexes the test set
// and writes the model bundle the server loads.
#ifndef SKETCH_TRAINER_BUNDLE_BUILDER_H_
#define SKETCH_TRAINER_BUNDLE_BUILDER_H_

#include <string>

#include "absl/status/statusor.h"
#include "trainer/evaluate.h"
#include "bundle/model_bundle.h"

namespace sketch {

enum class FeatureNormalization { kAuto, kRaw, kL2 };
absl::StatusOr<FeatureNormalization> ParseFeatureNormalization(const std::string& name);

struct BundleOptions {
  std::string model_dir;    // a `sketch-trainer train` output directory
  std::string dataset_path;  // the dataset it was trained on
  std::string bundle_dir;
  // Index raw fc_1 features, L2-normalized ones, or (auto) whichever gives the higher test mAP.
  FeatureNormalization normalization = FeatureNormalization::kAuto;
  EvaluateOptions evaluate;
  bool evaluate_train = true;  // the train split costs a pass as long as the training set
};

struct BundleReport {
  SplitEvaluation train;  // empty when evaluate_train is false
  SplitEvaluation test;
  double map_raw = 0;
  double map_l2 = 0;
  bool l2_normalized = false;
  BundleManifest manifest;
  double seconds = 0;
};

// Errors: NotFound (model dir, dataset), InvalidArgument (the dataset's classes differ from the
// model's), and whatever evaluation, indexing or writing returns.
absl::StatusOr<BundleReport> BuildBundle(const BundleOptions& options);

// The report as a short table (train/test accuracy, test loss, mAP raw and L2).
std::string FormatBundleReport(const BundleReport& report);

}  // namespace sketch

#endif  // SKETCH_TRAINER_BUNDLE_BUILDER_H_
