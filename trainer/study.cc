#include "trainer/study.h"

#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/atomic_file.h"
#include "core/progress_bar.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

// The 2018 report's results (100 classes x (1000 + 50), 10000 steps of batch 10).
struct StudyFigures {
  const char* network;
  double train_accuracy, test_accuracy, test_loss, map;
};
constexpr StudyFigures k2018[] = {{"skNet", 0.844, 0.505, 2.13, 0.202},
                                  {"skResNet", 0.896, 0.496, 2.31, 0.200}};

absl::StatusOr<StudyRow> RunOne(const StudyOptions& options, const std::string& architecture) {
  StudyRow row;
  row.architecture = architecture;
  const std::string run_dir = absl::StrCat(options.out_dir, "/", architecture, "-", options.recipe);
  TrainOptions train;
  train.dataset_path = options.dataset_path;
  train.out_dir = run_dir;
  train.recipe = options.recipe;
  train.overrides = options.overrides;
  train.overrides.architecture = architecture;
  train.threads = options.threads;
  train.precision = options.precision;
  train.device = options.device;
  train.loader_threads = options.loader_threads;
  train.max_steps = options.max_steps;
  train.verbose = options.verbose;
  // Continue an interrupted run instead of refusing its directory.
  train.resume = fs::exists(run_dir + "/checkpoints");
  ASSIGN_OR_RETURN(TrainResult trained, Train(train));
  row.train_seconds = trained.run_train_seconds;
  row.images_per_second = trained.run_images_per_second;

  BundleOptions bundle;
  bundle.model_dir = run_dir;
  bundle.dataset_path = options.dataset_path;
  bundle.bundle_dir = run_dir + "/bundle";
  ASSIGN_OR_RETURN(bundle.evaluate.precision, ParsePrecision(options.precision));
  bundle.evaluate.device = options.device;
  bundle.evaluate.loader_threads = options.loader_threads;
  if (options.verbose) bundle.evaluate.progress_label = "evaluate";
  ASSIGN_OR_RETURN(row.report, BuildBundle(bundle));
  row.bundle_dir = bundle.bundle_dir;
  if (options.verbose) std::cerr << architecture << ":\n" << FormatBundleReport(row.report);
  return row;
}

}  // namespace

std::string FormatStudyTable(const std::string& dataset, const std::string& recipe,
                             const std::vector<StudyRow>& rows) {
  std::string md = absl::StrCat("Dataset `", dataset, "`, recipe `", recipe, "`\n\n");
  md += "| network | train acc | test acc | test top-5 | test loss | mAP (raw) | mAP (L2) | "
        "train time | train img/s |\n|---|---|---|---|---|---|---|---|---|\n";
  for (const StudyRow& r : rows) {
    const BundleReport& b = r.report;
    absl::StrAppendFormat(&md, "| %s | %.3f | %.3f | %.3f | %.2f | %.3f | %.3f | %s | %.1f |\n",
                          r.architecture, b.train.top1, b.test.top1, b.test.top5, b.test.loss,
                          b.map_raw, b.map_l2, FormatDuration(r.train_seconds),
                          r.images_per_second);
  }
  md += "\n2018 study (100 classes x (1000 train + 50 test), seed recipe):\n\n"
        "| network | train acc | test acc | test loss | mAP |\n|---|---|---|---|---|\n";
  for (const StudyFigures& f : k2018) {
    absl::StrAppendFormat(&md, "| %s | %.3f | %.3f | %.2f | %.3f |\n", f.network,
                          f.train_accuracy, f.test_accuracy, f.test_loss, f.map);
  }
  return md;
}

absl::StatusOr<StudyResult> RunStudy(const StudyOptions& options) {
  StudyResult result;
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", options.out_dir));
  for (const std::string& architecture : options.architectures) {
    ASSIGN_OR_RETURN(StudyRow row, RunOne(options, architecture));
    result.rows.push_back(std::move(row));
  }
  result.table_markdown = FormatStudyTable(options.dataset_path, options.recipe, result.rows);
  RETURN_IF_ERROR(WriteFileAtomically(
      absl::StrCat(options.out_dir, "/study-", options.recipe, ".md"), result.table_markdown));
  return result;
}

}  // namespace sketch
