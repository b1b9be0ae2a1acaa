#include "trainer/gallery_builder.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bundle/model_bundle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/read_all.h"
#include "tests/testing/temp_files.h"
#include "tests/testing/tiny_model.h"
#include "trainer/bundle_builder.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kData = SKETCH_TEST_DATA_DIR "/quickdraw";

// A tiny model (2 of the sample's classes, 32 px, a few steps) and a small mixed gallery: 25
// simplified drawings of each of 6 words the model never saw plus 20 raw ants and the 28x28
// stars (a bitmap file), and 2 files of the model's own classes.
class GalleryBuilderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto tiny = TrainTinyModel("gallery_test");
    ASSERT_TRUE(tiny.ok()) << tiny.status();
    model_dir_ = new std::string(tiny->dir);
    dataset_path_ = new std::string(tiny->dataset);
  }
  static void TearDownTestSuite() {
    delete model_dir_;
    delete dataset_path_;
  }

  static std::vector<std::string> Inputs() {
    return {kData + "/simplified-25", kData + "/numpy_bitmap/star.npy",
            kData + "/simplified/cat.ndjson", kData + "/simplified/eye.ndjson"};
  }
  static GalleryOptions Options(const std::string& out) {
    GalleryOptions o;
    o.model = *model_dir_;
    o.inputs = Inputs();
    o.out_dir = TempPath(out);
    o.features.chunk_size = 100;
    o.features.batch_size = 32;
    fs::remove_all(o.out_dir);
    fs::remove_all(o.out_dir + ".work");
    return o;
  }
  // Every record of the inputs, in the order the gallery indexes them.
  static std::vector<Sketch> InputDrawings() {
    std::vector<Sketch> all;
    auto files = ListDrawingFiles(Inputs());
    EXPECT_TRUE(files.ok());
    for (const DrawingFile& f : *files) {
      std::vector<Sketch> some = ReadAll(f.path, fs::path(f.path).stem().string());
      all.insert(all.end(), some.begin(), some.end());
    }
    return all;
  }

  static std::string* model_dir_;
  static std::string* dataset_path_;
};
std::string* GalleryBuilderTest::model_dir_ = nullptr;
std::string* GalleryBuilderTest::dataset_path_ = nullptr;

