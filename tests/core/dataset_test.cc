#include "core/dataset.h"

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

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

// A dataset file whose header carries `metadata` as given, followed by `body`.
std::string CraftedDataset(const std::string& name, const nlohmann::ordered_json& metadata,
                           const std::string& body) {
  const std::string meta = metadata.dump();
  std::string bytes = "SKDS";
  for (uint32_t v : {uint32_t{1}, static_cast<uint32_t>(meta.size())}) {
    for (int i = 0; i < 4; ++i) bytes += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  bytes += meta + body;
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// The metadata SmallDataset() is written with: a valid header to tamper with.
nlohmann::ordered_json SmallMetadata(std::string* body) {
  const std::string path = TempPath("small.skds");
  EXPECT_TRUE(WriteDataset(SmallDataset(), path).ok());
  const std::string bytes = ReadFileBytes(path);
  uint32_t meta_len = 0;
  for (int i = 0; i < 4; ++i)
    meta_len |= uint32_t{static_cast<unsigned char>(bytes[8 + i])} << (8 * i);
  *body = bytes.substr(12 + meta_len);
  return nlohmann::ordered_json::parse(bytes.substr(12, meta_len));
}

TEST(DatasetTest, CraftedCountsThatOverflowAreRefusedNamingTheField) {
  std::string body;
  const nlohmann::ordered_json valid = SmallMetadata(&body);
  ASSERT_TRUE(ReadDataset(CraftedDataset("valid.skds", valid, body)).ok());
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  struct Case {
    nlohmann::ordered_json num_train, num_test;
    const char* field;
  };
  const Case cases[] = {
      {kMax, 1, "num_train"},                             // the sum overflows int64
      {int64_t{1} << 62, int64_t{1} << 62, "num_train"},  // so does this one
      {2, kMax, "num_test"},
      {std::numeric_limits<uint64_t>::max(), 2, "num_train"},  // wraps to -1 as int64
      {-1, 2, "num_train"},
      {2, 1e300, "num_test"},  // a float: casting it to int64 is undefined
      {2.5, 2, "num_train"},
      {"2", 2, "num_train"},
  };
  for (const Case& c : cases) {
    nlohmann::ordered_json meta = valid;
    meta["num_train"] = c.num_train;
    meta["num_test"] = c.num_test;
    const auto read = ReadDataset(CraftedDataset("counts.skds", meta, body));
    EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << meta.dump();
    EXPECT_THAT(std::string(read.status().message()), HasSubstr(c.field)) << meta.dump();
    EXPECT_THAT(std::string(read.status().message()), HasSubstr("counts.skds"));
  }
}

TEST(DatasetTest, CountsTheFileCannotHoldAreRefusedBeforeAllocating) {
  std::string body;
  const nlohmann::ordered_json valid = SmallMetadata(&body);
  // Room for 11 index bytes a record, but not for the records' payloads.
  nlohmann::ordered_json meta = valid;
  meta["num_test"] = body.size() / 11 - 2;
  auto read = ReadDataset(CraftedDataset("too_many.skds", meta, body));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("num_test"));

  // 1024² bytes a bitmap record: two records cannot fit in a few hundred bytes.
  meta = valid;
  meta["payload"] = "bitmap";
  meta["bitmap_size"] = 1024;
  read = ReadDataset(CraftedDataset("big_bitmaps.skds", meta, body));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("num_train"));

  for (const char* field : {"bitmap_size", "train_per_class", "skipped_records", "seed"}) {
    meta = valid;
    meta[field] = -3;
    read = ReadDataset(CraftedDataset("field.skds", meta, body));
    EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << field;
    EXPECT_THAT(std::string(read.status().message()), HasSubstr(field));
  }

  // A metadata_length beyond the end of the file.
  std::string bytes = ReadFileBytes(CraftedDataset("long_meta.skds", valid, body));
  bytes[8] = '\xff';
  bytes[9] = '\xff';
  std::ofstream(TempPath("long_meta.skds"), std::ios::binary) << bytes;
  read = ReadDataset(TempPath("long_meta.skds"));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("metadata_length"));
}

TEST(DatasetTest, OnlyRegularFilesAreRead) {
  const std::string dir = TempPath("a_directory.skds");
  fs::create_directories(dir);
  // A FIFO would block the reader until a writer came; this one holds a few bytes and is kept
  // open for writing, so a reader that opens it gets them instead of hanging.
  const std::string fifo = TempPath("fifo.skds");
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::fstream keep_open(fifo, std::ios::in | std::ios::out | std::ios::binary);
  keep_open << "SKDS-not-really" << std::flush;
  for (const std::string& path : {dir, fifo, std::string("/dev/zero")}) {
    const auto read = ReadDataset(path);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_THAT(std::string(read.status().message()), HasSubstr("not a regular file")) << path;
  }
}

}  // namespace
}  // namespace sketch
