// Tests trainer/drawing_evaluation.h: retrieval figures on real drawings of the committed sample,
// the model's classes and unseen words apart, equal to what `index` measures and to what
// searches of the gallery it builds return; and the errors of bad inputs and models.
#include "trainer/drawing_evaluation.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bundle/model_bundle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_files.h"
#include "tests/testing/tiny_model.h"
#include "trainer/gallery_builder.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kData = SKETCH_TEST_DATA_DIR "/quickdraw";

// The tiny model knows cat and eye; simplified-25 holds 25 drawings of each of 6 other words.
class DrawingEvaluationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto tiny = TrainTinyModel("drawing_evaluation_test");
    ASSERT_TRUE(tiny.ok()) << tiny.status();
    model_dir_ = new std::string(tiny->dir);
  }
  static void TearDownTestSuite() { delete model_dir_; }

  static DrawingEvaluationOptions Options(std::vector<std::string> inputs) {
    DrawingEvaluationOptions o;
    o.model = *model_dir_;
    o.inputs = std::move(inputs);
    o.features.batch_size = 32;
    return o;
  }
  static std::vector<std::string> SeenAndUnseen() {
    return {kData + "/simplified-25", kData + "/simplified/cat.ndjson"};
  }

  static std::string* model_dir_;
};
std::string* DrawingEvaluationTest::model_dir_ = nullptr;

TEST_F(DrawingEvaluationTest, ReportsTheModelsClassesAndUnseenWordsApart) {
  const DrawingEvaluationOptions o = Options(SeenAndUnseen());
  auto e = EvaluateDrawings(o);
  ASSERT_TRUE(e.ok()) << e.status();
  const GalleryRetrieval& r = e->retrieval;
  EXPECT_EQ(e->files, 7);
  EXPECT_EQ(e->drawings, 270);
  EXPECT_EQ(e->skipped, 0);
  EXPECT_EQ(e->model_classes, 2);
  EXPECT_TRUE(e->l2_normalized);  // a model directory: L2, as `index` would index them
  EXPECT_EQ(e->precision, "fp32");
  EXPECT_EQ(r.words, 7);
  EXPECT_EQ(r.seen_words, 1);
  EXPECT_EQ(r.seen_entries, 120);
  EXPECT_EQ(r.unseen_entries, 150);
  EXPECT_EQ(r.map_drawings, 270);
  EXPECT_EQ(r.seen_queries, 120);
  EXPECT_EQ(r.unseen_queries, 150);
  for (double figure : {r.map_seen, r.map_unseen, r.p10_seen, r.p10_unseen}) {
    EXPECT_GT(figure, 0);
    EXPECT_LE(figure, 1);
  }
  // "all" is the mean over every query, so the two parts weighted by their queries.
  EXPECT_NEAR(r.map_all, (120 * r.map_seen + 150 * r.map_unseen) / 270, 1e-12);
  EXPECT_NEAR(r.p10_all, (120 * r.p10_seen + 150 * r.p10_unseen) / 270, 1e-12);

  const std::string text = FormatDrawingEvaluation(*e);
  EXPECT_THAT(text, HasSubstr("drawings: 270 in 7 files, 0 skipped"));
  EXPECT_THAT(text, HasSubstr("120 drawings of 1 of the model's 2 classes, 150 of 6 unseen"));
  EXPECT_THAT(text, HasSubstr("unseen classes"));
  const std::string json = DrawingEvaluationJson(o, *e);
  EXPECT_THAT(json, HasSubstr("\"precision_at_10\""));
  EXPECT_THAT(json, HasSubstr("\"drawings\": 270"));
}

// With no drawing of the model's classes the seen part is empty: "-" and null, not a number.
TEST_F(DrawingEvaluationTest, AnEmptyPartHasNoFigures) {
  const DrawingEvaluationOptions o = Options({kData + "/simplified-25"});
  auto e = EvaluateDrawings(o);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->retrieval.seen_entries, 0);
  EXPECT_TRUE(std::isnan(e->retrieval.map_seen));
  EXPECT_TRUE(std::isnan(e->retrieval.p10_seen));
  EXPECT_EQ(e->retrieval.map_all, e->retrieval.map_unseen);
  EXPECT_THAT(FormatDrawingEvaluation(*e), HasSubstr("model's classes  mAP -       P@10 -"));
  EXPECT_THAT(DrawingEvaluationJson(o, *e),
              HasSubstr("\"seen\": {\n      \"map\": null,\n      \"precision_at_10\": null"));
}

