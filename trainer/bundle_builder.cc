#include "trainer/bundle_builder.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/dataset.h"
#include "core/status_macros.h"
#include "index/l2_normalize.h"
#include "index/leave_one_out.h"
#include "index/recall.h"
#include "trainer/run_files.h"

namespace sketch {
namespace {

std::vector<IndexedSketch> IndexRows(const std::vector<DatasetExample>& test,
                                     const std::vector<std::string>& classes) {
  std::vector<IndexedSketch> rows;
  rows.reserve(test.size());
  for (const DatasetExample& e : test) rows.push_back({e.sketch.key_id, e.label, classes[e.label]});
  return rows;
}

BundleManifest MakeManifest(const TrainedModel& model, const TrainConfig& config,
                            const Dataset& dataset, const BundleOptions& options,
                            const BundleReport& report) {
  BundleManifest m;
  m.architecture = model.model->architecture();
  m.input_size = model.model->input_size();
  m.classes = model.classes;
  m.recipe = config.recipe;
  m.train_config_json = TrainConfigToJson(config);
  m.dataset_path = options.dataset_path;
  m.dataset_seed = dataset.metadata.seed;
  m.num_train = static_cast<int64_t>(dataset.train.size());
  m.num_test = static_cast<int64_t>(dataset.test.size());
  m.index_l2_normalized = report.l2_normalized;
  m.index_type = options.index.type;
  m.index_recall_at_10 = report.index_recall_at_10;
  if (options.query_expansion.neighbors > 0) {
    m.index_query_expansion_neighbors = options.query_expansion.neighbors;
    m.index_query_expansion_alpha = options.query_expansion.alpha;
  }
  if (options.evaluate_train) {
    m.metrics["train_top1"] = report.train.top1;
    m.metrics["train_loss"] = report.train.loss;
  }
  m.metrics["test_top1"] = report.test.top1;
  m.metrics["test_top5"] = report.test.top5;
  m.metrics["test_loss"] = report.test.loss;
  m.metrics["map_raw"] = report.map_raw;
  m.metrics["map_l2"] = report.map_l2;
  m.metrics["map"] = report.l2_normalized ? report.map_l2 : report.map_raw;
  if (options.query_expansion.neighbors > 0) {
    m.metrics["map_query_expansion"] = report.map_query_expansion;
    m.metrics["map"] = report.map_query_expansion;  // what the server's searches rank by
  }
  return m;
}

}  // namespace

absl::StatusOr<FeatureNormalization> ParseFeatureNormalization(const std::string& name) {
  if (name == "auto") return FeatureNormalization::kAuto;
  if (name == "raw") return FeatureNormalization::kRaw;
  if (name == "l2") return FeatureNormalization::kL2;
  return absl::InvalidArgumentError(
      absl::StrCat("feature normalization '", name, "' is not auto, raw or l2"));
}

absl::Status CheckQueryExpansion(const QueryExpansionOptions& query_expansion,
                                 FeatureNormalization normalization, const IndexSpec& index) {
  RETURN_IF_ERROR(ValidateQueryExpansionOptions(query_expansion));
  if (query_expansion.neighbors == 0) return absl::OkStatus();
  if (normalization == FeatureNormalization::kRaw) {
    return absl::InvalidArgumentError(
        "query expansion needs L2-normalized features (--features l2 or auto), not raw");
  }
  ASSIGN_OR_RETURN(const IndexKind kind, IndexKindOfType(index.type));
  if (!SupportsQueryExpansion(kind)) {
    return absl::InvalidArgumentError(
        absl::StrCat("query expansion needs a Flat or HNSW index, not ", index.type,
                     " (FAISS finds an IVF vector by its id only by scanning every list)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<BundleReport> BuildBundle(const BundleOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(
      CheckQueryExpansion(options.query_expansion, options.normalization, options.index));
  ASSIGN_OR_RETURN(TrainedModel model, LoadTrainedModel(options.model_dir));
  model.preprocessing.test_time = options.test_time;
  TrainConfig config;
  RunInfo run_info;
  RETURN_IF_ERROR(ReadTrainConfig(options.model_dir, &config, &run_info));
  ASSIGN_OR_RETURN(Dataset dataset, ReadDataset(options.dataset_path));
  if (dataset.metadata.classes != model.classes) {
    return absl::InvalidArgumentError(absl::StrCat(options.dataset_path,
                                                   " has other classes than the model in ",
                                                   options.model_dir));
  }
  BundleReport report;
  EvaluateOptions eval = options.evaluate;
  if (options.evaluate_train) {
    eval.keep_features = false;
    eval.progress_label = options.evaluate.progress_label.empty() ? "" : "evaluate train";
    ASSIGN_OR_RETURN(report.train, EvaluateSplit(model, dataset.train, eval));
  }
  eval.keep_features = true;
  eval.progress_label = options.evaluate.progress_label.empty() ? "" : "evaluate test";
  ASSIGN_OR_RETURN(report.test, EvaluateSplit(model, dataset.test, eval));

  std::vector<float>& features = report.test.features;
  LeaveOneOutOptions loo;
  ASSIGN_OR_RETURN(RetrievalReport raw,
                   LeaveOneOutMapOfFeatures(features, kFeatureSize, report.test.labels, loo));
  loo.l2_normalize = true;
  ASSIGN_OR_RETURN(RetrievalReport l2,
                   LeaveOneOutMapOfFeatures(features, kFeatureSize, report.test.labels, loo));
  report.map_raw = raw.mean_average_precision;
  report.map_l2 = l2.mean_average_precision;
  const bool expand = options.query_expansion.neighbors > 0;
  if (expand) {
    loo.query_expansion = options.query_expansion;
    ASSIGN_OR_RETURN(RetrievalReport expanded,
                     LeaveOneOutMapOfFeatures(features, kFeatureSize, report.test.labels, loo));
    report.map_query_expansion = expanded.mean_average_precision;
  }
  report.l2_normalized =
      expand || options.normalization == FeatureNormalization::kL2 ||
      (options.normalization == FeatureNormalization::kAuto && report.map_l2 > report.map_raw);
  if (report.l2_normalized) L2NormalizeRows(&features, kFeatureSize);
  ASSIGN_OR_RETURN(auto index, FaissIndex::Build(features, kFeatureSize,
                                                 IndexRows(dataset.test, model.classes),
                                                 options.index));
  if (!index->exact()) {
    // Same seed as the training sample: a rebuild measures the same queries.
    ASSIGN_OR_RETURN(report.index_recall_at_10,
                     MeasureRecallAt10(*index, features, options.recall_queries,
                                       options.index.seed));
  }
  report.manifest = MakeManifest(model, config, dataset, options, report);
  RETURN_IF_ERROR(WriteBundle(options.bundle_dir, model, *index, report.manifest));
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::string FormatBundleReport(const BundleReport& r) {
  std::string out;
  if (r.train.count > 0) {
    absl::StrAppendFormat(&out, "train: %d drawings, top-1 %.4f, loss %.4f\n", r.train.count,
                          r.train.top1, r.train.loss);
  }
  absl::StrAppendFormat(&out, "test:  %d drawings, top-1 %.4f, top-5 %.4f, loss %.4f\n",
                        r.test.count, r.test.top1, r.test.top5, r.test.loss);
  absl::StrAppendFormat(&out, "leave-one-out mAP: raw %.4f, L2-normalized %.4f (index: %s)\n",
                        r.map_raw, r.map_l2, r.l2_normalized ? "L2-normalized" : "raw");
  if (r.manifest.index_query_expansion_neighbors > 0) {
    absl::StrAppendFormat(&out,
                          "leave-one-out mAP with query expansion (%d neighbours, alpha %g): "
                          "%.4f (served)\n",
                          r.manifest.index_query_expansion_neighbors,
                          r.manifest.index_query_expansion_alpha, r.map_query_expansion);
  }
  absl::StrAppendFormat(&out, "index: %s, recall@10 against exact search %.4f\n",
                        r.manifest.index_type, r.index_recall_at_10);
  return out;
}

}  // namespace sketch
