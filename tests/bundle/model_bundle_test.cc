#include "bundle/model_bundle.h"

#include <filesystem>
#include <fstream>
#include <functional>

#include "bundle/sha256.h"
#include "core/atomic_file.h"
#include "core/dataset.h"
#include "core/file_contents.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index/leave_one_out.h"
#include "nlohmann/json.hpp"
#include "trainer/bundle_builder.h"
#include "trainer/evaluate.h"
#include "tests/testing/sample_dataset.h"
#include "trainer/prepare.h"
#include "trainer/run_files.h"
#include "trainer/train.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("bundle_test_" + name);
  fs::remove_all(dir);
  return dir.string();
}

// One small trained model shared by the suite: 4 real classes, 32 px, a few dozen steps.
class BundleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto path =
        PrepareSampleDataset("bundle_test", {"airplane", "eye", "guitar", "television"}, 60, 20);
    ASSERT_TRUE(path.ok()) << path.status();
    TrainOptions t;
    t.dataset_path = *path;
    t.out_dir = TempDir("model");
    t.overrides.input_size = 48;
    t.overrides.batch_size = 16;
    t.overrides.epochs = 6;
    t.overrides.lr = 2e-3;
    t.threads = 2;
    t.precision = "fp32";
    t.checkpoint_every = 0;
    t.verbose = false;
    ASSERT_TRUE(Train(t).ok());
    dataset_path_ = new std::string(*path);
    model_dir_ = new std::string(t.out_dir);
  }
  static void TearDownTestSuite() {
    delete dataset_path_;
    delete model_dir_;
  }

  static BundleOptions Options(const std::string& bundle_dir) {
    BundleOptions o;
    o.model_dir = *model_dir_;
    o.dataset_path = *dataset_path_;
    o.bundle_dir = bundle_dir;
    return o;
  }

  static std::string* dataset_path_;
  static std::string* model_dir_;
};
std::string* BundleTest::dataset_path_ = nullptr;
std::string* BundleTest::model_dir_ = nullptr;

