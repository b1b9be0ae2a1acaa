#include "server/bundle_loader.h"

#include <algorithm>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "bundle/model_bundle.h"
#include "core/dataset.h"
#include "core/retrieval_metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index/l2_normalize.h"
#include "index/leave_one_out.h"
#include "tests/server/model_fixture.h"
#include "trainer/bundle_builder.h"

namespace sketch {
namespace {

using ::sketch::testing::FreshTempDir;
using ::sketch::testing::SharedModelFixture;
using ::testing::HasSubstr;

absl::StatusOr<BundleReport> Build(const std::string& dir, FeatureNormalization normalization,
                                   const IndexSpec& index = IndexSpec(),
                                   const QueryExpansionOptions& query_expansion = {}) {
  const testing::ModelFixture* fixture = SharedModelFixture();
  if (fixture == nullptr) return absl::InternalError("no trained model");
  BundleOptions options;
  options.model_dir = fixture->model_dir;
  options.dataset_path = fixture->dataset_path;
  options.bundle_dir = dir;
  options.normalization = normalization;
  options.evaluate_train = false;
  options.index = index;
  options.query_expansion = query_expansion;
  return BuildBundle(options);
}

// The leave-one-out mAP with distances in double precision. features: float [labels.size(), 1024].
double ExactLeaveOneOutMap(const std::vector<float>& features, const std::vector<int>& labels) {
  const size_t n = labels.size(), d = kFeatureSize;
  LeaveOneOutMapAccumulator accumulator(labels);
  for (size_t q = 0; q < n; ++q) {
    std::vector<std::pair<double, int64_t>> ranked;  // (distance, id): ties by id, as FAISS's
    for (size_t i = 0; i < n; ++i) {
      if (i == q) continue;
      double distance = 0;
      for (size_t j = 0; j < d; ++j) {
        const double diff = double(features[q * d + j]) - features[i * d + j];
        distance += diff * diff;
      }
      ranked.push_back({distance, static_cast<int64_t>(i)});
    }
    std::sort(ranked.begin(), ranked.end());
    std::vector<int64_t> ranking;
    for (const auto& r : ranked) ranking.push_back(r.second);
    EXPECT_TRUE(accumulator.AddRanking(static_cast<int64_t>(q), ranking).ok());
  }
  auto report = accumulator.Finish();
  return report.ok() ? report->mean_average_precision : -1;
}

// The rows of the bundle in `dir` as its index stores them: float [index size, 1024]; empty when
// it does not load.
std::vector<float> IndexedRows(const std::string& dir) {
  auto loaded = LoadBundle(dir);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  std::vector<float> indexed;
  if (!loaded.ok()) return indexed;
  for (int64_t id = 0; id < loaded->index->size(); ++id) {
    const std::vector<float> row = loaded->index->Reconstruct(id);
    indexed.insert(indexed.end(), row.begin(), row.end());
  }
  return indexed;
}

struct LiveRun {
  std::vector<float> features;  // float [n, 1024], as the served index compares them
  double map = -1;              // through the served index, one query at a time like the server
};

// What `sketch map` measures against a server, in-process: every test drawing embedded by the
// served model and ranked against the served index with itself left out.
LiveRun RunLive(const ServableBundle& bundle, const std::vector<DatasetExample>& test,
                const std::vector<int>& labels) {
  LiveRun run;
  std::vector<const Sketch*> sketches;
  for (const DatasetExample& e : test) sketches.push_back(&e.sketch);
  auto embedded = bundle.embedder->EmbedBatch(sketches);
  EXPECT_TRUE(embedded.ok()) << embedded.status();
  if (!embedded.ok()) return run;
  LeaveOneOutMapAccumulator accumulator(labels);
  const int n = static_cast<int>(test.size());
  for (int q = 0; q < n; ++q) {
    const std::vector<float>& feature = embedded->embeddings[q].feature;
    run.features.insert(run.features.end(), feature.begin(), feature.end());
    auto hits = bundle.index->Search(feature, n);
    EXPECT_TRUE(hits.ok()) << hits.status();
    if (!hits.ok()) return run;
    EXPECT_EQ((*hits)[0][0].id, q) << "a test drawing is its own nearest indexed sketch";
    std::vector<int64_t> ranking;
    for (const Neighbor& nb : (*hits)[0]) {
      if (nb.id != q) ranking.push_back(nb.id);
    }
    EXPECT_TRUE(accumulator.AddRanking(q, ranking).ok());
  }
  if (bundle.index_l2_normalized) L2NormalizeRows(&run.features, kFeatureSize);
  auto report = accumulator.Finish();
  EXPECT_TRUE(report.ok()) << report.status();
  if (report.ok()) run.map = report->mean_average_precision;
  return run;
}

// The served model and index rank the test set exactly as the offline features do. The manifest's
// mAP is only close: LeaveOneOutMapOfFeatures searches 256 queries at a time, where FAISS takes
// |q|^2 + |x|^2 - 2 q.x in float32, whose rounding reorders near neighbours when features share
// a large common part (as this barely trained model's do: neighbours lie 1e-5 of |q|^2 apart).
TEST(BundleLoaderTest, ServesWhatTheBundleIndexedWithRawAndL2Features) {
  for (FeatureNormalization normalization :
       {FeatureNormalization::kRaw, FeatureNormalization::kL2}) {
    const bool l2 = normalization == FeatureNormalization::kL2;
    SCOPED_TRACE(l2 ? "l2" : "raw");
    const std::string dir = FreshTempDir(l2 ? "bundle_l2" : "bundle_raw");
    auto report = Build(dir, normalization);
    ASSERT_TRUE(report.ok()) << report.status();
    auto bundle = LoadServableBundle(dir, {});
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    EXPECT_EQ(bundle->index_l2_normalized, l2);
    EXPECT_EQ(bundle->info.architecture, "sknet");
    EXPECT_EQ(bundle->info.bundle_hash.size(), 64u);
    EXPECT_EQ(bundle->precision, "fp32");
    EXPECT_GE(bundle->threads, 1);
    EXPECT_EQ(bundle->info.test_time_views, 1);
    EXPECT_EQ(bundle->embedder->num_classes(), 4);
    ASSERT_EQ(bundle->index->size(), 40);
    ASSERT_EQ(bundle->info.metrics.count("map"), 1u);

    auto dataset = ReadDataset(report->manifest.dataset_path);
    ASSERT_TRUE(dataset.ok());
    std::vector<int> labels;
    for (const DatasetExample& e : dataset->test) labels.push_back(e.label);
    const LiveRun live = RunLive(*bundle, dataset->test, labels);
    const std::vector<float> indexed = IndexedRows(dir);
    ASSERT_EQ(indexed.size(), labels.size() * kFeatureSize);
    const double exact_offline = ExactLeaveOneOutMap(indexed, labels);
    EXPECT_NEAR(ExactLeaveOneOutMap(live.features, labels), exact_offline, 1e-9);
    EXPECT_NEAR(live.map, exact_offline, 1e-9);
    EXPECT_NEAR(live.map, bundle->info.metrics.at("map"), 1e-2);
  }
}

TEST(BundleLoaderTest, ReportsTheIndexAndAppliesTheServersDefaultKnobs) {
  const std::string flat_dir = FreshTempDir("bundle_flat_info");
  ASSERT_TRUE(Build(flat_dir, FeatureNormalization::kRaw).ok());
  auto flat = LoadServableBundle(flat_dir, {});
  ASSERT_TRUE(flat.ok()) << flat.status();
  EXPECT_EQ(flat->info.index.type, "Flat");
  EXPECT_TRUE(flat->info.index.exact);
  EXPECT_DOUBLE_EQ(flat->info.index.recall_at_10, 1.0);

  const std::string dir = FreshTempDir("bundle_hnsw");
  IndexSpec spec;
  spec.type = "HNSW8";
  spec.default_knobs.ef_search = 20;
  auto report = Build(dir, FeatureNormalization::kL2, spec);
  ASSERT_TRUE(report.ok()) << report.status();
  auto bundle_default = LoadServableBundle(dir, {});
  ASSERT_TRUE(bundle_default.ok()) << bundle_default.status();
  EXPECT_EQ(bundle_default->info.index.type, "HNSW8");
  EXPECT_FALSE(bundle_default->info.index.exact);
  EXPECT_DOUBLE_EQ(bundle_default->info.index.recall_at_10, report->index_recall_at_10);
  EXPECT_EQ(bundle_default->info.index.default_knobs.ef_search, 20);  // the bundle's
  ModelServingOptions options;
  options.default_knobs.ef_search = 64;  // --ef-search
  auto bundle = LoadServableBundle(dir, options);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->info.index.default_knobs.ef_search, 64);
  EXPECT_EQ(bundle->info.index.default_knobs.nprobe, 0);
  options.default_knobs.ef_search = -1;
  EXPECT_EQ(LoadServableBundle(dir, options).status().code(), absl::StatusCode::kInvalidArgument);
}

// A bundle with query expansion: the manifest records it, the server's index expands every query,
// and what `sketch map` measures through it (each drawing's own key excluded, so that it never
// expands itself) equals the offline leave-one-out mAP with the same expansion.
TEST(BundleLoaderTest, ExpandsQueriesAsTheBundleSays) {
  const std::string dir = FreshTempDir("bundle_query_expansion");
  const QueryExpansionOptions expansion{/*neighbors=*/3, /*alpha=*/3.0};
  auto report = Build(dir, FeatureNormalization::kAuto, IndexSpec(), expansion);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->l2_normalized);  // auto chooses L2 when queries are expanded
  EXPECT_EQ(report->manifest.index_query_expansion_neighbors, 3);
  EXPECT_DOUBLE_EQ(report->manifest.index_query_expansion_alpha, 3.0);
  EXPECT_DOUBLE_EQ(report->manifest.metrics.at("map"), report->map_query_expansion);
  EXPECT_DOUBLE_EQ(report->manifest.metrics.at("map_l2"), report->map_l2);
  EXPECT_THAT(FormatBundleReport(*report), HasSubstr("query expansion (3 neighbours, alpha 3)"));