// One code path with `index`: the same figures as the gallery it builds, and its precision@10 is
// what a search of that gallery for each drawing's 10 nearest others returns.
TEST_F(DrawingEvaluationTest, EqualsTheGalleryIndexBuildsAndItsSearches) {
  const DrawingEvaluationOptions o = Options(SeenAndUnseen());
  auto e = EvaluateDrawings(o);
  ASSERT_TRUE(e.ok()) << e.status();
  GalleryOptions g;
  g.model = o.model;
  g.inputs = o.inputs;
  g.out_dir = TempPath("evaluation_gallery");
  g.features = o.features;
  g.store_drawings = false;
  fs::remove_all(g.out_dir);
  auto gallery = BuildGallery(g);
  ASSERT_TRUE(gallery.ok()) << gallery.status();
  const GalleryRetrieval& r = e->retrieval;
  EXPECT_EQ(gallery->retrieval.words, r.words);
  EXPECT_EQ(gallery->retrieval.seen_entries, r.seen_entries);
  EXPECT_DOUBLE_EQ(gallery->retrieval.map_seen, r.map_seen);
  EXPECT_DOUBLE_EQ(gallery->retrieval.map_unseen, r.map_unseen);
  EXPECT_DOUBLE_EQ(gallery->retrieval.p10_seen, r.p10_seen);
  EXPECT_DOUBLE_EQ(gallery->retrieval.p10_unseen, r.p10_unseen);

  auto bundle = LoadBundle(g.out_dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const FaissIndex& index = *bundle->index;
  ASSERT_EQ(index.size(), e->drawings);
  double seen = 0, unseen = 0;
  for (int64_t id = 0; id < index.size(); ++id) {
    SearchFilter others;
    others.excluded_ids = {id};
    auto hits = index.Search(index.Reconstruct(id), 10, others);
    ASSERT_TRUE(hits.ok()) << hits.status();
    ASSERT_EQ((*hits)[0].size(), 10u);
    int same_word = 0;
    for (const Neighbor& hit : (*hits)[0]) {
      same_word += index.metadata(hit.id).word == index.metadata(id).word;
    }
    (index.metadata(id).label >= 0 ? seen : unseen) += same_word / 10.0;
  }
  EXPECT_NEAR(r.p10_seen, seen / r.seen_entries, 1e-12);
  EXPECT_NEAR(r.p10_unseen, unseen / r.unseen_entries, 1e-12);
}

TEST_F(DrawingEvaluationTest, AMalformedFileIsNamedUnlessSkipped) {
  const std::string dir = TempPath("malformed");
  fs::create_directories(dir);
  std::string cats;
  std::ifstream in(kData + "/simplified/cat.ndjson");
  for (std::string line; cats.size() < 4000 && std::getline(in, line);) cats += line + "\n";
  std::ofstream(dir + "/broken.ndjson") << cats << "{\"word\": \"cat\", \"drawing\": [[[1,2]]\n";
  DrawingEvaluationOptions o = Options({dir, kData + "/simplified-25/axe.ndjson"});
  auto refused = EvaluateDrawings(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("broken.ndjson:line"));
  o.features.skip_invalid = true;
  auto skipped = EvaluateDrawings(o);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ(skipped->skipped, 1);
  EXPECT_EQ(skipped->retrieval.unseen_entries, 25);
  EXPECT_GT(skipped->retrieval.seen_entries, 1);
  EXPECT_THAT(FormatDrawingEvaluation(*skipped), HasSubstr("1 skipped"));
}

TEST_F(DrawingEvaluationTest, InputsWithoutDrawingsAreAClearError) {
  const std::string dir = TempPath("no_drawings");
  fs::create_directories(dir + "/empty_folder");
  std::ofstream(dir + "/readme.txt") << "not a drawing file\n";
  auto empty = EvaluateDrawings(Options({dir + "/empty_folder"}));
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("no drawing files"));
  auto not_drawings = EvaluateDrawings(Options({dir}));
  EXPECT_EQ(not_drawings.status().code(), absl::StatusCode::kInvalidArgument);
  std::ofstream(dir + "/empty.ndjson").flush();
  auto no_records = EvaluateDrawings(Options({dir}));
  EXPECT_EQ(no_records.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_records.status().message()), HasSubstr("no drawings"));
  EXPECT_EQ(EvaluateDrawings(Options({dir + "/missing"})).status().code(),
            absl::StatusCode::kNotFound);
}

// A model directory whose config names 3 classes while its weights have 2 outputs.
TEST_F(DrawingEvaluationTest, AModelWhoseWeightsDoNotFitItsConfigIsRefused) {
  const std::string copy = TempPath("mismatched_model");
  fs::remove_all(copy);
  fs::copy(*model_dir_, copy, fs::copy_options::recursive);
  std::string config = ReadFileBytes(copy + "/train_config.json");
  const size_t eye = config.find("\"eye\"");
  ASSERT_NE(eye, std::string::npos);
  config.replace(eye, 5, "\"eye\", \"fish\"");
  std::ofstream(copy + "/train_config.json", std::ios::trunc) << config;
  DrawingEvaluationOptions o = Options(SeenAndUnseen());
  o.model = copy;
  auto refused = EvaluateDrawings(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("model.pt"));
}

}  // namespace
}  // namespace sketch
