#include "core/ndjson_reader.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/sketch_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/read_all.h"

namespace sketch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kData = std::string(SKETCH_TEST_DATA_DIR) + "/quickdraw";

// A valid simplified record; `drawing` replaces its strokes.
std::string Line(const std::string& drawing = "[[[0,10,255],[5,6,7]],[[1],[2]]]") {
  return absl::StrCat(
      R"({"word":"cat","countrycode":"VE","timestamp":"2017-03-02 23:25:10.07453 UTC",)",
      R"("recognized":true,"key_id":"5201136883597312","drawing":)", drawing, "}");
}

std::unique_ptr<SketchReader> ReaderOf(const std::string& text, ReaderOptions options = {},
                                       size_t max_line_bytes = kDefaultMaxNdjsonLineBytes) {
  NdjsonTuning tuning;
  tuning.max_line_bytes = max_line_bytes;
  return MakeNdjsonReader(std::make_unique<std::istringstream>(text), "mem.ndjson", options,
                          tuning);
}

// The error of the only record in `text`.
absl::Status ErrorOf(const std::string& text, ReaderOptions options = {}) {
  std::vector<Sketch> records;
  return ReadAll(*ReaderOf(text, options), &records);
}

TEST(NdjsonReaderTest, ReadsRealSimplifiedFile) {
  auto reader = OpenSketchReader(kData + "/simplified/cat.ndjson");
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<Sketch> records;
  ASSERT_TRUE(ReadAll(**reader, &records).ok());
  ASSERT_EQ(records.size(), 120u);
  EXPECT_EQ((*reader)->skipped(), 0);
  // Values read from the file's first line with Python's json module.
  const Sketch& first = records[0];
  EXPECT_EQ(first.word, "cat");
  EXPECT_EQ(first.countrycode, "VE");
  EXPECT_EQ(first.timestamp, 1488497110);  // 2017-03-02 23:25:10.07453 UTC
  EXPECT_TRUE(first.recognized);
  EXPECT_EQ(first.key_id, 5201136883597312u);
  EXPECT_EQ(first.frame, StrokeFrame::kSimplified);
  EXPECT_FALSE(first.is_bitmap());
  ASSERT_EQ(first.strokes.size(), 9u);
  EXPECT_EQ(first.num_points(), 53u);
  EXPECT_THAT(std::vector<float>(first.strokes[0].x.begin(), first.strokes[0].x.begin() + 4),
              ElementsAre(130, 113, 99, 109));
  EXPECT_THAT(std::vector<float>(first.strokes[0].y.begin(), first.strokes[0].y.begin() + 4),
              ElementsAre(72, 40, 27, 79));
  EXPECT_TRUE(first.strokes[0].t.empty());
  EXPECT_EQ(first.strokes.back().x.back(), 106);
  EXPECT_EQ(first.strokes.back().y.back(), 113);
  EXPECT_EQ(records.back().key_id, 5091394160951296u);
  int unrecognized = 0;
  for (const Sketch& s : records) unrecognized += s.recognized ? 0 : 1;
  EXPECT_EQ(unrecognized, 14);
}

TEST(NdjsonReaderTest, ReadsRealRawFile) {
  auto reader = OpenSketchReader(kData + "/raw/ant.ndjson");
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<Sketch> records;
  ASSERT_TRUE(ReadAll(**reader, &records).ok());
  ASSERT_EQ(records.size(), 25u);  // the file has no final newline
  const Sketch& first = records[0];
  EXPECT_EQ(first.word, "ant");
  EXPECT_EQ(first.countrycode, "US");
  EXPECT_EQ(first.timestamp, 1490573697);  // 2017-03-27 00:14:57.31033 UTC
  EXPECT_EQ(first.key_id, 5421013154136064u);
  EXPECT_EQ(first.frame, StrokeFrame::kRaw);
  ASSERT_EQ(first.strokes.size(), 11u);
  EXPECT_EQ(first.num_points(), 252u);
  const Stroke& s0 = first.strokes[0];
  EXPECT_THAT(std::vector<float>(s0.x.begin(), s0.x.begin() + 4), ElementsAre(460, 448, 441, 433));
  EXPECT_THAT(std::vector<float>(s0.t.begin(), s0.t.begin() + 4), ElementsAre(0, 16, 34, 51));
  EXPECT_EQ(records.back().key_id, 6336170407493632u);
}

