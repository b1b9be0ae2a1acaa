// Tests `index --whiten` and `evaluate --drawings --whiten` (trainer/gallery_builder.h,
// trainer/drawing_evaluation.h over index/feature_whitening.h): the gallery bundle records and
// stores its whitening, a loaded one whitens queries as its rows were (an indexed drawing's
// fc_1 finds itself at distance 0), both commands measure the same figures, and bad options and
// inconsistent bundles are refused with their reasons. Also `--query-expansion` over such a
// gallery (index/query_expanding_index.h): recorded, measured alike by both commands, refused
// where it cannot run.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bundle/model_bundle.h"
#include "bundle/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index/query_normalizing_index.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_files.h"
#include "tests/testing/tiny_model.h"
#include "trainer/drawing_evaluation.h"
#include "trainer/gallery_builder.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kData = SKETCH_TEST_DATA_DIR "/quickdraw";
constexpr int kDims = 16;

// The tiny model (cat, eye) over 25 drawings of each of 6 other words and 120 of its own.
class WhitenedGalleryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto tiny = TrainTinyModel("whitened_gallery_test");
    ASSERT_TRUE(tiny.ok()) << tiny.status();
    model_dir_ = new std::string(tiny->dir);
  }
  static void TearDownTestSuite() { delete model_dir_; }

  static GalleryOptions Options(const std::string& out, int dims) {
    GalleryOptions o;
    o.model = *model_dir_;
    o.inputs = {kData + "/simplified-25", kData + "/simplified/cat.ndjson"};
    o.out_dir = TempPath(out);
    o.features.batch_size = 32;
    o.store_drawings = false;
    o.whitening.dims = dims;
    fs::remove_all(o.out_dir);
    fs::remove_all(o.out_dir + ".work");
    return o;
  }

  static std::string* model_dir_;
};
std::string* WhitenedGalleryTest::model_dir_ = nullptr;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Rewrites dir/manifest.json through `edit`, and the digest of `rehash` (a file replaced).
void EditManifest(const std::string& dir, const std::function<void(nlohmann::json*)>& edit,
                  const std::string& rehash = "") {
  nlohmann::json j = nlohmann::json::parse(Read(dir + "/manifest.json"));
  edit(&j);
  if (!rehash.empty()) j["files"][rehash] = *Sha256File(dir + "/" + rehash);
  std::ofstream(dir + "/manifest.json") << j.dump(2);
}

TEST_F(WhitenedGalleryTest, QueriesAreWhitenedAsTheIndexedRowsWere) {
  // The raw features of every drawing, in index order: a Flat gallery of raw fc_1.
  GalleryOptions raw_options = Options("whitened_raw", 0);
  raw_options.normalization = FeatureNormalization::kRaw;
  ASSERT_TRUE(BuildGallery(raw_options).ok());
  auto raw = LoadBundle(raw_options.out_dir);
  ASSERT_TRUE(raw.ok()) << raw.status();

  const GalleryOptions o = Options("whitened", kDims);
  auto report = BuildGallery(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->whitening_dims, kDims);
  EXPECT_THAT(FormatGalleryReport(*report), HasSubstr("whitened (16-d) features"));
  auto bundle = LoadBundle(o.out_dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->manifest.index_whitening_dims, kDims);
  EXPECT_DOUBLE_EQ(bundle->manifest.index_whitening_shrink, 0.1);
  EXPECT_EQ(bundle->manifest.feature_dim, kDims);
  EXPECT_TRUE(bundle->manifest.index_l2_normalized);
  EXPECT_TRUE(bundle->manifest.file_sha256.count("whitening.faiss"));
  ASSERT_NE(bundle->whitening, nullptr);
  EXPECT_EQ(bundle->index->dimension(), kDims);

  const int64_t n = bundle->index->size();
  ASSERT_EQ(n, raw->index->size());
  const QueryNormalizingIndex served(std::move(bundle->index), bundle->whitening);
  EXPECT_EQ(served.dimension(), kFeatureSize);
  double seen = 0, unseen = 0;
  for (int64_t id = 0; id < n; ++id) {
    auto self = served.Search(raw->index->Reconstruct(id), 1, SearchFilter());
    ASSERT_TRUE(self.ok()) << self.status();
    ASSERT_EQ((*self)[0][0].id, id);
    ASSERT_NEAR((*self)[0][0].distance, 0.0f, 1e-5);
    // Precision@10 as the service finds it equals the report's, measured offline.
    SearchFilter others;
    others.excluded_ids = {id};
    auto hits = served.Search(raw->index->Reconstruct(id), 10, others);
    ASSERT_TRUE(hits.ok());
    int same = 0;
    for (const Neighbor& hit : (*hits)[0]) {
      same += served.metadata(hit.id).word == served.metadata(id).word;
    }
    (served.metadata(id).label >= 0 ? seen : unseen) += same / 10.0;
  }
  EXPECT_NEAR(report->retrieval.p10_seen, seen / report->retrieval.seen_entries, 1e-12);
  EXPECT_NEAR(report->retrieval.p10_unseen, unseen / report->retrieval.unseen_entries, 1e-12);
}

