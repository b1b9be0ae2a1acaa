#include "trainer/prepare.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/dataset.h"
#include "core/sketch_validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kData = std::string(SKETCH_TEST_DATA_DIR) + "/quickdraw";

PrepareOptions SimplifiedOptions(const std::string& out) {
  PrepareOptions o;
  o.input_dir = kData + "/simplified";
  o.output_path = TempPath(out);
  o.train_per_class = 100;
  o.test_per_class = 20;
  o.seed = 7;
  o.progress = false;
  return o;
}

TEST(PrepareTest, SamplesEveryClassAndWritesAReadableDataset) {
  const PrepareOptions o = SimplifiedOptions("strokes.skds");
  auto summary = PrepareDataset(o);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->classes.size(), 16u);
  EXPECT_EQ(summary->num_train, 16 * 100);
  EXPECT_EQ(summary->num_test, 16 * 20);
  EXPECT_EQ(summary->payload, "strokes");
  for (const ClassCount& c : summary->classes) EXPECT_EQ(c.records_read, 120) << c.name;

  auto dataset = ReadDataset(o.output_path);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ(dataset->metadata.classes.front(), "airplane");
  EXPECT_EQ(dataset->metadata.seed, 7u);
  std::set<uint64_t> train_ids;
  std::vector<int> per_class(16);
  for (const auto& e : dataset->train) {
    train_ids.insert(e.sketch.key_id);
    ++per_class[e.label];
    EXPECT_EQ(e.sketch.word, dataset->metadata.classes[e.label]);
    EXPECT_TRUE(ValidateSketch(e.sketch).ok());
  }
  EXPECT_THAT(per_class, ::testing::Each(100));
  for (const auto& e : dataset->test) EXPECT_EQ(train_ids.count(e.sketch.key_id), 0u);
}

TEST(PrepareTest, SameSeedGivesByteIdenticalDatasetWhateverTheThreads) {
  PrepareOptions a = SimplifiedOptions("a.skds");
  a.threads = 1;
  PrepareOptions b = SimplifiedOptions("b.skds");
  b.threads = 2;
  PrepareOptions c = SimplifiedOptions("c.skds");
  c.seed = 8;
  ASSERT_TRUE(PrepareDataset(a).ok());
  ASSERT_TRUE(PrepareDataset(b).ok());
  ASSERT_TRUE(PrepareDataset(c).ok());
  EXPECT_EQ(ReadFileBytes(a.output_path), ReadFileBytes(b.output_path));
  EXPECT_NE(ReadFileBytes(a.output_path), ReadFileBytes(c.output_path));
}

TEST(PrepareTest, RefusesTooFewDrawingsUnlessAllowed) {
  PrepareOptions o = SimplifiedOptions("few.skds");
  o.classes = {"cat", "eye"};
  o.train_per_class = 200;
  auto refused = PrepareDataset(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("cat.ndjson has 120 valid drawings"));
  EXPECT_THAT(refused.status().message(), HasSubstr("--allow-fewer"));

  o.allow_fewer = true;
  auto summary = PrepareDataset(o);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->classes[0].train + summary->classes[0].test, 120);
  EXPECT_EQ(summary->classes[0].test, 120 * 20 / 220);
}

TEST(PrepareTest, ChoosesRandomClassesReproducibly) {
  PrepareOptions o = SimplifiedOptions("random.skds");
  o.num_classes = 5;
  auto first = PrepareDataset(o);
  auto second = PrepareDataset(o);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_EQ(first->classes.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(first->classes[i].name, second->classes[i].name);
  EXPECT_TRUE(std::is_sorted(first->classes.begin(), first->classes.end(),
                             [](auto& x, auto& y) { return x.name < y.name; }));
  o.num_classes = 17;
  EXPECT_EQ(PrepareDataset(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PrepareTest, NormalizesRawStrokesIntoTheSimplifiedFrame) {
  PrepareOptions o = SimplifiedOptions("raw.skds");
  o.input_dir = kData + "/raw";
  o.train_per_class = 20;
  o.test_per_class = 5;
  auto summary = PrepareDataset(o);
  ASSERT_TRUE(summary.ok()) << summary.status();
  auto dataset = ReadDataset(o.output_path);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  for (const auto& e : dataset->train) {
    EXPECT_EQ(e.sketch.frame, StrokeFrame::kSimplified);
    EXPECT_TRUE(ValidateSketch(e.sketch).ok());
  }
}

TEST(PrepareTest, PreparesBitmapClasses) {
  PrepareOptions o = SimplifiedOptions("bitmap.skds");
  o.input_dir = kData + "/numpy_bitmap";
  o.train_per_class = 50;
  o.test_per_class = 10;
  auto summary = PrepareDataset(o);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->payload, "bitmap");
  auto dataset = ReadDataset(o.output_path);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_EQ(dataset->test.size(), 40u);
  EXPECT_EQ(dataset->test[0].sketch.bitmap.size, 28);
}

class PrepareBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One directory per test: ctest runs the tests of this fixture in parallel processes.
    dir_ = TempPath(std::string("bad_input_") +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy_file(kData + "/simplified/cat.ndjson", dir_ + "/cat.ndjson");
    std::ofstream dog(dir_ + "/dog.ndjson");
    std::ifstream eye(kData + "/simplified/eye.ndjson");
    std::string line;
    for (int i = 0; std::getline(eye, line); ++i) dog << (i == 3 ? "{not json" : line) << "\n";
  }
  std::string dir_;
};

TEST_F(PrepareBadInputTest, MalformedLineIsNamedOrSkippedAndCounted) {
  PrepareOptions o = SimplifiedOptions("bad.skds");
  o.input_dir = dir_;
  o.train_per_class = 50;
  o.test_per_class = 10;
  fs::remove(o.output_path);  // left by an earlier run of this test
  auto refused = PrepareDataset(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("dog.ndjson:line 4"));
  EXPECT_FALSE(fs::exists(o.output_path));

  o.skip_invalid = true;
  auto summary = PrepareDataset(o);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->skipped_records, 1);
  EXPECT_EQ(summary->classes[1].records_read, 119);
}

TEST_F(PrepareBadInputTest, UnknownClassesAndMixedPayloadsAreRefused) {
  PrepareOptions o = SimplifiedOptions("unknown.skds");
  o.input_dir = dir_;
  o.classes = {"cat", "unicorn"};
  EXPECT_EQ(PrepareDataset(o).status().code(), absl::StatusCode::kNotFound);

  fs::copy_file(kData + "/numpy_bitmap/star.npy", dir_ + "/star.npy");
  o.classes = {"cat", "star"};
  o.train_per_class = 40;
  o.test_per_class = 10;
  auto mixed = PrepareDataset(o);
  EXPECT_EQ(mixed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mixed.status().message(), HasSubstr("mix strokes and bitmaps"));

  o.input_dir = dir_ + "/missing";
  EXPECT_EQ(PrepareDataset(o).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sketch
