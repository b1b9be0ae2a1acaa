#include "bundle/model_bundle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bundle/sha256.h"
#include "core/atomic_file.h"
#include "core/dataset.h"
#include "core/file_contents.h"
#include "core/npy_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index/leave_one_out.h"
#include "nlohmann/json.hpp"
#include "tests/testing/sample_dataset.h"
#include "tests/testing/temp_files.h"
#include "trainer/bundle_builder.h"
#include "trainer/evaluate.h"
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
  auto map = LeaveOneOutMapOfFeatures(stored, kFeatureSize, labels, {});
  ASSERT_TRUE(map.ok());
  EXPECT_NEAR(map->mean_average_precision, bundle->manifest.metrics.at("map"), 1e-9);
}

TEST_F(BundleTest, ApproximateIndexTypesRecordTheirRecallAndLoad) {
  const std::string dir = TempDir("hnsw_bundle");
  BundleOptions options = Options(dir);
  options.evaluate_train = false;
  options.index.type = "HNSW8";
  options.index.default_knobs.ef_search = 24;
  auto report = BuildBundle(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GT(report->index_recall_at_10, 0.5);
  EXPECT_LE(report->index_recall_at_10, 1.0);
  auto bundle = LoadBundle(dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->manifest.index_type, "HNSW8");
  EXPECT_DOUBLE_EQ(bundle->manifest.index_recall_at_10, report->index_recall_at_10);
  EXPECT_EQ(bundle->manifest.index_ef_search, 24);
  EXPECT_EQ(bundle->index->kind(), IndexKind::kHnsw);
  EXPECT_EQ(bundle->index->default_knobs().ef_search, 24);

  // A manifest that names another kind of index than index.faiss holds is refused.
  const std::string manifest_path = dir + "/manifest.json";
  std::string text = ReadFileBytes(manifest_path);
  const size_t at = text.find("\"HNSW8\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 7, "\"IVF4,Flat\"");
  std::ofstream(manifest_path, std::ios::trunc) << text;
  auto mismatched = LoadBundle(dir);
  EXPECT_EQ(mismatched.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(mismatched.status().message()), HasSubstr("index.faiss is a hnsw index"));

  options.index.type = "IVF4,Flat";
  options.index.default_knobs = {};
  ASSERT_TRUE(BuildBundle(options).ok());
  auto ivf = LoadBundle(dir);
  ASSERT_TRUE(ivf.ok()) << ivf.status();
  EXPECT_EQ(ivf->index->kind(), IndexKind::kIvf);
  options.index.type = "LSH";
  EXPECT_EQ(BuildBundle(options).status().code(), absl::StatusCode::kInvalidArgument);
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
  {  // the manifest's model takes another size than preprocessing.json rasterizes
    nlohmann::json manifest = nlohmann::json::parse(ReadFileBytes(dir + "/manifest.json"));
    manifest["input_size"] = manifest["input_size"].get<int>() * 2;
    std::ofstream(dir + "/manifest.json") << manifest.dump();
  }
  auto resized = LoadBundle(dir);
  EXPECT_EQ(resized.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(resized.status().message(), HasSubstr("preprocessing.json rasterizes"));

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

TEST_F(BundleTest, RewritingIsAtomicAndAnInterruptedSwapIsReportedNotServed) {
  const std::string dir = TempDir("atomic");
  ASSERT_TRUE(BuildBundle(Options(dir)).ok());
  // A crash between WriteBundle's renames: the old bundle sits at .old, nothing at dir. It is
  // named, not served in dir's place.
  fs::rename(dir, dir + ".old");
  auto fallback = LoadBundle(dir);
  EXPECT_EQ(fallback.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(fallback.status().message()), HasSubstr(dir + ".old"));
  // A corrupt .old: the same clear error, nothing of it is read.
  fs::resize_file(dir + ".old/model.pt", 100);
  fallback = LoadBundle(dir);
  EXPECT_EQ(fallback.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(fallback.status().message()), HasSubstr(dir + ".old"));
  // A crash after the new bundle is in place, before the old one is deleted: dir is served.
  ASSERT_TRUE(BuildBundle(Options(dir)).ok());
  fs::copy(dir, dir + ".old", fs::copy_options::recursive);
  fs::resize_file(dir + ".old/model.pt", 100);
  auto served = LoadBundle(dir);
  ASSERT_TRUE(served.ok()) << served.status();
  // A crash while writing: a stale .tmp is ignored and replaced.
  fs::create_directories(dir + ".tmp/junk");
  ASSERT_TRUE(BuildBundle(Options(dir)).ok());
  EXPECT_TRUE(LoadBundle(dir).ok());
  EXPECT_FALSE(fs::exists(dir + ".old"));
  EXPECT_FALSE(fs::exists(dir + ".tmp"));
}

// Opens `fifo` for writing after `delay` unless destroyed first: a loader that opened it for
// reading (and would block for ever) then reads an empty file, so a test fails instead of hanging.
class FifoWatchdog {
 public:
  FifoWatchdog(std::string fifo, std::chrono::seconds delay)
      : thread_([this, fifo = std::move(fifo), delay] {
          std::unique_lock<std::mutex> lock(mu_);
          if (cv_.wait_for(lock, delay, [this] { return done_; })) return;
          while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return done_; })) {
            const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // ENXIO without a reader
            if (fd >= 0) ::close(fd);
          }
        }) {}
  ~FifoWatchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: it uses the members above
};