// `evaluate --drawings --whiten` is the gallery's measure without the bundle.
TEST_F(WhitenedGalleryTest, EvaluationMeasuresWhatTheWhitenedGalleryRecords) {
  const GalleryOptions g = Options("whitened_for_evaluation", kDims);
  auto gallery = BuildGallery(g);
  ASSERT_TRUE(gallery.ok()) << gallery.status();
  DrawingEvaluationOptions o;
  o.model = g.model;
  o.inputs = g.inputs;
  o.features.batch_size = 32;
  o.whitening.dims = kDims;
  auto e = EvaluateDrawings(o);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->whitening_dims, kDims);
  EXPECT_DOUBLE_EQ(e->retrieval.map_seen, gallery->retrieval.map_seen);
  EXPECT_DOUBLE_EQ(e->retrieval.map_unseen, gallery->retrieval.map_unseen);
  EXPECT_DOUBLE_EQ(e->retrieval.p10_unseen, gallery->retrieval.p10_unseen);
  EXPECT_THAT(DrawingEvaluationJson(o, *e), HasSubstr("\"whitening\": {\n    \"dims\": 16"));

  o.whitening.dims = 0;
  auto plain = EvaluateDrawings(o);
  ASSERT_TRUE(plain.ok());
  EXPECT_NE(plain->retrieval.map_all, e->retrieval.map_all);  // the whitening did something
  EXPECT_THAT(DrawingEvaluationJson(o, *plain), HasSubstr("\"whitening\": null"));
}