TEST(NdjsonReaderTest, RawNegativeAndFractionalCoordinatesAreValid) {
  auto reader = OpenSketchReader(kData + "/raw/The Eiffel Tower.ndjson");
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<Sketch> records;
  ASSERT_TRUE(ReadAll(**reader, &records).ok());
  ASSERT_EQ(records.size(), 25u);
  EXPECT_EQ(records[0].word, "The Eiffel Tower");
  EXPECT_FLOAT_EQ(records[0].strokes[0].x[1], 33.508f);
  // Line 4 goes down to x or y = -53.
  float lowest = 0;
  for (const Stroke& s : records[3].strokes) {
    for (size_t i = 0; i < s.size(); ++i) lowest = std::min({lowest, s.x[i], s.y[i]});
  }
  EXPECT_EQ(lowest, -53.0f);
  EXPECT_EQ(records[3].key_id, 6226163091374080u);
}

TEST(NdjsonReaderTest, ReadsEveryRealFile) {
  for (const auto& [folder, count, frame] :
       {std::tuple{"simplified", 120u, StrokeFrame::kSimplified},
        std::tuple{"simplified-25", 25u, StrokeFrame::kSimplified},
        std::tuple{"raw", 25u, StrokeFrame::kRaw}}) {
    for (const char* word : {"ant", "apple", "axe", "banana", "bird", "cat", "paint can"}) {
      const std::string path = absl::StrCat(kData, "/", folder, "/", word, ".ndjson");
      if (!std::ifstream(path)) continue;
      auto reader = OpenSketchReader(path);
      ASSERT_TRUE(reader.ok()) << reader.status();
      std::vector<Sketch> records;
      ASSERT_TRUE(ReadAll(**reader, &records).ok()) << path;
      EXPECT_EQ(records.size(), count) << path;
      for (const Sketch& s : records) EXPECT_EQ(s.frame, frame) << path;
      EXPECT_EQ(records[0].word, word);
    }
  }
}

TEST(NdjsonReaderTest, HandlesCrlfBlankLinesBomAndMissingFinalNewline) {
  const std::string text =
      "\xEF\xBB\xBF" + Line() + "\r\n\r\n   \n\t\r\n" + Line() + "\n\n" + Line();
  auto reader = ReaderOf(text);
  std::vector<Sketch> records;
  ASSERT_TRUE(ReadAll(*reader, &records).ok());
  EXPECT_EQ(records.size(), 3u);
  EXPECT_EQ(reader->Position(), "mem.ndjson:line 7");
}

TEST(NdjsonReaderTest, EmptyInputHasNoRecords) {
  std::vector<Sketch> records;
  EXPECT_TRUE(ReadAll(*ReaderOf(""), &records).ok());
  EXPECT_TRUE(ReadAll(*ReaderOf("\n\n \r\n"), &records).ok());
  EXPECT_TRUE(records.empty());
}

// The reader recycles stroke vectors between records: nothing of an earlier record may leak in.
TEST(NdjsonReaderTest, ReusedSketchShrinksAndGrows) {
  auto reader =
      ReaderOf(Line() + "\n" + Line("[[[3],[4]]]") + "\n" +
               Line("[[[5],[6]],[[7,8],[9,10]],[[11],[12]]]") + "\n" + Line("[[[1],[2],[0]]]"));
  Sketch sketch;
  ASSERT_TRUE(*reader->Next(&sketch));
  EXPECT_EQ(sketch.strokes.size(), 2u);
  ASSERT_TRUE(*reader->Next(&sketch));
  ASSERT_EQ(sketch.strokes.size(), 1u);
  EXPECT_THAT(sketch.strokes[0].x, ElementsAre(3));
  ASSERT_TRUE(*reader->Next(&sketch));
  ASSERT_EQ(sketch.strokes.size(), 3u);
  EXPECT_THAT(sketch.strokes[0].x, ElementsAre(5));
  EXPECT_THAT(sketch.strokes[1].x, ElementsAre(7, 8));
  EXPECT_THAT(sketch.strokes[1].y, ElementsAre(9, 10));
  EXPECT_THAT(sketch.strokes[2].y, ElementsAre(12));
  for (const Stroke& stroke : sketch.strokes) EXPECT_TRUE(stroke.t.empty());
  // A fresh Sketch gets recycled strokes too, with nothing left over in them.
  Sketch fresh;
  absl::StatusOr<bool> got = reader->Next(&fresh);
  ASSERT_FALSE(got.ok());  // a raw record in a simplified file
  EXPECT_THAT(got.status().message(), HasSubstr("raw strokes"));
}

