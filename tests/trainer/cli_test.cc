// Tests trainer/cli.h: `sketch-trainer evaluate` in its two modes, run in process as a user
// would run the program (the jobs themselves are tested beside their headers).
#include "trainer/cli.h"

#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/model_files.h"
#include "tests/testing/temp_files.h"
#include "tests/testing/tiny_model.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kData = SKETCH_TEST_DATA_DIR "/quickdraw";

// Runs `sketch-trainer args...`; returns the exit code, stdout in *out.
int RunCli(std::vector<std::string> args, std::string* out = nullptr) {
  args.insert(args.begin(), "sketch-trainer");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  ::testing::internal::CaptureStdout();
  const int code = RunTrainerCli(static_cast<int>(argv.size()), argv.data());
  const std::string printed = ::testing::internal::GetCapturedStdout();
  if (out != nullptr) *out = printed;
  return code;
}

class TrainerCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto tiny = TrainTinyModel("cli_test");
    ASSERT_TRUE(tiny.ok()) << tiny.status();
    model_ = new TinyModel(*tiny);
  }
  static void TearDownTestSuite() { delete model_; }
  static TinyModel* model_;
};
TinyModel* TrainerCliTest::model_ = nullptr;

TEST_F(TrainerCliTest, EvaluateDrawingsPrintsAndWritesTheReport) {
  const std::string json = TempPath("evaluate_drawings.json");
  fs::remove(json);
  std::string out;
  ASSERT_EQ(RunCli({"evaluate", "--model", model_->dir, "--drawings", kData + "/simplified-25",
                    "--drawings", kData + "/simplified/eye.ndjson", "--threads", "1", "--json",
                    json, "-q"},
                   &out),
            0);
  EXPECT_THAT(out, HasSubstr("drawings: 270 in 7 files, 0 skipped"));
  EXPECT_THAT(out, HasSubstr("P@10"));
  EXPECT_THAT(out, HasSubstr("unseen classes"));
  const std::string written = ReadFileBytes(json);
  EXPECT_THAT(written, HasSubstr("\"drawings\": 270"));
  EXPECT_THAT(written, HasSubstr("\"precision_at_10\""));
}

// --query-expansion reaches the measure; its alpha alone, or either flag without --drawings, is
// refused by the parser.
TEST_F(TrainerCliTest, EvaluateDrawingsWithQueryExpansion) {
  const std::string drawings = kData + "/simplified-25";
  std::string out;
  ASSERT_EQ(RunCli({"evaluate", "--model", model_->dir, "--drawings", drawings, "--threads", "1",
                    "--query-expansion", "3", "--query-expansion-alpha", "2", "-q"},
                   &out),
            0);
  EXPECT_THAT(out, HasSubstr("queries expanded with 3 neighbours"));
  EXPECT_NE(RunCli({"evaluate", "--model", model_->dir, "--drawings", drawings,
                    "--query-expansion-alpha", "2", "-q"}),
            0);
  EXPECT_NE(RunCli({"evaluate", "--model", model_->dir, "--dataset", model_->dataset,
                    "--query-expansion", "3", "-q"}),
            0);
  EXPECT_NE(RunCli({"evaluate", "--model", model_->dir, "--drawings", drawings, "--query-expansion",
                    "-1", "-q"}),
            0);
}

// The test-time view flags reach the bundle (its preprocessing records them) and the drawings'
// report; a rotation out of range, or the flags of `evaluate` without --drawings, are refused.
TEST_F(TrainerCliTest, TestTimeViewFlags) {
  const std::string bundle = TempPath("cli_views_bundle");
  fs::remove_all(bundle);
  ASSERT_EQ(RunCli({"bundle", "--model", model_->dir, "--dataset", model_->dataset, "--out", bundle,
                    "--no-train-eval", "--mirror-average", "--rotation-average", "6", "-q"}),
            0);
  auto preprocessing = LoadPreprocessing(bundle);
  ASSERT_TRUE(preprocessing.ok()) << preprocessing.status();
  EXPECT_TRUE(preprocessing->test_time.mirror);
  EXPECT_EQ(preprocessing->test_time.rotation_degrees, 6.0f);
  std::string out;
  // A bundle's own views are kept (here: six) when no flag is given.
  ASSERT_EQ(RunCli({"evaluate", "--model", bundle, "--drawings", kData + "/simplified-25",
                    "--threads", "1", "-q"},
                   &out),
            0);
  EXPECT_THAT(out, HasSubstr("6 views a drawing"));
  ASSERT_EQ(RunCli({"evaluate", "--model", model_->dir, "--drawings", kData + "/simplified-25",
                    "--threads", "1", "--rotation-average", "10", "-q"},
                   &out),
            0);
  EXPECT_THAT(out, HasSubstr("3 views a drawing"));
  EXPECT_NE(RunCli({"bundle", "--model", model_->dir, "--dataset", model_->dataset, "--out",
                    TempPath("cli_views_refused"), "--rotation-average", "50", "-q"}),
            0);
  EXPECT_NE(RunCli({"evaluate", "--model", model_->dir, "--dataset", model_->dataset,
                    "--rotation-average", "6", "-q"}),
            0);
}

// The split mode is as it was: both splits' accuracy, and the CSVs in --out.
TEST_F(TrainerCliTest, EvaluateADatasetWritesTheCsvs) {
  const std::string dir = TempPath("evaluate_dataset");
  fs::remove_all(dir);
  std::string out;
  ASSERT_EQ(
      RunCli({"evaluate", "--model", model_->dir, "--dataset", model_->dataset, "--out", dir, "-q"},
             &out),
      0);
  EXPECT_THAT(out, HasSubstr("train     32 drawings"));
  EXPECT_THAT(out, HasSubstr("test       8 drawings"));
  EXPECT_TRUE(fs::exists(dir + "/per_class_test.csv"));
  EXPECT_TRUE(fs::exists(dir + "/confusion_train.csv"));
}

TEST_F(TrainerCliTest, EvaluateNeedsExactlyOneOfDatasetAndDrawings) {
  const std::string drawings = kData + "/simplified-25";
  EXPECT_NE(RunCli({"evaluate", "--model", model_->dir}), 0);
  EXPECT_NE(RunCli({"evaluate", "--model", model_->dir, "--dataset", model_->dataset, "--drawings",
                    drawings}),
            0);
  // Flags of one mode are refused in the other.
  EXPECT_NE(RunCli({"evaluate", "--model", model_->dir, "--dataset", model_->dataset, "--json",
                    TempPath("x.json")}),
            0);
  EXPECT_NE(RunCli({"evaluate", "--model", model_->dir, "--drawings", drawings, "--out", "x"}), 0);
  // A failing job exits 1 with its error on stderr.
  EXPECT_EQ(RunCli({"evaluate", "--model", model_->dir, "--drawings", TempPath("missing")}), 1);
}

}  // namespace
}  // namespace sketch