// A bundle whose manifest is edited after it was built: `Manifest` reads it, `Save` writes it.
class HostileBundleTest : public BundleTest {
 protected:
  void Build(const std::string& name) {
    dir_ = TempDir(name);
    outside_ = fs::path(dir_).parent_path().string();
    ASSERT_TRUE(BuildBundle(Options(dir_)).ok());
    auto manifest = ReadJsonObjectFile(dir_ + "/manifest.json");
    ASSERT_TRUE(manifest.ok()) << manifest.status();
    manifest_ = *manifest;
  }
  void Save(const nlohmann::json& manifest) {
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/manifest.json", manifest.dump(2)).ok());
  }
  // The manifest with one more file listed, pinned by the digest of `contents_of`.
  void SaveWithFile(const std::string& name, const std::string& contents_of) {
    nlohmann::json manifest = manifest_;
    auto digest = Sha256File(contents_of);
    ASSERT_TRUE(digest.ok()) << digest.status();
    manifest["files"][name] = *digest;
    Save(manifest);
  }
  void ExpectRefused(const std::string& what, const std::vector<std::string>& substrings,
                     const BundleLimits& limits = BundleLimits()) {
    auto loaded = LoadBundle(dir_, limits);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss)
        << what << ": " << loaded.status();
    for (const std::string& s : substrings) {
      EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(s)) << what;
    }
  }

  std::string dir_, outside_;
  nlohmann::json manifest_;
};

TEST_F(HostileBundleTest, ManifestNamesMustBePlainFileNames) {
  Build("names");
  // A real file outside the bundle, pinned by its true digest: only its name is wrong.
  const std::string outside = outside_ + "/outside.bin";
  { std::ofstream(outside) << "not part of the bundle"; }
  for (const std::string& name : {std::string("../outside.bin"), outside, std::string("/dev/zero"),
                                  std::string(".hidden"), std::string("sub/dir.bin")}) {
    SaveWithFile(name, outside);
    ExpectRefused(name, {"\"" + name + "\"", "not a plain file name"});
  }
  Save(manifest_);
  EXPECT_TRUE(LoadBundle(dir_).ok());
}