TEST(NdjsonReaderTest, AcceptsNumericKeyIdAndTimestampForms) {
  auto reader = ReaderOf(
      R"({"word":"w","countrycode":"","timestamp":1488497110,"recognized":false,)"
      R"("key_id":18446744073709551615,"drawing":[[[1],[2]]],"extra":[1,{"a":null}]})"
      "\n"
      R"({"word":"w","countrycode":"US","timestamp":"2017-03-02 23:25:10 UTC","recognized":true,)"
      R"("key_id":"0","drawing":[[[1],[2]]]})");
  Sketch sketch;
  ASSERT_TRUE(*reader->Next(&sketch));
  EXPECT_EQ(sketch.key_id, 18446744073709551615u);
  EXPECT_EQ(sketch.timestamp, 1488497110);
  EXPECT_EQ(sketch.countrycode, "");
  EXPECT_FALSE(sketch.recognized);
  ASSERT_TRUE(*reader->Next(&sketch));
  EXPECT_EQ(sketch.key_id, 0u);
  EXPECT_EQ(sketch.timestamp, 1488497110);
}

struct BadLine {
  std::string name;
  std::string line;
  std::string reason;  // a substring of the error
};

class MalformedLineTest : public ::testing::TestWithParam<BadLine> {};

// Each bad line comes second, after a good one, so the error must name line 2.
TEST_P(MalformedLineTest, IsInvalidArgumentNamingFileAndLine) {
  auto reader = ReaderOf(Line() + "\n" + GetParam().line + "\n" + Line() + "\n");
  Sketch sketch;
  ASSERT_TRUE(*reader->Next(&sketch));
  absl::StatusOr<bool> got = reader->Next(&sketch);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("mem.ndjson:line 2: "));
  EXPECT_THAT(got.status().message(), HasSubstr(GetParam().reason));
}

// ... and with skip_invalid it is counted and the good lines around it survive.
TEST_P(MalformedLineTest, IsSkippedAndCounted) {
  ReaderOptions options;
  options.skip_invalid = true;
  auto reader = ReaderOf(Line() + "\n" + GetParam().line + "\n" + Line() + "\n", options);
  std::vector<Sketch> records;
  ASSERT_TRUE(ReadAll(*reader, &records).ok());
  EXPECT_EQ(records.size(), 2u);
  EXPECT_EQ(reader->skipped(), 1);
}

std::string Field(const std::string& name, const std::string& value) {
  std::string line = Line();
  const size_t start = line.find("\"" + name + "\":") + name.size() + 3;
  const size_t end = name == "drawing" ? line.size() - 1 : line.find_first_of(",}", start);
  return line.replace(start, end - start, value);
}

