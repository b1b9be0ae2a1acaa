#include "core/retrieval_metrics.h"

#include <cmath>

#include "gtest/gtest.h"

namespace sketch {
namespace {

TEST(AveragePrecisionTest, HandComputedRankings) {
  // Relevant at ranks 1 and 3 of 2 relevant: (1/1 + 2/3) / 2.
  EXPECT_DOUBLE_EQ(AveragePrecision({7, 1, 7, 2}, 7, 2), (1.0 + 2.0 / 3.0) / 2.0);
  EXPECT_DOUBLE_EQ(AveragePrecision({7, 7, 1}, 7, 2), 1.0);
  EXPECT_DOUBLE_EQ(AveragePrecision({1, 2, 7}, 7, 1), 1.0 / 3.0);
  // A truncated ranking that misses one of two relevant items.
  EXPECT_DOUBLE_EQ(AveragePrecision({7, 1}, 7, 2), 0.5);
  EXPECT_DOUBLE_EQ(AveragePrecision({1, 2}, 7, 0), 0.0);
}

TEST(LeaveOneOutMapTest, FourItemsByHand) {
  // Items 0,1 are class 0; items 2,3 class 1.
  const std::vector<int> labels = {0, 0, 1, 1};
  const std::vector<std::vector<int64_t>> rankings = {
      {1, 2, 3},  // AP 1
      {2, 0, 3},  // AP 1/2
      {0, 1, 3},  // AP 1/3
      {2, 0, 1},  // AP 1
  };
  auto report = LeaveOneOutMap(labels, rankings);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_DOUBLE_EQ(report->average_precision[1], 0.5);
  EXPECT_DOUBLE_EQ(report->average_precision[2], 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(report->mean_average_precision, (1 + 0.5 + 1.0 / 3.0 + 1) / 4);
  EXPECT_DOUBLE_EQ(report->per_class_map[0], 0.75);
  EXPECT_DOUBLE_EQ(report->per_class_map[1], (1.0 / 3.0 + 1) / 2);
}

TEST(LeaveOneOutMapTest, RejectsRankingsThatAreNotLeaveOneOut) {
  const std::vector<int> labels = {0, 0, 1};
  EXPECT_FALSE(LeaveOneOutMap(labels, {{1, 2}, {0, 2}}).ok());             // too few rankings
  EXPECT_FALSE(LeaveOneOutMap(labels, {{0, 2}, {0, 2}, {0, 1}}).ok());     // query ranks itself
  EXPECT_FALSE(LeaveOneOutMap(labels, {{1, 1}, {0, 2}, {0, 1}}).ok());     // duplicate
  EXPECT_FALSE(LeaveOneOutMap(labels, {{1, 9}, {0, 2}, {0, 1}}).ok());     // out of range
  EXPECT_FALSE(LeaveOneOutMap(labels, {{1}, {0, 2}, {0, 1}}).ok());        // truncated
  EXPECT_TRUE(LeaveOneOutMap(labels, {{1, 2}, {0, 2}, {0, 1}}).ok());
}

}  // namespace
}  // namespace sketch