TEST_F(BundleTest, EvaluationCountsAreConsistent) {
  auto model = LoadTrainedModel(*model_dir_);
  ASSERT_TRUE(model.ok()) << model.status();
  auto dataset = ReadDataset(*dataset_path_);
  ASSERT_TRUE(dataset.ok());
  EvaluateOptions options;
  options.batch_size = 7;  // a ragged last batch
  auto eval = EvaluateSplit(*model, dataset->test, options);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_EQ(eval->count, 80);
  EXPECT_EQ(eval->features.size(), 80u * kFeatureSize);
  EXPECT_GE(eval->top5, eval->top1);
  EXPECT_GT(eval->top1, 0.4) << "chance is 0.25";
  int64_t total = 0, correct = 0;
  for (size_t t = 0; t < 4; ++t) {
    for (size_t p = 0; p < 4; ++p) total += eval->confusion[t][p];
    correct += eval->confusion[t][t];
  }
  EXPECT_EQ(total, 80);
  EXPECT_DOUBLE_EQ(eval->top1, correct / 80.0);
  for (size_t i = 0; i < dataset->test.size(); ++i)
    EXPECT_EQ(eval->labels[i], dataset->test[i].label);
  EXPECT_THAT(ConfusionMatrixCsv(*eval, model->classes), HasSubstr("true\\predicted,airplane"));
  EXPECT_THAT(PerClassAccuracyCsv(*eval, model->classes), HasSubstr("television,"));

  std::vector<DatasetExample> bad = {dataset->test[0]};
  bad[0].label = 9;
  EXPECT_EQ(EvaluateSplit(*model, bad, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BundleTest, BuildWritesABundleThatLoadsAndAgrees) {
  const std::string dir = TempDir("bundle");
  auto report = BuildBundle(Options(dir));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GT(report->map_raw, 0.3);  // random ranking of 4 balanced classes gives ~0.25
  auto bundle = LoadBundle(dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->manifest.architecture, "sknet");
  EXPECT_EQ(bundle->manifest.classes.size(), 4u);
  EXPECT_EQ(bundle->index->size(), 80);
  EXPECT_EQ(bundle->index->dimension(), kFeatureSize);
  EXPECT_EQ(bundle->bundle_hash.size(), 64u);
  EXPECT_DOUBLE_EQ(bundle->manifest.metrics.at("test_top1"), report->test.top1);

  // The index holds exactly the features the report measured: its own leave-one-out mAP agrees.
  std::vector<float> stored;
  std::vector<int> labels;
  for (int64_t id = 0; id < bundle->index->size(); ++id) {
    const auto v = bundle->index->Reconstruct(id);
    stored.insert(stored.end(), v.begin(), v.end());
    labels.push_back(bundle->index->metadata(id).label);
  }
  auto map = LeaveOneOutMapOfFeatures(stored, kFeatureSize, labels, false);
  ASSERT_TRUE(map.ok());
  EXPECT_NEAR(map->mean_average_precision, bundle->manifest.metrics.at("map"), 1e-9);
}

TEST_F(BundleTest, CorruptOrMismatchedBundlesAreRefusedWithTheirFile) {
  const std::string dir = TempDir("corrupt");
  ASSERT_TRUE(BuildBundle(Options(dir)).ok());

  fs::resize_file(dir + "/model.pt", fs::file_size(dir + "/model.pt") / 2);
  auto truncated = LoadBundle(dir);
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(truncated.status().message(), HasSubstr("model.pt"));

  ASSERT_TRUE(BuildBundle(Options(dir)).ok());
  { std::ofstream(dir + "/index_metadata.tsv", std::ios::app) << "x"; }
  EXPECT_THAT(LoadBundle(dir).status().message(), HasSubstr("index_metadata.tsv"));

  ASSERT_TRUE(BuildBundle(Options(dir)).ok());
  { std::ofstream(dir + "/manifest.json") << "{\"format\": \"something else\"}"; }
  EXPECT_EQ(LoadBundle(dir).status().code(), absl::StatusCode::kDataLoss);

  EXPECT_EQ(LoadBundle(TempDir("nothing")).status().code(), absl::StatusCode::kNotFound);

  BundleOptions wrong = Options(TempDir("wrong"));
  auto other = PrepareSampleDataset("other", {"cat", "dragon", "map", "monkey"}, 10, 5);
  ASSERT_TRUE(other.ok()) << other.status();
  wrong.dataset_path = *other;
  EXPECT_EQ(BuildBundle(wrong).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BundleTest, RewritingIsAtomicAndAnInterruptedSwapFallsBack) {
  const std::string dir = TempDir("atomic");
  ASSERT_TRUE(BuildBundle(Options(dir)).ok());
  const std::string first_hash = LoadBundle(dir)->bundle_hash;
  // A crash between WriteBundle's renames: the old bundle sits at .old, nothing at dir.
  fs::rename(dir, dir + ".old");
  auto fallback = LoadBundle(dir);
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->bundle_hash, first_hash);
  // A crash while writing: a stale .tmp is ignored and replaced.
  fs::create_directories(dir + ".tmp/junk");
  ASSERT_TRUE(BuildBundle(Options(dir)).ok());
  EXPECT_TRUE(LoadBundle(dir).ok());
  EXPECT_FALSE(fs::exists(dir + ".old"));
  EXPECT_FALSE(fs::exists(dir + ".tmp"));
}

// Format 2 loads from the manifest alone; the training config is an opaque document in it (a
// config the trainer would now reject does not stop a bundle from loading), and a format-1
// bundle, which carries a train_config.json beside the manifest, still loads.
TEST_F(BundleTest, LoadsFromTheManifestAloneAndReadsFormatOne) {
  const std::string dir = TempDir("manifest_only");
  ASSERT_TRUE(BuildBundle(Options(dir)).ok());
  EXPECT_FALSE(fs::exists(dir + "/train_config.json"));
  auto manifest = ReadJsonObjectFile(dir + "/manifest.json");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ((*manifest)["format_version"], kBundleFormatVersion);
  EXPECT_TRUE((*manifest)["train_config"].is_object());

  auto rewrite = [&](const std::function<void(nlohmann::json*)>& edit) {
    nlohmann::json j = *manifest;
    edit(&j);
    ASSERT_TRUE(WriteFileAtomically(dir + "/manifest.json", j.dump(2)).ok());
  };
  rewrite([](nlohmann::json* j) { (*j)["train_config"]["lr"] = -1; });
  auto odd_config = LoadBundle(dir);
  ASSERT_TRUE(odd_config.ok()) << odd_config.status();
  EXPECT_THAT(odd_config->manifest.train_config_json, HasSubstr("-1"));

  fs::copy_file(*model_dir_ + "/train_config.json", dir + "/train_config.json");
  auto digest = Sha256File(dir + "/train_config.json");
  ASSERT_TRUE(digest.ok());
  rewrite([&](nlohmann::json* j) {
    (*j)["format_version"] = 1;
    (*j)["files"]["train_config.json"] = *digest;
  });
  auto version_one = LoadBundle(dir);
  ASSERT_TRUE(version_one.ok()) << version_one.status();
  EXPECT_EQ(version_one->manifest.format_version, 1);
  EXPECT_EQ(version_one->model.classes, odd_config->model.classes);

  rewrite([](nlohmann::json* j) { (*j)["format_version"] = kBundleFormatVersion + 1; });
  EXPECT_EQ(LoadBundle(dir).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sketch
