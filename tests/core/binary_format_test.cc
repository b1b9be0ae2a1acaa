#include "core/binary_format.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/sketch_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/read_all.h"

namespace sketch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kData = std::string(SKETCH_TEST_DATA_DIR) + "/quickdraw";

// A path in a per-test scratch folder, so that tests running in parallel never collide and
// file stems stay what the test names them.
std::string TempPath(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = absl::StrCat(::testing::TempDir(), "/binary_format_test_", info->name());
  std::filesystem::create_directories(dir);
  return absl::StrCat(dir, "/", name);
}

Sketch TwoStrokes() {
  Sketch s;
  s.key_id = 0x0102030405060708u;
  s.word = "cat";
  s.countrycode = "VE";
  s.recognized = true;
  s.timestamp = 1488497110;
  s.strokes = {{{0, 10, 255}, {5, 6, 7}, {}}, {{1}, {2}, {}}};
  return s;
}

std::string Encode(const Sketch& sketch) {
  std::ostringstream out;
  EXPECT_TRUE(WriteBinaryRecord(sketch, out).ok());
  return out.str();
}

std::unique_ptr<SketchReader> ReaderOf(const std::string& bytes, ReaderOptions options = {}) {
  if (options.word.empty()) options.word = "cat";
  return MakeBinaryReader(std::make_unique<std::istringstream>(bytes), "mem.bin", options);
}

void ExpectSameRecord(const Sketch& a, const Sketch& b) {
  EXPECT_EQ(a.key_id, b.key_id);
  EXPECT_EQ(a.countrycode, b.countrycode);
  EXPECT_EQ(a.recognized, b.recognized);
  EXPECT_EQ(a.timestamp, b.timestamp);
  EXPECT_EQ(a.word, b.word);
  EXPECT_EQ(a.frame, b.frame);
  ASSERT_EQ(a.strokes.size(), b.strokes.size());
  for (size_t i = 0; i < a.strokes.size(); ++i) {
    EXPECT_EQ(a.strokes[i].x, b.strokes[i].x) << i;
    EXPECT_EQ(a.strokes[i].y, b.strokes[i].y) << i;
    EXPECT_TRUE(b.strokes[i].t.empty());
  }
}

TEST(BinaryFormatTest, WritesTheDocumentedLayout) {
  const std::string expected(
      "\x08\x07\x06\x05\x04\x03\x02\x01"  // key_id u64
      "VE"                                // countrycode
      "\x01"                              // recognized
      "\xD6\xA9\xB8\x58"                  // timestamp u32 = 1488497110 = 0x58B8A9D6
      "\x02\x00"                          // 2 strokes
      "\x03\x00\x00\x0A\xFF\x05\x06\x07"  // 3 points: x 0 10 255, y 5 6 7
      "\x01\x00\x01\x02",                 // 1 point: x 1, y 2
      29);
  EXPECT_EQ(Encode(TwoStrokes()), expected);
  Sketch sketch;
  auto reader = ReaderOf(expected);
  ASSERT_TRUE(*reader->Next(&sketch));
  ExpectSameRecord(TwoStrokes(), sketch);
  EXPECT_FALSE(*reader->Next(&sketch));
  EXPECT_EQ(reader->Position(), "mem.bin:record 1");
}

TEST(BinaryFormatTest, EmptyCountryCodeIsTwoZeroBytes) {
  Sketch sketch = TwoStrokes();
  sketch.countrycode.clear();
  sketch.recognized = false;
  const std::string bytes = Encode(sketch);
  EXPECT_EQ(bytes.substr(8, 3), std::string("\0\0\0", 3));
  Sketch back;
  ASSERT_TRUE(*ReaderOf(bytes)->Next(&back));
  ExpectSameRecord(sketch, back);
}

