#include "core/dataset.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

Sketch Strokes(uint64_t key_id, std::vector<float> xs) {
  Sketch s;
  s.key_id = key_id;
  s.countrycode = "CL";
  s.recognized = true;
  s.timestamp = 1490000000;
  s.strokes.push_back({xs, std::vector<float>(xs.rbegin(), xs.rend()), {}});
  return s;
}

Dataset SmallDataset() {
  Dataset d;
  d.metadata.classes = {"cat", "dog"};
  d.metadata.source = "somewhere";
  d.metadata.seed = 3;
  d.metadata.train_per_class = 1;
  d.metadata.test_per_class = 1;
  d.train = {{0, Strokes(11, {0, 10, 255})}, {1, Strokes(12, {5, 6})}};
  d.test = {{1, Strokes(13, {1, 2, 3, 4})}, {0, Strokes(14, {200})}};
  return d;
}

TEST(DatasetTest, RoundTripKeepsEverything) {
  const std::string path = TempPath("round.skds");
  ASSERT_TRUE(WriteDataset(SmallDataset(), path).ok());
  auto read = ReadDataset(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->metadata.classes, SmallDataset().metadata.classes);
  EXPECT_EQ(read->metadata.seed, 3u);
  ASSERT_EQ(read->train.size(), 2u);
  ASSERT_EQ(read->test.size(), 2u);
  EXPECT_EQ(read->test[0].label, 1);
  EXPECT_EQ(read->test[0].sketch.key_id, 13u);
  EXPECT_EQ(read->test[0].sketch.word, "dog");
  EXPECT_EQ(read->test[0].sketch.strokes[0].x, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(read->test[0].sketch.strokes[0].y, (std::vector<float>{4, 3, 2, 1}));
}

TEST(DatasetTest, BitmapRoundTrip) {
  Dataset d;
  d.metadata.classes = {"x"};
  d.metadata.payload = "bitmap";
  Sketch s;
  s.key_id = 5;
  s.bitmap.size = 3;
  s.bitmap.pixels = {0, 1, 2, 3, 4, 5, 6, 7, 255};
  d.test = {{0, s}};
  const std::string path = TempPath("bitmap.skds");
  ASSERT_TRUE(WriteDataset(d, path).ok());
  auto read = ReadDataset(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->test[0].sketch.bitmap.pixels, s.bitmap.pixels);
}

TEST(DatasetTest, RejectsWhatItCannotStore) {
  Dataset d = SmallDataset();
  d.train[0].label = 2;
  EXPECT_EQ(WriteDataset(d, TempPath("bad.skds")).code(), absl::StatusCode::kInvalidArgument);
  d = SmallDataset();
  d.train[0].sketch.frame = StrokeFrame::kRaw;
  EXPECT_EQ(WriteDataset(d, TempPath("bad.skds")).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DatasetTest, CorruptFilesGiveClearErrors) {
  EXPECT_EQ(ReadDataset(TempPath("missing.skds")).status().code(), absl::StatusCode::kNotFound);

  const std::string not_dataset = TempPath("not.skds");
  std::ofstream(not_dataset) << "hello world, not a dataset";
  EXPECT_EQ(ReadDataset(not_dataset).status().code(), absl::StatusCode::kInvalidArgument);

  const std::string path = TempPath("full.skds");
  ASSERT_TRUE(WriteDataset(SmallDataset(), path).ok());
  const auto size = fs::file_size(path);
  for (uintmax_t cut : {size - 1, size - 7, size / 2, uintmax_t{20}}) {
    const std::string truncated = TempPath("truncated.skds");
    fs::copy_file(path, truncated, fs::copy_options::overwrite_existing);
    fs::resize_file(truncated, cut);
    auto read = ReadDataset(truncated);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << cut << " " << read.status();
  }
  std::ofstream(path, std::ios::app) << "x";
  EXPECT_EQ(ReadDataset(path).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace sketch