TEST_F(HostileBundleTest, FilesMustBeRegularFilesInTheBundle) {
  Build("special");
  // model.pt as a symlink to an identical copy outside: same digest, still refused.
  fs::copy_file(dir_ + "/model.pt", outside_ + "/outside_model.pt",
                fs::copy_options::overwrite_existing);
  fs::remove(dir_ + "/model.pt");
  fs::create_symlink(outside_ + "/outside_model.pt", dir_ + "/model.pt");
  ExpectRefused("symlinked model", {"model.pt", "a symbolic link"});
  fs::remove(dir_ + "/model.pt");
  fs::copy_file(outside_ + "/outside_model.pt", dir_ + "/model.pt");
  EXPECT_TRUE(LoadBundle(dir_).ok());

  // The manifest itself as a symlink.
  fs::rename(dir_ + "/manifest.json", outside_ + "/outside_manifest.json");
  fs::create_symlink(outside_ + "/outside_manifest.json", dir_ + "/manifest.json");
  ExpectRefused("symlinked manifest", {"manifest.json", "a symbolic link"});
  fs::remove(dir_ + "/manifest.json");
  fs::rename(outside_ + "/outside_manifest.json", dir_ + "/manifest.json");

  // A FIFO listed in the manifest: never opened (a reader would block on it; the watchdog ends
  // such a block, so that a loader that opens it fails this test instead of hanging it).
  const std::string fifo = dir_ + "/notes.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  nlohmann::json manifest = manifest_;
  manifest["files"]["notes.fifo"] = std::string(64, '0');
  Save(manifest);
  {
    FifoWatchdog watchdog(fifo, std::chrono::seconds(20));
    ExpectRefused("FIFO", {"notes.fifo", "a FIFO"});
  }
  // A device node, where this process may make one (root with CAP_MKNOD): /dev/null's, so that a
  // loader that reads it sees an empty file and fails this test (/dev/zero's would hang it).
  if (::mknod((dir_ + "/null.bin").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0) {
    manifest = manifest_;
    manifest["files"]["null.bin"] = std::string(64, '0');
    Save(manifest);
    ExpectRefused("device", {"null.bin", "a device"});
  }
}

TEST_F(HostileBundleTest, OversizedFilesAreRefusedBeforeTheyAreHashed) {
  Build("oversized");
  BundleLimits limits;
  limits.model_bytes = 1000;
  ExpectRefused("small model cap", {"model.pt", "over the cap of 1000 bytes"}, limits);

  // A sparse file one byte over the default cap, listed with its true digest: only its size is
  // wrong.
  const std::string big = dir_ + "/padding.bin";
  { std::ofstream(big) << ""; }
  fs::resize_file(big, static_cast<uintmax_t>(BundleLimits().small_file_bytes) + 1);
  SaveWithFile("padding.bin", big);
  ExpectRefused("sparse padding", {"padding.bin", "over the cap"});
}

// preprocessing.json names the mean image, which is read from the bundle: a plain name of a file
// the manifest lists, or nothing.
TEST_F(HostileBundleTest, TheMeanImageIsAListedFileOfTheBundle) {
  Build("mean_image");
  auto preprocessing = ReadJsonObjectFile(dir_ + "/preprocessing.json");
  ASSERT_TRUE(preprocessing.ok()) << preprocessing.status();
  const int64_t size = (*preprocessing)["raster"]["size"].get<int64_t>();
  const std::string npy = EncodeNpyFloat32(std::vector<float>(size * size, 0.0f), {size, size});
  ASSERT_TRUE(WriteFileAtomically(outside_ + "/outside_mean.npy", npy).ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/mean_image.npy", npy).ok());

  auto save_with_mean_image = [&](const std::string& name, bool list_it) {
    nlohmann::json p = *preprocessing;
    p["normalization"]["mean_image"] = name;
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/preprocessing.json", p.dump(2)).ok());
    nlohmann::json manifest = manifest_;
    manifest["files"]["preprocessing.json"] = *Sha256File(dir_ + "/preprocessing.json");
    if (list_it) manifest["files"]["mean_image.npy"] = *Sha256File(dir_ + "/mean_image.npy");
    Save(manifest);
  };
  save_with_mean_image("mean_image.npy", true);
  auto loaded = LoadBundle(dir_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->model.preprocessing.normalization.mean_image.size(),
            static_cast<size_t>(size * size));

  save_with_mean_image("mean_image.npy", false);
  ExpectRefused("unlisted", {"mean_image.npy", "not a file the manifest lists"});
  // An absolute name replaces the directory in a path join: "/dev/null" stands for any device
  // ("/dev/zero" would make a loader that reads it exhaust the memory instead of failing).
  for (const std::string& name : {outside_ + "/outside_mean.npy",
                                  std::string("../outside_mean.npy"), std::string("/dev/null")}) {
    save_with_mean_image(name, true);
    ExpectRefused(name, {"preprocessing.json", "mean_image", "not a plain file name"});
  }
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
