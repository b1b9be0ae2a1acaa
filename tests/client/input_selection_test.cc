#include "client/input_selection.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_server.h"

namespace sketch {
namespace {

using ::sketch::testing::TestData;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;

InputSelection Select(const std::string& path, int64_t record = 0) {
  InputSelection selection;
  selection.path = path;
  selection.record = record;
  return selection;
}

// The positions of the records `selection` picks.
absl::StatusOr<std::vector<std::string>> Positions(const InputSelection& selection,
                                                   const std::string& stdin_text = "") {
  std::istringstream in(stdin_text);
  std::vector<std::string> positions;
  absl::Status status = ForEachInput(selection, in, [&](InputRecord record) {
    positions.push_back(record.position);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return positions;
}

TEST(ForEachInputTest, VisitsEveryRecordByDefault) {
  auto positions = Positions(Select(TestData("simplified/cat.ndjson")));
  ASSERT_TRUE(positions.ok()) << positions.status();
  EXPECT_EQ(positions->size(), 120u);
  EXPECT_THAT(positions->front(), EndsWith("cat.ndjson:line 1"));
}

TEST(ForEachInputTest, PicksTheNthRecord) {
  auto positions = Positions(Select(TestData("simplified/cat.ndjson"), 3));
  ASSERT_TRUE(positions.ok());
  ASSERT_EQ(positions->size(), 1u);
  EXPECT_THAT((*positions)[0], EndsWith(":line 3"));
  EXPECT_EQ(Positions(Select(TestData("simplified/cat.ndjson"), 500)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Positions(Select(TestData("simplified/cat.ndjson"), -1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ForEachInputTest, PicksByKeyId) {
  InputSelection selection = Select(TestData("simplified/cat.ndjson"));
  selection.key_id = 5201136883597312;  // the first line
  auto positions = Positions(selection);
  ASSERT_TRUE(positions.ok()) << positions.status();
  EXPECT_THAT(*positions, ElementsAre(EndsWith(":line 1")));
  selection.key_id = 1;
  EXPECT_THAT(Positions(selection).status().message(), HasSubstr("no record with key_id 1"));
}

TEST(ForEachInputTest, ReadsNdjsonFromStdin) {
  const std::string text =
      "{\"word\":\"cat\",\"countrycode\":\"US\",\"timestamp\":1,\"recognized\":true,"
      "\"key_id\":\"7\",\"drawing\":[[[1,2],[3,4]]]}\n";
  std::istringstream in(text + text);
  std::vector<Sketch> sketches;
  ASSERT_TRUE(ForEachInput(Select("-"), in, [&](InputRecord record) {
                sketches.push_back(record.sketch);
                return absl::OkStatus();
              }).ok());
  ASSERT_EQ(sketches.size(), 2u);
  EXPECT_EQ(sketches[0].key_id, 7u);
  EXPECT_EQ(sketches[0].word, "cat");
  EXPECT_EQ(Positions(Select("-"), "{not json\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Positions(Select("-"), "").status().code(), absl::StatusCode::kNotFound);
}

TEST(ForEachInputTest, ReadsBitmapsAndReportsMissingFiles) {
  std::istringstream in;
  int bitmaps = 0;
  ASSERT_TRUE(
      ForEachInput(Select(TestData("numpy_bitmap/cat.npy"), 2), in, [&](InputRecord record) {
        bitmaps += record.sketch.is_bitmap();
        return absl::OkStatus();
      }).ok());
  EXPECT_EQ(bitmaps, 1);
  EXPECT_EQ(Positions(Select(TestData("nope.ndjson"))).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ForEachInputTest, StopsAtTheVisitorsFirstError) {
  std::istringstream in;
  int visits = 0;
  const absl::Status status = ForEachInput(
      Select(TestData("simplified/cat.ndjson")), in,
      [&](InputRecord) { return ++visits == 2 ? absl::InternalError("stop") : absl::OkStatus(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(visits, 2);
}

}  // namespace
}  // namespace sketch
