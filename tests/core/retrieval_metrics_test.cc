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

TEST(PrecisionAtKTest, HandComputedRankings) {
  // 3 of the first 10 are relevant; the relevant one at rank 11 does not count.
  const std::vector<int> ranked = {7, 1, 1, 7, 1, 1, 1, 1, 1, 7, 7, 7};
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 7, 10), 0.3);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 7, 1), 1.0);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 7, 4), 0.5);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 10), 0.7);
  // A collection smaller than k: over the items there are.
  EXPECT_DOUBLE_EQ(PrecisionAtK({7, 1, 7}, 7, 10), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(PrecisionAtK({}, 7, 10), 0.0);
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
  // 3 other items, one of them relevant: precision@10 is 1/3 for every query.
  for (double p : report->precision_at_10) EXPECT_DOUBLE_EQ(p, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(report->mean_precision_at_10, 1.0 / 3.0);
}

TEST(LeaveOneOutMapTest, PrecisionAtTenCountsTheFirstTenOthers) {
  // 6 items of class 0 and 8 of class 1; queries 0 and 6 get hand-made rankings, the others
  // rank by id.
  std::vector<int> labels(14, 1);
  for (int i = 0; i < 6; ++i) labels[i] = 0;
  LeaveOneOutMapAccumulator accumulator(labels);
  // Query 0: class 0 items at ranks 1, 3, 11, 12, 13: 2 of the first 10.
  ASSERT_TRUE(accumulator.AddRanking(0, {1, 6, 2, 7, 8, 9, 10, 11, 12, 13, 3, 4, 5}).ok());
  // Query 6 (class 1): its 7 class-1 peers first, then the 6 of class 0: 7 of the first 10.
  ASSERT_TRUE(accumulator.AddRanking(6, {7, 8, 9, 10, 11, 12, 13, 0, 1, 2, 3, 4, 5}).ok());
  for (int64_t q = 0; q < 14; ++q) {
    if (q == 0 || q == 6) continue;
    std::vector<int64_t> by_id;
    for (int64_t id = 0; id < 14; ++id) {
      if (id != q) by_id.push_back(id);
    }
    ASSERT_TRUE(accumulator.AddRanking(q, by_id).ok());
  }
  auto report = accumulator.Finish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_DOUBLE_EQ(report->precision_at_10[0], 0.2);
  EXPECT_DOUBLE_EQ(report->precision_at_10[6], 0.7);
  // By id, a class-0 query sees its 5 peers then 5 of class 1; a class-1 query (7..13) sees the
  // 6 of class 0 and then 4 of its peers.
  EXPECT_DOUBLE_EQ(report->precision_at_10[3], 0.5);
  EXPECT_DOUBLE_EQ(report->precision_at_10[10], 0.4);
  const double expected = (0.2 + 5 * 0.5 + 0.7 + 7 * 0.4) / 14;
  EXPECT_NEAR(report->mean_precision_at_10, expected, 1e-12);
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