TEST_F(WhitenedGalleryTest, QueryExpansionIsRecordedAndMeasuredAlikeByIndexAndEvaluate) {
  GalleryOptions g = Options("whitened_expanded", kDims);
  g.query_expansion = {/*neighbors=*/3, /*alpha=*/3.0};
  auto gallery = BuildGallery(g);
  ASSERT_TRUE(gallery.ok()) << gallery.status();
  EXPECT_EQ(gallery->query_expansion_neighbors, 3);
  EXPECT_THAT(FormatGalleryReport(*gallery), HasSubstr("queries expanded with 3 neighbours"));
  const nlohmann::json manifest = nlohmann::json::parse(Read(g.out_dir + "/manifest.json"));
  EXPECT_EQ(manifest["index"]["query_expansion"]["neighbors"], 3);
  EXPECT_EQ(manifest["index"]["query_expansion"]["alpha"], 3.0);
  EXPECT_DOUBLE_EQ(manifest["metrics"]["map"].get<double>(), gallery->retrieval.map_all);

  DrawingEvaluationOptions o;
  o.model = g.model;
  o.inputs = g.inputs;
  o.features.batch_size = 32;
  o.whitening.dims = kDims;
  o.query_expansion = g.query_expansion;
  auto e = EvaluateDrawings(o);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_DOUBLE_EQ(e->retrieval.map_seen, gallery->retrieval.map_seen);
  EXPECT_DOUBLE_EQ(e->retrieval.map_unseen, gallery->retrieval.map_unseen);
  EXPECT_DOUBLE_EQ(e->retrieval.p10_all, gallery->retrieval.p10_all);
  EXPECT_THAT(DrawingEvaluationJson(o, *e), HasSubstr("\"neighbors\": 3"));
  o.query_expansion = {};
  auto plain = EvaluateDrawings(o);
  ASSERT_TRUE(plain.ok());
  EXPECT_NE(plain->retrieval.map_all, e->retrieval.map_all);  // the expansion did something
  EXPECT_THAT(DrawingEvaluationJson(o, *plain), HasSubstr("\"query_expansion\": null"));
  o.whitening.dims = 0;
  o.normalization = FeatureNormalization::kRaw;
  o.query_expansion = g.query_expansion;
  auto raw_evaluation = EvaluateDrawings(o);
  EXPECT_EQ(raw_evaluation.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(raw_evaluation.status().message()), HasSubstr("L2-normalized"));

  // Refused before any drawing is embedded: raw features, an IVF index, a bad alpha.
  GalleryOptions raw = Options("expanded_raw", 0);
  raw.normalization = FeatureNormalization::kRaw;
  raw.query_expansion = g.query_expansion;
  auto with_raw = BuildGallery(raw);
  EXPECT_EQ(with_raw.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(with_raw.status().message()), HasSubstr("L2-normalized"));
  EXPECT_FALSE(fs::exists(raw.out_dir + ".work"));
  GalleryOptions ivf = Options("expanded_ivf", 0);
  ivf.index.type = "IVF4,Flat";
  ivf.query_expansion = g.query_expansion;
  auto with_ivf = BuildGallery(ivf);
  EXPECT_EQ(with_ivf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(with_ivf.status().message()), HasSubstr("IVF4,Flat"));
  GalleryOptions alpha = Options("expanded_alpha", 0);
  alpha.query_expansion = {3, -1.0};
  EXPECT_EQ(BuildGallery(alpha).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(WhitenedGalleryTest, ImpossibleWhiteningsAreRefusedWithTheirReason) {
  GalleryOptions raw = Options("whitened_bad", kDims);
  raw.normalization = FeatureNormalization::kRaw;
  auto with_raw = BuildGallery(raw);
  EXPECT_EQ(with_raw.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(with_raw.status().message()), HasSubstr("L2-normalized"));
  GalleryOptions wide = Options("whitened_bad", 2000);
  auto too_wide = BuildGallery(wide);
  EXPECT_EQ(too_wide.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_wide.status().message()), HasSubstr("1..1024"));
  GalleryOptions few = Options("whitened_few", 1000);
  few.inputs = {kData + "/simplified-25"};
  auto too_few = BuildGallery(few);
  EXPECT_EQ(too_few.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_few.status().message()), HasSubstr("at least 1001 features"));
  EXPECT_FALSE(fs::exists(few.out_dir + "/manifest.json"));
  // The features were kept: the same command with a whitening that fits reuses them.
  few.whitening.dims = kDims;
  auto fitted = BuildGallery(few);
  ASSERT_TRUE(fitted.ok()) << fitted.status();
  EXPECT_GT(fitted->reused_chunks, 0);
}

// The manifest and whitening.faiss must agree: announced and listed together, and of the
// dimensions the manifest gives.
TEST_F(WhitenedGalleryTest, ABundleWhoseWhiteningDisagreesIsRefused) {
  const GalleryOptions o = Options("whitened_tampered", kDims);
  ASSERT_TRUE(BuildGallery(o).ok());
  const std::string saved = Read(o.out_dir + "/manifest.json");

  EditManifest(o.out_dir, [](nlohmann::json* j) { (*j)["index"].erase("whitening"); });
  auto unannounced = LoadBundle(o.out_dir);
  EXPECT_EQ(unannounced.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(unannounced.status().message()),
              HasSubstr("index.whitening is absent but the files list whitening.faiss"));

  std::ofstream(o.out_dir + "/manifest.json") << saved;
  EditManifest(o.out_dir, [](nlohmann::json* j) { (*j)["files"].erase("whitening.faiss"); });
  auto unlisted = LoadBundle(o.out_dir);
  EXPECT_EQ(unlisted.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(unlisted.status().message()), HasSubstr("do not list whitening.faiss"));

  // Another whitening of the same features, to 8 dimensions, in its place (hash updated).
  std::ofstream(o.out_dir + "/manifest.json") << saved;
  const GalleryOptions narrow = Options("whitened_narrow", 8);
  ASSERT_TRUE(BuildGallery(narrow).ok());
  fs::copy_file(narrow.out_dir + "/whitening.faiss", o.out_dir + "/whitening.faiss",
                fs::copy_options::overwrite_existing);
  EditManifest(
      o.out_dir, [](nlohmann::json*) {}, "whitening.faiss");
  auto mismatched = LoadBundle(o.out_dir);
  EXPECT_EQ(mismatched.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(mismatched.status().message()),
              HasSubstr("whitening.faiss maps 1024 to 8 dimensions; the manifest says 1024 to 16"));
}

}  // namespace
}  // namespace sketch