TEST(BinaryFormatTest, WriterRejectsWhatTheFormatCannotHold) {
  const auto error_of = [](const Sketch& sketch) {
    std::ostringstream out;
    const absl::Status status = WriteBinaryRecord(sketch, out);
    EXPECT_TRUE(out.str().empty()) << "a rejected record must write nothing";
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    return std::string(status.message());
  };
  Sketch s = TwoStrokes();
  s.frame = StrokeFrame::kRaw;
  EXPECT_THAT(error_of(s), HasSubstr("simplified strokes only"));
  s = TwoStrokes();
  s.strokes.clear();
  s.bitmap.size = 1;
  s.bitmap.pixels = {0};
  EXPECT_THAT(error_of(s), HasSubstr("simplified strokes only"));
  s = TwoStrokes();
  s.strokes.clear();
  EXPECT_THAT(error_of(s), HasSubstr("0 strokes"));
  s.strokes.assign(65536, Stroke{{1}, {1}, {}});
  EXPECT_THAT(error_of(s), HasSubstr("65536 strokes"));
  s = TwoStrokes();
  s.strokes[1].x.assign(65536, 1);
  s.strokes[1].y.assign(65536, 1);
  EXPECT_THAT(error_of(s), HasSubstr("stroke 1 has 65536 points"));
  s.strokes[1] = Stroke{};
  EXPECT_THAT(error_of(s), HasSubstr("stroke 1 has 0 points"));
  s.strokes[1] = Stroke{{1, 2}, {1}, {}};
  EXPECT_THAT(error_of(s), HasSubstr("2 x but 1 y"));
  for (float bad : {256.0f, -1.0f, 1.5f, std::nanf("")}) {
    s = TwoStrokes();
    s.strokes[0].y[2] = bad;
    EXPECT_THAT(error_of(s), HasSubstr("stroke 0 point 2"));
  }
  s = TwoStrokes();
  s.timestamp = -1;
  EXPECT_THAT(error_of(s), HasSubstr("timestamp"));
  s.timestamp = int64_t{1} << 32;
  EXPECT_THAT(error_of(s), HasSubstr("timestamp"));
  s = TwoStrokes();
  s.countrycode = "USA";
  EXPECT_THAT(error_of(s), HasSubstr("countrycode"));
}

TEST(BinaryFormatTest, EveryTruncationIsDataLossNamingTheRecord) {
  const std::string one = Encode(TwoStrokes());
  for (size_t cut = 1; cut < one.size(); ++cut) {
    const std::string bytes = one + one.substr(0, cut);
    std::vector<Sketch> records;
    const absl::Status status = ReadAll(*ReaderOf(bytes), &records);
    EXPECT_EQ(records.size(), 1u);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << cut;
    EXPECT_THAT(status.message(), HasSubstr("mem.bin:record 1: truncated")) << cut;

    ReaderOptions options;
    options.skip_invalid = true;
    auto reader = ReaderOf(bytes, options);
    records.clear();
    EXPECT_TRUE(ReadAll(*reader, &records).ok());
    EXPECT_EQ(records.size(), 1u);
    EXPECT_EQ(reader->skipped(), 1);
  }
}

// Bad records whose length is still known are skipped without losing the records after them.
TEST(BinaryFormatTest, InvalidRecordsAreErrorsOrSkipped) {
  const std::string good = Encode(TwoStrokes());
  std::string no_strokes = good.substr(0, 17);
  no_strokes[15] = 0;
  no_strokes[16] = 0;
  std::string empty_stroke = good;
  empty_stroke.replace(17, 8, std::string("\0\0", 2));  // first stroke: 0 points
  std::string bad_recognized = good;
  bad_recognized[10] = 2;
  std::string bad_country = good;
  bad_country[8] = '\n';
  struct Case {
    std::string bytes;
    std::string reason;
  };
  for (const Case& c :
       {Case{no_strokes, "drawing has no strokes"}, Case{empty_stroke, "stroke 0 is empty"},
        Case{bad_recognized, "recognized byte is 2"},
        Case{bad_country, "countrycode bytes 10, 69"}}) {
    std::vector<Sketch> records;
    const absl::Status status = ReadAll(*ReaderOf(good + c.bytes + good), &records);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.reason;
    EXPECT_THAT(status.message(), HasSubstr("mem.bin:record 1: " + c.reason));

    ReaderOptions options;
    options.skip_invalid = true;
    auto reader = ReaderOf(good + c.bytes + good, options);
    records.clear();
    ASSERT_TRUE(ReadAll(*reader, &records).ok()) << c.reason;
    ASSERT_EQ(records.size(), 2u);
    ExpectSameRecord(TwoStrokes(), records[1]);
    EXPECT_EQ(reader->skipped(), 1);
  }
}