std::string Without(const std::string& name) {
  std::string line = Line();
  const size_t start = line.find("\"" + name + "\":");
  const size_t end = name == "drawing" ? line.size() - 1 : line.find(',', start) + 1;
  return line.erase(start, end - start);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedLineTest,
    ::testing::ValuesIn(std::vector<BadLine>{
        {"Truncated", Line().substr(0, 60), "malformed JSON"},
        {"TrailingGarbage", Line() + "x", "malformed JSON"},
        {"NotObject", "[1,2,3]", "not a JSON object"},
        {"BadUtf8", Field("word", "\"\xff\xfe\""), "malformed JSON"},
        {"MissingWord", Without("word"), "missing field \"word\""},
        {"MissingCountry", Without("countrycode"), "missing field \"countrycode\""},
        {"MissingTimestamp", Without("timestamp"), "missing field \"timestamp\""},
        {"MissingRecognized", Without("recognized"), "missing field \"recognized\""},
        {"MissingKeyId", Without("key_id"), "missing field \"key_id\""},
        {"MissingDrawing", Line().substr(0, Line().find(",\"drawing\"")) + "}",
         "missing field \"drawing\""},
        {"DuplicateField", Field("word", "\"cat\",\"word\":\"dog\""), "duplicate field"},
        {"WordNotString", Field("word", "7"), "\"word\" is not a string"},
        {"EmptyWord", Field("word", "\"\""), "\"word\" is empty"},
        {"CountryTooLong", Field("countrycode", "\"USA\""), "countrycode"},
        {"CountryNotString", Field("countrycode", "null"), "countrycode"},
        {"TimestampGarbage", Field("timestamp", "\"yesterday\""), "\"timestamp\""},
        {"TimestampNoZone", Field("timestamp", "\"2017-03-02 23:25:10\""), "\"timestamp\""},
        {"TimestampInfinite", Field("timestamp", "\"infinite-future\""), "\"timestamp\""},
        {"TimestampFloat", Field("timestamp", "1.5"), "\"timestamp\""},
        {"RecognizedString", Field("recognized", "\"true\""), "\"recognized\" is not a boolean"},
        {"KeyIdNegative", Field("key_id", "-1"), "\"key_id\""},
        {"KeyIdSigned", Field("key_id", "\"+12\""), "\"key_id\""},
        {"KeyIdOverflow", Field("key_id", "\"18446744073709551616\""), "\"key_id\""},
        {"KeyIdFarOverflow", Field("key_id", "\"99999999999999999999\""), "\"key_id\""},
        {"KeyIdTooLong", Field("key_id", "\"000000000000000000001\""), "\"key_id\""},
        {"KeyIdFloat", Field("key_id", "1.0"), "\"key_id\""},
        {"DrawingNotArray", Field("drawing", "{}"), "\"drawing\" is not an array"},
        {"EmptyDrawing", Field("drawing", "[]"), "no strokes"},
        {"EmptyStroke", Field("drawing", "[[[],[]]]"), "stroke 0 is empty"},
        {"StrokeNotArray", Field("drawing", "[5]"), "stroke 0 is not an array"},
        {"OneArrayStroke", Field("drawing", "[[[1,2]]]"), "stroke 0 has 1 arrays"},
        {"FourArrayStroke", Field("drawing", "[[[1],[2],[3],[4]]]"), "stroke 0 has 4 arrays"},
        {"MixedArity", Field("drawing", "[[[1],[2]],[[1],[2],[0]]]"), "mixed"},
        {"XYMismatch", Field("drawing", "[[[1,2,3],[4,5]]]"), "stroke 0 has 3 x but 2 y values"},
        {"TMismatch", Field("drawing", "[[[1,2],[4,5],[0]]]"), "stroke 0 has 2 points but 1 times"},
        {"NanString", Field("drawing", "[[[\"NaN\"],[1]]]"), "point 0 x is not a number"},
        {"NanLiteral", Field("drawing", "[[[NaN],[1]]]"), "malformed JSON"},
        {"InfLiteral", Field("drawing", "[[[1],[Infinity]]]"), "malformed JSON"},
        {"HugeExponent", Field("drawing", "[[[1e999],[1]]]"), "malformed JSON"},
        {"BeyondFloat", Field("drawing", "[[[1e300],[1]],[[1],[2]]]"), "out of range"},
        {"NullCoordinate", Field("drawing", "[[[1],[null]]]"), "point 0 y is not a number"},
        {"BoolCoordinate", Field("drawing", "[[[true],[1]]]"), "is not a number"},
        {"NestedCoordinate", Field("drawing", "[[[[1]],[1]]]"), "is not a number"},
        {"NegativeSimplified", Field("drawing", "[[[0,-1],[0,0]]]"), "integer 0..255"},
        {"Above255", Field("drawing", "[[[0,256],[0,0]]]"), "integer 0..255"},
        {"FractionalSimplified", Field("drawing", "[[[0.5],[0]]]"), "integer 0..255"},
        {"AbsurdRaw", Field("drawing", "[[[1e30],[0],[0]]]"), "exceeds the raw limit"},
        {"RawFrameInSimplifiedFile", Field("drawing", "[[[1],[2],[0]]]"),
         "raw strokes [x, y, t] in a file whose earlier records are simplified"},
    }),
    [](const ::testing::TestParamInfo<BadLine>& info) { return info.param.name; });

