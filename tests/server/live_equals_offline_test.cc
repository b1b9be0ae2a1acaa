// The one-inference-engine promise, end to end in-process: for the drawings a bundle indexed,
// the features the server computes (LoadServableBundle's TorchEmbedder, fp32) are the features
// `sketch-trainer bundle` indexed and the ones EvaluateSplit returns — the same InferenceEngine
// on the same input, so live mAP == offline mAP follows from code, not from a comment.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "bundle/model_bundle.h"
#include "core/dataset.h"
#include "gtest/gtest.h"
#include "server/bundle_loader.h"
#include "tests/server/model_fixture.h"
#include "trainer/bundle_builder.h"
#include "trainer/evaluate.h"
#include "trainer/run_files.h"

namespace sketch {
namespace {

using ::sketch::testing::FreshTempDir;
using ::sketch::testing::SharedModelFixture;

// Largest |a - b| over two float [n, 1024] feature matrices.
double MaxDifference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - b[i]));
  }
  return diff;
}

// Builds a bundle of the fixture's model with `views`, then compares the served, indexed and
// evaluated features of its test drawings.
void ExpectLiveEqualsOffline(const TestTimeViews& views, const std::string& name) {
  const testing::ModelFixture* fixture = SharedModelFixture();
  ASSERT_NE(fixture, nullptr);
  BundleOptions options;
  options.model_dir = fixture->model_dir;
  options.dataset_path = fixture->dataset_path;
  options.bundle_dir = FreshTempDir(name);
  options.test_time = views;
  options.normalization = FeatureNormalization::kRaw;  // the index holds the features as computed
  options.evaluate_train = false;
  options.evaluate.batch_size = 7;  // other batch boundaries than the server's single batch
  auto report = BuildBundle(options);
  ASSERT_TRUE(report.ok()) << report.status();

  auto dataset = ReadDataset(fixture->dataset_path);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  std::vector<const Sketch*> sketches;
  for (const DatasetExample& e : dataset->test) sketches.push_back(&e.sketch);

  // Live: what sketch-server computes for these drawings.
  ModelServingOptions serving;
  serving.precision = "fp32";
  auto servable = LoadServableBundle(options.bundle_dir, serving);
  ASSERT_TRUE(servable.ok()) << servable.status();
  EXPECT_EQ(servable->info.test_time_views, ViewCount(views));
  std::vector<float> live;
  for (const Sketch* sketch : sketches) {  // one request at a time, as a client sends them
    auto embedded = servable->embedder->EmbedBatch({sketch});
    ASSERT_TRUE(embedded.ok()) << embedded.status();
    const std::vector<float>& f = embedded->embeddings[0].feature;
    live.insert(live.end(), f.begin(), f.end());
  }

  // Offline: what the bundle indexed, and a fresh EvaluateSplit of the trained model.
  auto bundle = LoadBundle(options.bundle_dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  std::vector<float> indexed;
  for (int64_t id = 0; id < bundle->index->size(); ++id) {
    const std::vector<float> row = bundle->index->Reconstruct(id);
    indexed.insert(indexed.end(), row.begin(), row.end());
  }
  auto model = LoadTrainedModel(fixture->model_dir);
  ASSERT_TRUE(model.ok()) << model.status();
  model->preprocessing.test_time = views;
  EvaluateOptions evaluate;
  evaluate.precision = Precision::kFp32;
  auto evaluation = EvaluateSplit(*model, dataset->test, evaluate);
  ASSERT_TRUE(evaluation.ok()) << evaluation.status();

  ASSERT_EQ(live.size(), sketches.size() * kFeatureSize);
  EXPECT_LE(MaxDifference(live, indexed), 1e-6);
  EXPECT_LE(MaxDifference(live, evaluation->features), 1e-6);
  // Batches of another size may round the last bit differently (oneDNN's blocking), never more.
  EXPECT_LE(MaxDifference(evaluation->features, report->test.features), 1e-6);
}

TEST(LiveEqualsOfflineTest, ServedFeaturesAreTheIndexedAndEvaluatedOnes) {
  ExpectLiveEqualsOffline(TestTimeViews(), "live_equals_offline");
}

// With test-time views (the mirror and rotations by +/- 6 degrees) the server rasterizes and
// averages each query's six views as the bundle did.
TEST(LiveEqualsOfflineTest, SoWithTestTimeViews) {
  TestTimeViews views;
  views.mirror = true;
  views.rotation_degrees = 6.0f;
  ExpectLiveEqualsOffline(views, "live_equals_offline_views");
}

}  // namespace
}  // namespace sketch
