// Tests index/feature_whitening.h: the fit against hand-checked cases (a known spectrum, the
// regularizer), what whitening does to a nuisance direction shared by all rows, the file round
// trip, and the errors.
#include "index/feature_whitening.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index/l2_normalize.h"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

using ::testing::HasSubstr;

double Dot(const float* a, const float* b, int d) {
  double s = 0;
  for (int i = 0; i < d; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Rows x = L2(m + s1 * g1 * e0 + s2 * g2 * e1 + s3 * g3 * e2) in 6-d, Gaussian g: after the L2
// normalization inside the fit the spread is still largest along e0, then e1, then e2.
std::vector<float> Anisotropic(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> rows;
  for (int i = 0; i < n; ++i) {
    const float x[6] = {5.0f * g(rng), 2.0f * g(rng), 0.5f * g(rng), 10.0f, 0.0f, 0.0f};
    rows.insert(rows.end(), x, x + 6);
  }
  return rows;
}

TEST(FeatureWhiteningTest, WhitenedRowsAreUnitVectorsOfTheKeptDimensions) {
  const std::vector<float> rows = Anisotropic(2000, 1);
  auto whitening = FeatureWhitening::Fit(rows, 6, {.dims = 3, .shrink = 0.0});
  ASSERT_TRUE(whitening.ok()) << whitening.status();
  EXPECT_EQ((*whitening)->input_dimension(), 6);
  EXPECT_EQ((*whitening)->output_dimension(), 3);
  auto out = (*whitening)->Apply(rows);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2000u * 3);
  for (int i = 0; i < 2000; ++i) EXPECT_NEAR(Dot(&(*out)[i * 3], &(*out)[i * 3], 3), 1.0, 1e-5);
}

// Fitted with shrink 0, the whitening gives its training rows the identity covariance before the
// last normalization; after it the three coordinates stay uncorrelated and about equally spread,
// where L2 normalization alone leaves e0 dominant.
TEST(FeatureWhiteningTest, TheOutputCoordinatesAreDecorrelatedAndEquallySpread) {
  const std::vector<float> rows = Anisotropic(20000, 2);
  auto whitening = FeatureWhitening::Fit(rows, 6, {.dims = 3, .shrink = 0.0});
  ASSERT_TRUE(whitening.ok()) << whitening.status();
  auto out = (*whitening)->Apply(rows);
  ASSERT_TRUE(out.ok());
  double second[3][3] = {};
  for (int i = 0; i < 20000; ++i) {
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < 3; ++b) second[a][b] += (*out)[i * 3 + a] * (*out)[i * 3 + b] / 20000;
    }
  }
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(second[a][a], 1.0 / 3, 0.03) << a;
    for (int b = 0; b < a; ++b) EXPECT_NEAR(second[a][b], 0.0, 0.03) << a << "," << b;
  }
  // L2 alone leaves the e0 coordinate dominant: its share of the spread is far above a third.
  std::vector<float> normalized = rows;
  L2NormalizeRows(&normalized, 6);
  double e0 = 0, e1 = 0;
  for (int i = 0; i < 20000; ++i) {
    e0 += normalized[i * 6] * normalized[i * 6];
    e1 += normalized[i * 6 + 1] * normalized[i * 6 + 1];
  }
  EXPECT_GT(e0, 4 * e1);
}

// Two clusters told apart only along a low-variance direction (e2), with a large shared
// nuisance along e0 and e1: by L2 distance a row's nearest other is often of the other cluster;
// once whitened, almost always of its own.
TEST(FeatureWhiteningTest, WhiteningLetsASmallDiscriminativeDirectionCount) {
  std::mt19937_64 rng(3);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const int n = 200;
  std::vector<float> rows;
  std::vector<int> cluster;
  for (int i = 0; i < n; ++i) {
    const int c = i % 2;
    const float x[4] = {4.0f * g(rng), 4.0f * g(rng), (c ? 0.3f : -0.3f) + 0.1f * g(rng), 10.0f};
    rows.insert(rows.end(), x, x + 4);
    cluster.push_back(c);
  }
  // All 4 dimensions: after the L2 normalization e3 varies more than e2 (the norm varies).
  auto whitening = FeatureWhitening::Fit(rows, 4, {.dims = 4, .shrink = 0.0});
  ASSERT_TRUE(whitening.ok()) << whitening.status();
  std::vector<float> plain = rows;
  L2NormalizeRows(&plain, 4);
  auto whitened = (*whitening)->Apply(rows);
  ASSERT_TRUE(whitened.ok());
  const auto nearest_same = [&](const std::vector<float>& v, int d) {
    int same = 0;
    for (int i = 0; i < n; ++i) {
      int best = -1;
      double best_dot = -2;
      for (int j = 0; j < n; ++j) {
        const double dot = j == i ? -3 : Dot(&v[i * d], &v[j * d], d);
        if (dot > best_dot) best_dot = dot, best = j;
      }
      same += cluster[best] == cluster[i];
    }
    return same / static_cast<double>(n);
  };
  const double before = nearest_same(plain, 4);
  const double after = nearest_same(*whitened, 4);
  EXPECT_LT(before, 0.9);
  EXPECT_GT(after, 0.97);
}