// Valid JSON in less common spellings: escapes, UTF-8, unknown fields, other number forms,
// whitespace, unusual timestamps and key_ids.
TEST(NdjsonReaderTest, ReadsUnusualButValidLines) {
  const std::string unusual[] = {
      Field("word", R"("caf\u00e9 \"au lait\"")"),
      Field("word", "\"gar\xc3\xa7on\""),
      Field("countrycode", "\"VE\",\"notes\":[1,{\"a\":null}]"),
      Field("drawing", "[[[0.0,1e2,2E+0,-0,250.0e-1],[1,2,3,4,5]]]"),
      Field("drawing", " [ [ [ 1 , 2 ] , [ 3 , 4 ] ] ] "),
      Field("timestamp", "\"2016-02-29 00:00:00 UTC\""),
      Field("timestamp", "\"2016-12-31 23:59:60.5 UTC\""),
      Field("timestamp", "-86400"),
      Field("key_id", "12345678901234567890"),
      Field("key_id", "\"12345678901234567890\""),
      Field("key_id", "\"18446744073709551615\""),
      Field("key_id", "\"00000000000000000042\""),
      R"({"w\u006frd":"cat","countrycode":"VE","timestamp":0,"recognized":true,"key_id":1,)"
      R"("drawing":[[[1],[2]]]})",
  };
  std::string text;
  for (const std::string& line : unusual) text += line + "\n";
  std::vector<Sketch> records;
  ASSERT_TRUE(ReadAll(*ReaderOf(text), &records).ok());
  ASSERT_EQ(records.size(), std::size(unusual));
  EXPECT_EQ(records[0].word, "caf\xc3\xa9 \"au lait\"");
  EXPECT_EQ(records[1].word, "gar\xc3\xa7on");
  EXPECT_EQ(records[2].countrycode, "VE");
  EXPECT_THAT(records[3].strokes[0].x, ElementsAre(0, 100, 2, 0, 25));
  EXPECT_THAT(records[4].strokes[0].y, ElementsAre(3, 4));
  EXPECT_EQ(records[5].timestamp, 1456704000);
  EXPECT_EQ(records[6].timestamp, 1483228800);  // the leap second rolls over, as in ParseTime
  EXPECT_EQ(records[7].timestamp, -86400);
  EXPECT_EQ(records[8].key_id, 12345678901234567890u);
  EXPECT_EQ(records[9].key_id, 12345678901234567890u);
  EXPECT_EQ(records[10].key_id, 18446744073709551615u);
  EXPECT_EQ(records[11].key_id, 42u);
  EXPECT_EQ(records[12].word, "cat");  // keys are compared unescaped
}

// What absl::ParseTime alone makes of `text`: the reference the reader's timestamps must match.
bool ReferenceTime(const std::string& text, int64_t* seconds) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S UTC", text, &time, &error) ||
      time == absl::InfiniteFuture() || time == absl::InfinitePast()) {
    return false;
  }
  *seconds = absl::ToUnixSeconds(time);
  return true;
}

// The reader decodes the canonical form itself (ParseTime is slow); edge cases must still come
// out exactly as ParseTime reads them, or be rejected as it rejects them.
TEST(NdjsonReaderTest, TimestampsMatchAbslParseTime) {
  for (const std::string text : {"2017-03-02 23:25:10.07453 UTC",
                                 "2017-03-02 23:25:10 UTC",
                                 "2017-03-02 23:25:10.9 UTC",
                                 "2017-03-02 23:25:10.123456789 UTC",
                                 "2017-03-02 23:25:10.1234567891234 UTC",
                                 "1970-01-01 00:00:00 UTC",
                                 "1969-12-31 23:59:59.5 UTC",
                                 "1000-01-01 00:00:00 UTC",
                                 "2016-02-29 12:00:00 UTC",
                                 "2017-02-29 12:00:00 UTC",
                                 "2017-04-31 12:00:00 UTC",
                                 "2017-13-01 12:00:00 UTC",
                                 "2017-00-01 12:00:00 UTC",
                                 "2017-01-00 12:00:00 UTC",
                                 "2017-01-01 24:00:00 UTC",
                                 "2017-01-01 23:60:00 UTC",
                                 "2016-12-31 23:59:60 UTC",
                                 "2017-01-01 23:59:61 UTC",
                                 "2017-03-02 23:25:10. UTC",
                                 "2017-03-02 23:25:10.5",
                                 "",
                                 "2017-3-2 23:25:10 UTC",
                                 " 2017-03-02 23:25:10 UTC",
                                 "2017-03-02 23:25:10 UTC ",
                                 "2017-03-02T23:25:10 UTC",
                                 "2017-03-02 23:25:10 utc",
                                 "infinite-future",
                                 "99999-01-01 00:00:00 UTC",
                                 "-2017-03-02 23:25:10 UTC",
                                 "2017-03-02 23:25:10 UTC\n"}) {
    std::string json = text;
    if (!json.empty() && json.back() == '\n') json.replace(json.size() - 1, 1, "\\n");
    std::vector<Sketch> records;
    const absl::Status status =
        ReadAll(*ReaderOf(Field("timestamp", "\"" + json + "\"")), &records);
    int64_t expected = 0;
    if (ReferenceTime(text, &expected)) {
      ASSERT_TRUE(status.ok()) << text << ": " << status;
      ASSERT_EQ(records.size(), 1u);
      EXPECT_EQ(records[0].timestamp, expected) << text;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << text;
      EXPECT_THAT(status.message(), HasSubstr("\"timestamp\"")) << text;
    }
  }
}