  auto bundle = LoadServableBundle(dir, {});
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->info.index.query_expansion_neighbors, 3);
  EXPECT_DOUBLE_EQ(bundle->info.index.query_expansion_alpha, 3.0);
  auto dataset = ReadDataset(report->manifest.dataset_path);
  ASSERT_TRUE(dataset.ok());
  std::vector<const Sketch*> sketches;
  std::vector<int> labels;
  for (const DatasetExample& e : dataset->test) {
    sketches.push_back(&e.sketch);
    labels.push_back(e.label);
  }
  auto embedded = bundle->embedder->EmbedBatch(sketches);
  ASSERT_TRUE(embedded.ok()) << embedded.status();
  const int n = static_cast<int>(labels.size());
  LeaveOneOutMapAccumulator live(labels);
  for (int q = 0; q < n; ++q) {
    SearchFilter filter;
    filter.excluded_ids = {q};
    auto hits = bundle->index->Search(embedded->embeddings[q].feature, n - 1, filter);
    ASSERT_TRUE(hits.ok()) << hits.status();
    std::vector<int64_t> ranking;
    for (const Neighbor& nb : (*hits)[0]) ranking.push_back(nb.id);
    ASSERT_TRUE(live.AddRanking(q, ranking).ok());
  }
  auto live_report = live.Finish();
  ASSERT_TRUE(live_report.ok());

  const std::vector<float> indexed = IndexedRows(dir);
  ASSERT_EQ(indexed.size(), labels.size() * kFeatureSize);
  LeaveOneOutOptions offline_options;
  offline_options.query_expansion = expansion;
  auto offline = LeaveOneOutMapOfFeatures(indexed, kFeatureSize, labels, offline_options);
  ASSERT_TRUE(offline.ok()) << offline.status();
  EXPECT_NEAR(live_report->mean_average_precision, offline->mean_average_precision, 1e-9);
  EXPECT_NEAR(live_report->mean_average_precision, bundle->info.metrics.at("map"), 1e-2);

  // Refused before any evaluation: raw features, an IVF index.
  auto raw =
      Build(FreshTempDir("bundle_qe_raw"), FeatureNormalization::kRaw, IndexSpec(), expansion);
  EXPECT_EQ(raw.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(raw.status().message(), HasSubstr("L2-normalized"));
  IndexSpec ivf;
  ivf.type = "IVF4,Flat";
  auto refused = Build(FreshTempDir("bundle_qe_ivf"), FeatureNormalization::kL2, ivf, expansion);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("IVF4,Flat"));
}

TEST(BundleLoaderTest, AServerWarmsUpEveryBatchSizeItFormsUpTo64) {
  EXPECT_EQ(WarmupMaxBatchSizeFor(1), 1);
  EXPECT_EQ(WarmupMaxBatchSizeFor(32), 32);
  EXPECT_EQ(WarmupMaxBatchSizeFor(64), 64);
  EXPECT_EQ(WarmupMaxBatchSizeFor(4096), 64);
}

TEST(BundleLoaderTest, ErrorsSayWhatIsWrong) {
  auto missing = LoadServableBundle(FreshTempDir("no_bundle"), {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("no_bundle"));

  ModelServingOptions bad_precision;
  bad_precision.precision = "fp16";
  EXPECT_EQ(LoadServableBundle(FreshTempDir("no_bundle"), bad_precision).status().code(),
            absl::StatusCode::kInvalidArgument);

  const std::string dir = FreshTempDir("corrupt");
  ASSERT_TRUE(Build(dir, FeatureNormalization::kAuto).ok());
  { std::ofstream(dir + "/model.pt", std::ios::app) << "junk"; }
  auto corrupt = LoadServableBundle(dir, {});
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(corrupt.status().message(), HasSubstr("model.pt"));
}

}  // namespace
}  // namespace sketch