// Counts over the limits are read past, not stored: the next record must still line up.
TEST(BinaryFormatTest, OverLimitRecordsAreSkippedWithoutStoringThem) {
  Sketch big = TwoStrokes();
  big.strokes.assign(40, Stroke{std::vector<float>(300, 7), std::vector<float>(300, 9), {}});
  const std::string bytes = Encode(big) + Encode(TwoStrokes());
  for (const auto& set_limit :
       std::vector<void (*)(SketchLimits*)>{[](SketchLimits* l) { l->max_strokes = 10; },
                                            [](SketchLimits* l) { l->max_points_per_stroke = 100; },
                                            [](SketchLimits* l) { l->max_total_points = 1000; }}) {
    ReaderOptions options;
    set_limit(&options.limits);
    std::vector<Sketch> records;
    const absl::Status status = ReadAll(*ReaderOf(bytes, options), &records);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("mem.bin:record 0: "));
    options.skip_invalid = true;
    auto reader = ReaderOf(bytes, options);
    records.clear();
    ASSERT_TRUE(ReadAll(*reader, &records).ok());
    ASSERT_EQ(records.size(), 1u);
    ExpectSameRecord(TwoStrokes(), records[0]);
    EXPECT_EQ(reader->skipped(), 1);
  }
}

std::vector<Sketch> ReadFile(const std::string& path) {
  auto reader = OpenSketchReader(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  std::vector<Sketch> records;
  if (reader.ok()) {
    EXPECT_TRUE(ReadAll(**reader, &records).ok()) << path;
  }
  return records;
}

// Real simplified drawings: ndjson -> .bin -> read back must keep everything .bin holds.
TEST(BinaryFormatTest, ConvertsRealSimplifiedNdjsonLosslessly) {
  for (const char* file : {"simplified/cat.ndjson", "simplified/paint can.ndjson",
                           "simplified-25/The Eiffel Tower.ndjson", "simplified-25/ant.ndjson"}) {
    const std::string in = absl::StrCat(kData, "/", file);
    const std::string stem = std::filesystem::path(file).stem().string();
    const std::string out = TempPath(stem + ".bin");
    int64_t written = -1;
    ASSERT_TRUE(ConvertToBinary(in, out, {}, &written).ok()) << file;
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
    const std::vector<Sketch> original = ReadFile(in);
    const std::vector<Sketch> converted = ReadFile(out);  // the word comes from the file name
    EXPECT_EQ(written, static_cast<int64_t>(original.size()));
    ASSERT_EQ(converted.size(), original.size());
    for (size_t i = 0; i < original.size(); ++i) {
      SCOPED_TRACE(absl::StrCat(file, " record ", i));
      ExpectSameRecord(original[i], converted[i]);
    }
  }
}

TEST(BinaryFormatTest, ConvertFailsCleanly) {
  const std::string out = TempPath("out.bin");
  int64_t written = -1;
  absl::Status status = ConvertToBinary(kData + "/raw/ant.ndjson", out, {}, &written);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("ant.ndjson:line 1: the .bin format holds simplified"));
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
  EXPECT_EQ(written, 0);

  status = ConvertToBinary(kData + "/numpy_bitmap/cat.npy", out, {}, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(out));

  EXPECT_EQ(ConvertToBinary(kData + "/no/such.ndjson", out, {}, nullptr).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(
      ConvertToBinary(kData + "/simplified/cat.ndjson", TempPath("no/such/dir.bin"), {}, nullptr)
          .code(),
      absl::StatusCode::kNotFound);
}

TEST(BinaryFormatTest, ConvertReplacesAnExistingFileOnlyWhenDone) {
  const std::string out = TempPath("cat.bin");
  std::ofstream(out) << "old";
  ASSERT_FALSE(ConvertToBinary(kData + "/raw/ant.ndjson", out, {}, nullptr).ok());
  std::ifstream old(out);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(old), {}), "old");
  int64_t written = 0;
  ASSERT_TRUE(ConvertToBinary(kData + "/simplified/cat.ndjson", out, {}, &written).ok());
  EXPECT_EQ(written, 120);
  EXPECT_EQ(ReadFile(out).size(), 120u);
}

TEST(BinaryFormatTest, WordComesFromOptionsOrFileStem) {
  const std::string out = TempPath("paint can.bin");
  ASSERT_TRUE(ConvertToBinary(kData + "/simplified/cat.ndjson", out, {}, nullptr).ok());
  EXPECT_EQ(ReadFile(out)[0].word, "paint can");
  ReaderOptions options;
  options.word = "kitten";
  auto reader = OpenSketchReader(out, options);
  ASSERT_TRUE(reader.ok());
  Sketch sketch;
  ASSERT_TRUE(*(*reader)->Next(&sketch));
  EXPECT_EQ(sketch.word, "kitten");
  EXPECT_THAT(sketch.strokes[0].x, ::testing::SizeIs(25));
  EXPECT_THAT(std::vector<float>(sketch.strokes[1].x), ElementsAre(76, 28, 7));
}

}  // namespace
}  // namespace sketch