TEST_F(GalleryBuilderTest, IndexesEveryDrawingWithItsWordSourceLabelAndDrawing) {
  const GalleryOptions o = Options("gallery");
  auto report = BuildGallery(o);
  ASSERT_TRUE(report.ok()) << report.status();
  const std::vector<Sketch> inputs = InputDrawings();
  EXPECT_EQ(report->entries, static_cast<int64_t>(inputs.size()));
  EXPECT_GT(report->retrieval.seen_entries, 0);
  EXPECT_GT(report->retrieval.unseen_entries, 0);
  EXPECT_GT(report->retrieval.map_seen, 0);
  EXPECT_GT(report->retrieval.map_unseen, 0);
  EXPECT_GT(report->retrieval.p10_seen, 0);
  EXPECT_GT(report->retrieval.p10_unseen, 0);
  EXPECT_EQ(report->retrieval.map_drawings, report->entries);
  EXPECT_FALSE(fs::exists(o.out_dir + ".work"));  // removed once the bundle is complete

  auto bundle = LoadBundle(o.out_dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  ASSERT_TRUE(bundle->manifest.gallery.has_value());
  EXPECT_EQ(bundle->manifest.gallery->entries, report->entries);
  EXPECT_TRUE(bundle->manifest.gallery->has_drawings);
  EXPECT_DOUBLE_EQ(bundle->manifest.metrics.at("map_unseen"), report->retrieval.map_unseen);
  EXPECT_DOUBLE_EQ(bundle->manifest.metrics.at("precision_at_10_seen"), report->retrieval.p10_seen);
  ASSERT_NE(bundle->drawings, nullptr);
  ASSERT_EQ(bundle->index->size(), report->entries);
  for (int64_t id = 0; id < bundle->index->size(); ++id) {
    const IndexedSketch& row = bundle->index->metadata(id);
    ASSERT_EQ(row.word, inputs[id].word) << id;
    ASSERT_EQ(row.key_id, inputs[id].key_id) << id;
    const bool seen = row.word == "cat" || row.word == "eye";
    ASSERT_EQ(row.label, seen ? (row.word == "cat" ? 0 : 1) : -1) << row.word;
    // Each file's path under the input folder (simplified-25); a file given directly: its name.
    ASSERT_EQ(row.source, row.word == "star" ? "star.npy" : row.word + ".ndjson") << id;
    auto drawing = bundle->drawings->Get(id);
    ASSERT_TRUE(drawing.ok()) << drawing.status();
    ASSERT_EQ(drawing->strokes.size(), inputs[id].strokes.size()) << id;
    ASSERT_EQ(drawing->bitmap.pixels, inputs[id].bitmap.pixels) << id;
    for (size_t s = 0; s < drawing->strokes.size(); ++s) {
      ASSERT_EQ(drawing->strokes[s].x, inputs[id].strokes[s].x) << id;
      ASSERT_EQ(drawing->strokes[s].t, inputs[id].strokes[s].t) << id;
    }
  }
}

// A row's source is its file's path under the input folder it was found in, so that files of
// one name in two folders stay apart, and a resumed build records the same.
TEST_F(GalleryBuilderTest, SourcesArePathsUnderTheInputFolder) {
  auto listed = ListDrawingFiles({kData, kData + "/raw/ant.ndjson"});
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::vector<std::string> sources;
  for (const DrawingFile& f : *listed) sources.push_back(f.source);
  EXPECT_THAT(sources, ::testing::IsSupersetOf({"raw/ant.ndjson", "simplified-25/ant.ndjson",
                                                "numpy_bitmap/star.npy", "simplified/cat.ndjson"}));
  EXPECT_EQ(listed->back().path, kData + "/raw/ant.ndjson");
  EXPECT_EQ(listed->back().source, "ant.ndjson");

  const std::string root = TempPath("two_ants");
  for (const char* folder : {"raw", "simplified-25"}) {
    fs::create_directories(root + "/" + folder);
    fs::copy_file(kData + "/" + folder + "/ant.ndjson", root + "/" + folder + "/ant.ndjson",
                  fs::copy_options::overwrite_existing);
  }
  GalleryOptions o = Options("two_ants_gallery");
  o.inputs = {root};
  o.features.chunk_size = 20;
  o.max_chunks = 1;
  EXPECT_EQ(BuildGallery(o).status().code(), absl::StatusCode::kAborted);
  o.max_chunks = 0;
  auto report = BuildGallery(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->reused_chunks, 1);
  auto bundle = LoadBundle(o.out_dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  ASSERT_EQ(bundle->index->size(), 50);
  for (int64_t id = 0; id < 50; ++id) {
    ASSERT_EQ(bundle->index->metadata(id).source,
              id < 25 ? "raw/ant.ndjson" : "simplified-25/ant.ndjson")
        << id;
  }
}

// An approximate gallery index: its type and measured recall land in the manifest, and the bundle
// loads with it.
TEST_F(GalleryBuilderTest, AnApproximateIndexRecordsItsTypeAndRecall) {
  GalleryOptions o = Options("hnsw");
  o.index.type = "HNSW16";
  o.index.default_knobs.ef_search = 8;
  o.recall_queries = 100;
  auto report = BuildGallery(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->index_type, "HNSW16");
  EXPECT_GT(report->index_recall_at_10, 0.5);
  EXPECT_LE(report->index_recall_at_10, 1.0);
  auto bundle = LoadBundle(o.out_dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->manifest.index_type, "HNSW16");
  EXPECT_DOUBLE_EQ(bundle->manifest.index_recall_at_10, report->index_recall_at_10);
  EXPECT_FALSE(bundle->index->exact());
  EXPECT_EQ(bundle->index->size(), report->entries);

  o = Options("bad_type");
  o.index.type = "NotAnIndex";
  EXPECT_EQ(BuildGallery(o).status().code(), absl::StatusCode::kInvalidArgument);
}

// The manifest's gallery section and the drawing store must agree; a damaged store is refused.
TEST_F(GalleryBuilderTest, ABundleWhoseDrawingsDisagreeIsRefused) {
  const GalleryOptions o = Options("tampered");
  ASSERT_TRUE(BuildGallery(o).ok());
  const std::string manifest_path = o.out_dir + "/manifest.json";
  const std::string manifest = ReadFileBytes(manifest_path);
  std::string denied = manifest;
  const size_t at = denied.find("\"has_drawings\": true");
  ASSERT_NE(at, std::string::npos);
  denied.replace(at, 20, "\"has_drawings\": false");
  std::ofstream(manifest_path, std::ios::trunc) << denied;
  auto refused = LoadBundle(o.out_dir);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("has_drawings"));

  std::ofstream(manifest_path, std::ios::trunc) << manifest;
  ASSERT_TRUE(LoadBundle(o.out_dir).ok());
  const std::string store = o.out_dir + "/drawings.skdw";
  const std::string bytes = ReadFileBytes(store);
  std::ofstream(store, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 3);
  auto truncated = LoadBundle(o.out_dir);
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(truncated.status().message()), HasSubstr("drawings.skdw"));
}

