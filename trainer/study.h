// `sketch-trainer study`: the 2018 study reproduced with one command. For a prepared dataset and
// a recipe it trains both networks, builds their bundles (evaluation, features, index, mAP) and
// writes the study's table beside the 2018 numbers.
#ifndef SKETCH_TRAINER_STUDY_H_
#define SKETCH_TRAINER_STUDY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trainer/bundle_builder.h"
#include "trainer/train.h"

namespace sketch {

struct StudyOptions {
  std::string dataset_path;
  std::string out_dir;  // <out>/<arch>-<recipe>/{train output, bundle/}, <out>/study-<recipe>.md
  std::string recipe = "default";
  std::vector<std::string> architectures = {"sknet", "skresnet"};
  RecipeOverrides overrides;  // applied to every network's recipe
  int threads = 0;
  std::string precision = "auto";
  std::string device = "cpu";  // cpu | cuda | cuda:N: training and evaluation
  int loader_threads = 1;
  int64_t max_steps = 0;  // for smoke runs; 0 = the recipe's full length
  bool verbose = true;
};

struct StudyRow {
  std::string architecture;
  BundleReport report;
  double train_seconds = 0;
  double images_per_second = 0;
  std::string bundle_dir;
};

struct StudyResult {
  std::vector<StudyRow> rows;
  std::string table_markdown;  // also written to <out>/study-<recipe>.md
};

// Runs (or resumes: a network whose training finished is not trained again) every network.
// Errors from Train and BuildBundle pass through.
absl::StatusOr<StudyResult> RunStudy(const StudyOptions& options);

// The study's table for `rows`, followed by the 2018 figures.
std::string FormatStudyTable(const std::string& dataset, const std::string& recipe,
                             const std::vector<StudyRow>& rows);

}  // namespace sketch

#endif  // SKETCH_TRAINER_STUDY_H_
