#include "server/request_limits.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

using ::testing::HasSubstr;

TEST(RequestLimitsTest, DefaultsAreValid) { EXPECT_TRUE(ValidateRequestLimits({}).ok()); }

TEST(RequestLimitsTest, RejectsNonPositiveLimits) {
  RequestLimits limits;
  limits.max_search_k = 0;
  EXPECT_THAT(ValidateRequestLimits(limits).message(), HasSubstr("limits.max_search_k: 0"));
  limits = {};
  limits.max_nprobe = 0;
  EXPECT_THAT(ValidateRequestLimits(limits).message(), HasSubstr("limits.max_nprobe: 0"));
  limits = {};
  limits.max_ef_search = -2;
  EXPECT_THAT(ValidateRequestLimits(limits).message(), HasSubstr("limits.max_ef_search: -2"));
  limits = {};
  limits.sketch.max_raw_abs_coordinate = 0;
  EXPECT_EQ(ValidateRequestLimits(limits).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RequestLimitsTest, CheckSearchKnobsNamesTheParam) {
  RequestLimits limits;
  limits.max_nprobe = 8;
  limits.max_ef_search = 100;
  EXPECT_TRUE(CheckSearchKnobs("", 0, 0, limits).ok());
  EXPECT_TRUE(CheckSearchKnobs("", 8, 100, limits).ok());
  EXPECT_EQ(CheckSearchKnobs("", 9, 0, limits).message(), "params.nprobe: 9 is outside 0..8");
  EXPECT_EQ(CheckSearchKnobs("requests[2].", 1, 101, limits).message(),
            "requests[2].params.ef_search: 101 is outside 0..100");
}

TEST(RequestLimitsTest, CheckInRangeNamesTheField) {
  EXPECT_TRUE(CheckInRange("k", 5, 1, 10).ok());
  EXPECT_TRUE(CheckInRange("k", 1, 1, 1).ok());
  const absl::Status status = CheckInRange("requests[2].k", 0, 1, 10);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "requests[2].k: 0 is outside 1..10");
}

TEST(RequestLimitsTest, CheckCountNamesTheField) {
  EXPECT_TRUE(CheckCount("classes", 3, 3).ok());
  EXPECT_EQ(CheckCount("classes", 4, 3).message(), "classes: 4 entries exceed the limit of 3");
}

TEST(RequestLimitsTest, AnnotatePrefixesAndKeepsTheCode) {
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
  const absl::Status status = Annotate(absl::NotFoundError("gone"), "drawing");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "drawing: gone");
}

}  // namespace
}  // namespace sketch