// A spectrum of rank 2 in 3 dims: whitening all 3 needs the regularizer; with it the null
// direction gets weight 1/sqrt(shrink x mean eigenvalue), finite.
TEST(FeatureWhiteningTest, ARankDeficientSpectrumNeedsTheShrink) {
  std::mt19937_64 rng(4);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> rows;
  for (int i = 0; i < 500; ++i) {
    const float a = g(rng), b = g(rng);
    const float x[3] = {a, b, 0.0f};  // nothing along e2, even after L2 normalization
    rows.insert(rows.end(), x, x + 3);
  }
  auto unregularized = FeatureWhitening::Fit(rows, 3, {.dims = 3, .shrink = 0.0});
  EXPECT_EQ(unregularized.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unregularized.status().message()), HasSubstr("fewer than 3 directions"));
  auto regularized = FeatureWhitening::Fit(rows, 3, {.dims = 3, .shrink = 0.1});
  ASSERT_TRUE(regularized.ok()) << regularized.status();
  auto out = (*regularized)->Apply(rows);
  ASSERT_TRUE(out.ok());
  for (float v : *out) EXPECT_TRUE(std::isfinite(v));
}

TEST(FeatureWhiteningTest, SavedAndLoadedItWhitensIdentically) {
  const std::vector<float> rows = Anisotropic(300, 5);
  auto whitening = FeatureWhitening::Fit(rows, 6, {.dims = 2, .shrink = 0.1});
  ASSERT_TRUE(whitening.ok());
  const std::string path = TempPath("whitening.faiss");
  ASSERT_TRUE((*whitening)->Save(path).ok());
  auto loaded = FeatureWhitening::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->input_dimension(), 6);
  EXPECT_EQ((*loaded)->output_dimension(), 2);
  EXPECT_EQ(*(*loaded)->Apply(rows), *(*whitening)->Apply(rows));
}

TEST(FeatureWhiteningTest, BadOptionsShapesAndFilesAreNamed) {
  const std::vector<float> rows = Anisotropic(50, 6);
  const auto code = [](const auto& result) { return result.status().code(); };
  EXPECT_EQ(code(FeatureWhitening::Fit(rows, 6, {.dims = 7})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(FeatureWhitening::Fit(rows, 6, {.dims = 0})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(FeatureWhitening::Fit(rows, 6, {.dims = 2, .shrink = -1})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(FeatureWhitening::Fit(rows, 7, {.dims = 2})), absl::StatusCode::kInvalidArgument);
  auto few =
      FeatureWhitening::Fit(std::vector<float>(rows.begin(), rows.begin() + 18), 6, {.dims = 3});
  EXPECT_THAT(std::string(few.status().message()), HasSubstr("at least 4 features; got 3"));
  std::vector<float> nan = rows;
  nan[7] = std::nanf("");
  EXPECT_THAT(std::string(FeatureWhitening::Fit(nan, 6, {.dims = 2}).status().message()),
              HasSubstr("value 7 is not finite"));

  auto whitening = FeatureWhitening::Fit(rows, 6, {.dims = 2});
  ASSERT_TRUE(whitening.ok());
  EXPECT_EQ(code((*whitening)->Apply(std::vector<float>(5, 1.0f))),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code((*whitening)->Apply(nan)), absl::StatusCode::kInvalidArgument);

  const std::string junk = TempPath("junk.faiss");
  std::ofstream(junk) << "not a transform";
  auto bad = FeatureWhitening::Load(junk);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(junk));
  EXPECT_EQ(code(FeatureWhitening::Load(TempPath("absent.faiss"))), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace sketch