TEST(NdjsonReaderTest, SimplifiedAfterRawIsAnError) {
  const std::string raw = Field("drawing", "[[[-5.5],[2000],[0]]]");
  auto reader = ReaderOf(raw + "\n" + Line() + "\n");
  Sketch sketch;
  ASSERT_TRUE(*reader->Next(&sketch));
  EXPECT_EQ(sketch.frame, StrokeFrame::kRaw);
  absl::StatusOr<bool> got = reader->Next(&sketch);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("mem.ndjson:line 2: simplified strokes"));
}

TEST(NdjsonReaderTest, EnforcesLimits) {
  ReaderOptions options;
  options.limits.max_strokes = 1;
  EXPECT_THAT(ErrorOf(Line(), options).message(), HasSubstr("2 strokes, the limit is 1"));
  options = {};
  options.limits.max_points_per_stroke = 2;
  EXPECT_THAT(ErrorOf(Line(), options).message(), HasSubstr("3 points, the limit is 2"));
  options = {};
  options.limits.max_total_points = 3;
  EXPECT_THAT(ErrorOf(Line(), options).message(), HasSubstr("more than 3 points"));
}

TEST(NdjsonReaderTest, SkipsManyBadLinesAndKeepsLineNumbers) {
  ReaderOptions options;
  options.skip_invalid = true;
  auto reader = ReaderOf(
      "{\n" + Line() + "\n\nnot json\n" + Field("drawing", "[]") + "\n" + Line() + "\n", options);
  Sketch sketch;
  ASSERT_TRUE(*reader->Next(&sketch));
  EXPECT_EQ(reader->Position(), "mem.ndjson:line 2");
  ASSERT_TRUE(*reader->Next(&sketch));
  EXPECT_EQ(reader->Position(), "mem.ndjson:line 6");
  EXPECT_EQ(reader->skipped(), 3);
  EXPECT_FALSE(*reader->Next(&sketch));
}

TEST(NdjsonReaderTest, OverlongLineIsAnErrorOrSkipped) {
  // Both a long line that fits the read buffer and one far beyond it (dropped while streaming).
  for (size_t length : {size_t{5000}, size_t{3} << 20}) {
    const std::string text = Line() + "\n" + std::string(length, ' ') + Line() + "\n" + Line();
    auto strict = ReaderOf(text, {}, 1000);
    Sketch sketch;
    ASSERT_TRUE(*strict->Next(&sketch));
    absl::StatusOr<bool> got = strict->Next(&sketch);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(got.status().message(), HasSubstr("mem.ndjson:line 2: line is longer than 1000"));

    ReaderOptions options;
    options.skip_invalid = true;
    auto reader = ReaderOf(text, options, 1000);
    std::vector<Sketch> records;
    ASSERT_TRUE(ReadAll(*reader, &records).ok());
    EXPECT_EQ(records.size(), 2u);
    EXPECT_EQ(reader->skipped(), 1);
    EXPECT_EQ(reader->Position(), "mem.ndjson:line 3");
  }
}

// Several MiB, so that lines straddle the reader's 1 MiB refills.
TEST(NdjsonReaderTest, StreamsLinesAcrossBufferRefills) {
  std::string text;
  int lines = 0;
  while (text.size() < (size_t{5} << 20)) {
    text += Line(absl::StrCat("[[[", lines % 256, "],[1]]]")) + (lines % 3 ? "\n" : "\r\n");
    ++lines;
  }
  text += std::string(size_t{3} << 20, ' ') + Line() + "\n";  // one line bigger than a refill
  auto reader = ReaderOf(text);
  Sketch sketch;
  for (int i = 0; i < lines; ++i) {
    absl::StatusOr<bool> got = reader->Next(&sketch);
    ASSERT_TRUE(got.ok() && *got) << i << " " << got.status();
    ASSERT_EQ(sketch.strokes[0].x[0], i % 256) << i;
  }
  ASSERT_TRUE(*reader->Next(&sketch));
  EXPECT_EQ(sketch.strokes.size(), 2u);
  EXPECT_FALSE(*reader->Next(&sketch));
  EXPECT_EQ(reader->Position(), absl::StrCat("mem.ndjson:line ", lines + 1));
}

}  // namespace
}  // namespace sketch