// Above map_sample drawings the mAP is measured within a seeded sample: reproducible, and over
// the stated number of drawings.
TEST_F(GalleryBuilderTest, LargeGalleriesMeasureTheMapOnASeededSample) {
  GalleryOptions o = Options("sampled");
  o.map_sample = 100;
  auto first = BuildGallery(o);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->retrieval.map_drawings, 100);
  EXPECT_GT(first->entries, 100);
  o = Options("sampled");
  o.map_sample = 100;
  auto second = BuildGallery(o);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->retrieval.map_all, second->retrieval.map_all);
  EXPECT_EQ(first->retrieval.map_unseen, second->retrieval.map_unseen);
  EXPECT_EQ(first->retrieval.p10_unseen, second->retrieval.p10_unseen);
}

// From an existing bundle: its model, its feature normalization and its metrics carry over.
TEST_F(GalleryBuilderTest, BuildsFromABundleWithItsNormalization) {
  BundleOptions b;
  b.model_dir = *model_dir_;
  b.dataset_path = *dataset_path_;
  b.bundle_dir = TempPath("gallery_source_bundle");
  b.normalization = FeatureNormalization::kRaw;
  b.evaluate_train = false;
  ASSERT_TRUE(BuildBundle(b).ok());
  GalleryOptions o = Options("from_bundle");
  o.model = b.bundle_dir;
  auto report = BuildGallery(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->l2_normalized);
  auto gallery = LoadBundle(o.out_dir);
  ASSERT_TRUE(gallery.ok()) << gallery.status();
  EXPECT_FALSE(gallery->manifest.index_l2_normalized);
  EXPECT_TRUE(gallery->manifest.metrics.count("test_top1"));
  EXPECT_EQ(gallery->manifest.classes, (std::vector<std::string>{"cat", "eye"}));
}

// A run stopped after 2 chunks (as a kill would) and started again with the same options reuses
// them and writes the same index and metadata as an uninterrupted run.
TEST_F(GalleryBuilderTest, AResumedBuildEqualsAnUninterruptedOne) {
  const GalleryOptions whole = Options("whole");
  ASSERT_TRUE(BuildGallery(whole).ok());
  GalleryOptions resumed = Options("resumed");
  resumed.max_chunks = 2;
  EXPECT_EQ(BuildGallery(resumed).status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(fs::exists(resumed.out_dir + ".work/features_000001.npy"));
  EXPECT_FALSE(fs::exists(resumed.out_dir + ".work/features_000002.npy"));
  resumed.max_chunks = 0;
  auto report = BuildGallery(resumed);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->reused_chunks, 2);
  for (const char* file : {"index.faiss", "index_metadata.tsv", "drawings.skdw"}) {
    EXPECT_EQ(ReadFileBytes(resumed.out_dir + "/" + file),
              ReadFileBytes(whole.out_dir + "/" + file))
        << file;
  }
}

