#include "tests/testing/memory_growth.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace sketch::testing {
namespace {

// One sample a second for `seconds`, mb(second) given.
template <typename Mb>
std::vector<MemorySample> SampleEverySecond(int seconds, Mb mb) {
  std::vector<MemorySample> samples;
  for (int s = 0; s < seconds; ++s) samples.push_back({s / 60.0, mb(s)});
  return samples;
}

// +-0.2 MB from one second to the next: RSS never sits still under load.
double Wobble(int second) { return second % 2 ? 0.2 : -0.2; }

TEST(MemoryGrowthTest, BothSlopesGiveASteadyClimbsRate) {
  const auto samples = SampleEverySecond(90, [](int second) { return 200 + 3 * second / 60.0; });
  EXPECT_NEAR(LeastSquaresSlope(samples, 0), 3, 1e-9);
  EXPECT_NEAR(PersistentSlope(samples, 0), 3, 1e-9);
  // Only the samples from from_minute on count.
  auto bent = samples;
  for (auto& s : bent) {
    if (s.minute < 0.5) s.mb = 100;
  }
  EXPECT_NEAR(LeastSquaresSlope(bent, 0.5), 3, 1e-9);
  EXPECT_NEAR(PersistentSlope(bent, 0.5), 3, 1e-9);
  // A wobble on top moves neither far.
  const auto wobbly =
      SampleEverySecond(67, [](int second) { return 200 + 5 * second / 60.0 + Wobble(second); });
  EXPECT_NEAR(LeastSquaresSlope(wobbly, 0), 5, 0.1);
  EXPECT_NEAR(PersistentSlope(wobbly, 0), 5, 0.5);
}

TEST(MemoryGrowthTest, OneStepAnywhereIsNoPersistentClimb) {
  // A 3 MB step in a 67 s window (the e2e soak's), wherever it falls, with a wobble.
  for (int step = 0; step <= 67; ++step) {
    const auto samples = SampleEverySecond(
        67, [step](int second) { return 300 + (second >= step ? 3.0 : 0.0) + Wobble(second); });
    EXPECT_NEAR(PersistentSlope(samples, 0), 0, 0.3) << "step at " << step << " s";
  }
  // Least squares makes a step in the middle a climb of 1.5 x 3 MB / 1.1 minutes.
  const auto middle = SampleEverySecond(67, [](int second) { return second >= 33 ? 3.0 : 0.0; });
  EXPECT_GT(LeastSquaresSlope(middle, 0), 4);
}

TEST(MemoryGrowthTest, GrowthInBothHalvesCounts) {
  // Two 3 MB steps, one in each half: growth that recurs.
  const auto samples = SampleEverySecond(
      67, [](int second) { return (second >= 15 ? 3.0 : 0.0) + (second >= 50 ? 3.0 : 0.0); });
  EXPECT_GT(PersistentSlope(samples, 0), 2);
}

TEST(MemoryGrowthTest, TooFewSamplesGiveNaN) {
  EXPECT_TRUE(std::isnan(LeastSquaresSlope({}, 0)));
  EXPECT_TRUE(std::isnan(PersistentSlope({}, 0)));
  EXPECT_TRUE(std::isnan(PersistentSlope({{1, 5}}, 0)));
  EXPECT_TRUE(std::isnan(PersistentSlope({{1, 5}, {1, 6}}, 0)));  // no two distinct times
  EXPECT_TRUE(std::isnan(LeastSquaresSlope({{1, 5}, {1, 6}}, 0)));
  EXPECT_TRUE(std::isnan(PersistentSlope({{0, 5}, {1, 6}}, 0.5)));  // one left in the window
  // Three samples: the first half holds one, so it has no slope.
  EXPECT_TRUE(std::isnan(PersistentSlope({{0, 0}, {1, 1}, {2, 2}}, 0)));
  EXPECT_NEAR(PersistentSlope({{0, 0}, {1, 1}, {2, 2}, {3, 3}}, 0), 1, 1e-12);
}

}  // namespace
}  // namespace sketch::testing
