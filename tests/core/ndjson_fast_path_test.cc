#include "core/ndjson_fast_path.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

using ::testing::ElementsAre;

// What absl::ParseTime alone makes of `text`, the reference the fast form must match.
bool Reference(const std::string& text, int64_t* seconds) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S UTC", text, &time, &error) ||
      time == absl::InfiniteFuture() || time == absl::InfinitePast()) {
    return false;
  }
  *seconds = absl::ToUnixSeconds(time);
  return true;
}

TEST(ParseQuickDrawTimestampTest, MatchesAbslParseTime) {
  for (const char* text : {"2017-03-02 23:25:10.07453 UTC",
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
    int64_t expected = -7;
    int64_t actual = -7;
    const bool ok = Reference(text, &expected);
    EXPECT_EQ(ParseQuickDrawTimestamp(text, &actual), ok) << text;
    if (ok) {
      EXPECT_EQ(actual, expected) << text;
    }
  }
  int64_t seconds = 0;
  ASSERT_TRUE(ParseQuickDrawTimestamp("2017-03-02 23:25:10.07453 UTC", &seconds));
  EXPECT_EQ(seconds, 1488497110);
}

TEST(FastDecodeNdjsonRecordTest, DecodesTheCommonShape) {
  Sketch sketch;
  std::vector<Stroke> spare;
  ASSERT_TRUE(FastDecodeNdjsonRecord(
      R"({"word":"cat","countrycode":"VE","timestamp":"2017-03-02 23:25:10.07453 UTC",)"
      R"("recognized":true,"key_id":"5201136883597312","drawing":[[[130,113],[72,40]],[[7],[8]]]})",
      {}, &sketch, &spare));
  EXPECT_EQ(sketch.word, "cat");
  EXPECT_EQ(sketch.countrycode, "VE");
  EXPECT_EQ(sketch.timestamp, 1488497110);
  EXPECT_TRUE(sketch.recognized);
  EXPECT_EQ(sketch.key_id, 5201136883597312u);
  EXPECT_EQ(sketch.frame, StrokeFrame::kSimplified);
  ASSERT_EQ(sketch.strokes.size(), 2u);
  EXPECT_THAT(sketch.strokes[0].x, ElementsAre(130, 113));
  EXPECT_THAT(sketch.strokes[1].y, ElementsAre(8));

  // A smaller record parks the extra stroke in `spare`; a bigger one takes it back.
  ASSERT_TRUE(FastDecodeNdjsonRecord(
      R"({"drawing":[[[1.5,-2],[3e1,4],[0,16]]],"key_id":7,"recognized":false,)"
      R"("timestamp":1488497110,"countrycode":"","word":"w"})",
      {}, &sketch, &spare));
  EXPECT_EQ(sketch.frame, StrokeFrame::kRaw);
  ASSERT_EQ(sketch.strokes.size(), 1u);
  EXPECT_THAT(sketch.strokes[0].x, ElementsAre(1.5f, -2));
  EXPECT_THAT(sketch.strokes[0].y, ElementsAre(30, 4));
  EXPECT_THAT(sketch.strokes[0].t, ElementsAre(0, 16));
  EXPECT_EQ(spare.size(), 1u);
}

// Everything outside the common shape is left to simdjson, errors included.
TEST(FastDecodeNdjsonRecordTest, DeclinesAnythingElse) {
  const std::string head =
      R"({"word":"cat","countrycode":"VE","timestamp":"2017-03-02 23:25:10 UTC",)"
      R"("recognized":true,"key_id":"1","drawing":)";
  for (const std::string& line : std::vector<std::string>{
           head + "[[[1],[2]]]} x",               // trailing junk
           head + "[[[1],[2]]],\"extra\":1}",     // unknown field
           head + "[[[1],[2]]],\"word\":\"d\"}",  // duplicate field
           head + "[[[01],[2]]]}",                // leading zero
           head + "[[[1.],[2]]]}",                // bad fraction
           head + "[[[1e],[2]]]}",                // bad exponent
           head + "[[[-],[2]]]}",                 // lone minus
           head + "[[[1e999],[2]]]}",             // out of range
           head + "[[[1234567890123456],[2]]]}",  // more digits than exact
           head + "[[[1],[2,3]]]}",               // x/y mismatch
           head + "[[[1],[2]],[[1],[2],[3]]]}",   // mixed arity
           head + "[[[1]]]}",                     // one array
           head + "[[[1],[2]],]}",                // trailing comma
           head + "[[[true],[2]]]}",              // not a number
           std::string(R"({"word":"caf\u00e9")") + head.substr(13) + "[[[1],[2]]]}",  // escape
           R"({"word":"cat"})",  // missing fields
       }) {
    Sketch sketch;
    std::vector<Stroke> spare;
    EXPECT_FALSE(FastDecodeNdjsonRecord(line, {}, &sketch, &spare)) << line;
  }
  SketchLimits limits;
  limits.max_points_per_stroke = 1;
  Sketch sketch;
  std::vector<Stroke> spare;
  EXPECT_FALSE(FastDecodeNdjsonRecord(head + "[[[1,2],[3,4]]]}", limits, &sketch, &spare));
}

}  // namespace
}  // namespace sketch