TEST_F(GalleryBuilderTest, AResumeWithOtherInputsOrADamagedChunkIsRefused) {
  GalleryOptions o = Options("changed");
  o.max_chunks = 1;
  EXPECT_EQ(BuildGallery(o).status().code(), absl::StatusCode::kAborted);
  o.max_chunks = 0;
  GalleryOptions other = o;
  other.inputs.pop_back();
  auto refused = BuildGallery(other);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("inputs"));
  // The same weights with mirror averaging embed otherwise: their chunks are not reused.
  GalleryOptions mirrored = o;
  mirrored.test_time.mirror = true;
  auto other_embedding = BuildGallery(mirrored);
  EXPECT_EQ(other_embedding.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(other_embedding.status().message()), HasSubstr("mirror_average"));

  // So do rotated views.
  GalleryOptions turned = o;
  turned.test_time.rotation_degrees = 6.0f;
  auto turned_embedding = BuildGallery(turned);
  EXPECT_EQ(turned_embedding.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(turned_embedding.status().message()), HasSubstr("rotation_degrees"));
  // And the other way round: chunks embedded with rotated views are not reused without them.
  GalleryOptions turned_first = Options("turned_first");
  turned_first.test_time.rotation_degrees = 6.0f;
  turned_first.max_chunks = 1;
  EXPECT_EQ(BuildGallery(turned_first).status().code(), absl::StatusCode::kAborted);
  GalleryOptions unturned = turned_first;
  unturned.test_time.rotation_degrees = 0.0f;
  unturned.max_chunks = 0;
  auto unturned_embedding = BuildGallery(unturned);
  EXPECT_EQ(unturned_embedding.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(unturned_embedding.status().message()), HasSubstr("rotation_degrees"));

  // A chunk of another feature size (e.g. from another model's run) is named, not used.
  const std::string chunk = o.out_dir + ".work/features_000000.npy";
  std::string bytes = ReadFileBytes(chunk);
  ASSERT_FALSE(bytes.empty());
  std::ofstream(chunk, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  auto damaged = BuildGallery(o);
  EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(damaged.status().message()), HasSubstr("features_000000.npy"));
}

TEST_F(GalleryBuilderTest, BadInputsAreNamed) {
  const std::string dir = TempPath("bad_inputs");
  fs::create_directories(dir + "/empty_folder");
  std::ofstream(dir + "/empty.ndjson").flush();
  std::ofstream(dir + "/not_numpy.npy") << "this is not a numpy file\n";
  std::string cats;
  std::ifstream in(kData + "/simplified/cat.ndjson");
  for (std::string line; cats.size() < 2000 && std::getline(in, line);) cats += line + "\n";
  std::ofstream(dir + "/broken.ndjson") << cats << "{\"word\": \"cat\", \"drawing\": [[[1,2]]\n";

  GalleryOptions o = Options("bad");
  o.inputs = {dir + "/empty_folder"};
  EXPECT_EQ(BuildGallery(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.inputs = {dir + "/missing.ndjson"};
  EXPECT_EQ(BuildGallery(o).status().code(), absl::StatusCode::kNotFound);
  o.inputs = {dir + "/empty.ndjson"};
  auto empty = BuildGallery(o);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("no drawings"));
  o = Options("bad_npy");
  o.inputs = {dir + "/not_numpy.npy"};
  auto foreign = BuildGallery(o);
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(foreign.status().message()), HasSubstr("not_numpy.npy"));
  o = Options("broken");
  o.inputs = {dir + "/broken.ndjson"};
  auto broken = BuildGallery(o);
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(broken.status().message()), HasSubstr("broken.ndjson:line"));
  o = Options("skipped");
  o.inputs = {dir + "/broken.ndjson"};
  o.features.skip_invalid = true;
  auto skipped = BuildGallery(o);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ(skipped->skipped, 1);
  EXPECT_GT(skipped->entries, 1);
}

}  // namespace
}  // namespace sketch
