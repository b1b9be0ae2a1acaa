// Tests index/query_expanding_index.h and the leave-one-out mAP with query expansion
// (index/leave_one_out.h).
#include "index/query_expanding_index.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "index/faiss_index.h"
#include "index/index_spec.h"
#include "index/l2_normalize.h"
#include "index/leave_one_out.h"

namespace sketch {
namespace {

// Four unit rows in the plane and the query (1, 0). Plainly, row 1 is nearest (cosine 0.8), then
// row 0 (0.66), then row 2 (0.6). Expanded with its nearest row, the query turns toward row 1's
// side, and row 2, on that side, overtakes row 0.
std::vector<float> PlaneRows() {
  const float y0 = std::sqrt(1.0f - 0.66f * 0.66f);
  return {0.66f, y0, 0.8f, -0.6f, 0.6f, -0.8f, 0.0f, 1.0f};
}

std::unique_ptr<const FaissIndex> PlaneIndex(const IndexSpec& spec = IndexSpec()) {
  std::vector<IndexedSketch> metadata = {{10, 0, "a"}, {11, 1, "b"}, {12, 1, "b"}, {13, 2, "c"}};
  auto index = FaissIndex::Build(PlaneRows(), 2, metadata, spec);
  EXPECT_TRUE(index.ok()) << index.status();
  return index.ok() ? std::unique_ptr<const FaissIndex>(std::move(*index)) : nullptr;
}

// q + sum over `ids` of max(q . row, 0)^alpha row, scaled to unit norm: the expansion computed
// here in double from its definition.
std::vector<double> ExpectedQuery(const std::vector<double>& q, const std::vector<int>& ids,
                                  double alpha) {
  const std::vector<float> rows = PlaneRows();
  std::vector<double> sum = q;
  for (int id : ids) {
    const double similarity = q[0] * rows[2 * id] + q[1] * rows[2 * id + 1];
    const double weight = std::pow(std::max(similarity, 0.0), alpha);
    sum[0] += weight * rows[2 * id];
    sum[1] += weight * rows[2 * id + 1];
  }
  const double norm = std::hypot(sum[0], sum[1]);
  return {sum[0] / norm, sum[1] / norm};
}

// The ids of the answer in order, each distance checked against |expected - row|^2.
std::vector<int64_t> CheckedIds(const std::vector<Neighbor>& hits,
                                const std::vector<double>& expected) {
  const std::vector<float> rows = PlaneRows();
  std::vector<int64_t> ids;
  for (const Neighbor& hit : hits) {
    const double dx = expected[0] - rows[2 * hit.id], dy = expected[1] - rows[2 * hit.id + 1];
    EXPECT_NEAR(hit.distance, dx * dx + dy * dy, 1e-5) << "id " << hit.id;
    ids.push_back(hit.id);
  }
  return ids;
}

TEST(QueryExpandingIndexTest, ExpandsWithTheNearestRowsWeightedBySimilarityToTheAlpha) {
  const std::vector<float> query = {1, 0};
  auto plain = PlaneIndex()->Search(query, 3, SearchFilter());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(CheckedIds((*plain)[0], {1, 0}), (std::vector<int64_t>{1, 0, 2}));

  for (double alpha : {0.0, 1.0, 3.0}) {
    auto index = QueryExpandingIndex::Create(PlaneIndex(), {/*neighbors=*/1, alpha});
    ASSERT_TRUE(index.ok()) << index.status();
    auto expanded = (*index)->Search(query, 3, SearchFilter());
    ASSERT_TRUE(expanded.ok()) << expanded.status();
    EXPECT_EQ(CheckedIds((*expanded)[0], ExpectedQuery({1, 0}, {1}, alpha)),
              (std::vector<int64_t>{1, 2, 0}))
        << "alpha " << alpha;
  }
  // Two neighbours, rows 1 and 0, each with its own weight.
  auto two = QueryExpandingIndex::Create(PlaneIndex(), {/*neighbors=*/2, 3.0});
  ASSERT_TRUE(two.ok());
  auto expanded = (*two)->Search(query, 4, SearchFilter());
  ASSERT_TRUE(expanded.ok());
  ASSERT_EQ((*expanded)[0].size(), 4u);
  CheckedIds((*expanded)[0], ExpectedQuery({1, 0}, {1, 0}, 3.0));
  EXPECT_EQ((*two)->size(), 4);
  EXPECT_EQ((*two)->dimension(), 2);
  EXPECT_EQ((*two)->metadata(3).key_id, 13u);
}

// An excluded id expands nothing (in a leave-one-out evaluation, the query itself); the next
// nearest row that passes the filter does. Several queries in one call expand each on its own.
TEST(QueryExpandingIndexTest, TheFilterAppliesToTheExpansionToo) {
  auto index = QueryExpandingIndex::Create(PlaneIndex(), {/*neighbors=*/1, 1.0});
  ASSERT_TRUE(index.ok());
  SearchFilter filter;
  filter.excluded_ids = {1};
  auto result = (*index)->Search(std::vector<float>{1, 0}, 3, filter);
  ASSERT_TRUE(result.ok()) << result.status();
  // Expanded toward row 0's side instead, the query now ranks row 3 (0, 1) above row 2.
  EXPECT_EQ(CheckedIds((*result)[0], ExpectedQuery({1, 0}, {0}, 1.0)),
            (std::vector<int64_t>{0, 3, 2}));

  SearchFilter word_c;  // only label 2: row 3, which is orthogonal to (1, 0) and weighs 0^1
  word_c.allowed_labels = {2};
  auto only = (*index)->Search(std::vector<float>{1, 0, 0, 1}, 1, word_c);
  ASSERT_TRUE(only.ok()) << only.status();
  ASSERT_EQ(only->size(), 2u);
  EXPECT_EQ(CheckedIds((*only)[0], {1, 0}), (std::vector<int64_t>{3}));
  EXPECT_EQ(CheckedIds((*only)[1], {0, 1}), (std::vector<int64_t>{3}));
}

TEST(QueryExpandingIndexTest, RefusesBadOptionsAndIvfAndPassesSearchErrorsOn) {
  EXPECT_FALSE(QueryExpandingIndex::Create(PlaneIndex(), {0, 3.0}).ok());
  EXPECT_FALSE(QueryExpandingIndex::Create(PlaneIndex(), {-1, 3.0}).ok());
  EXPECT_FALSE(QueryExpandingIndex::Create(PlaneIndex(), {2, -1.0}).ok());
  EXPECT_FALSE(
      QueryExpandingIndex::Create(PlaneIndex(), {2, std::numeric_limits<double>::quiet_NaN()})
          .ok());
  EXPECT_FALSE(QueryExpandingIndex::Create(nullptr, {2, 3.0}).ok());
  EXPECT_TRUE(ValidateQueryExpansionOptions({0, 0.0}).ok());  // 0: no expansion, valid in a config

  // 64 rows: enough to train an IVF4 quantizer.
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> rows(64 * 2);
  for (float& v : rows) v = normal(rng);
  L2NormalizeRows(&rows, 2);
  IndexSpec ivf;
  ivf.type = "IVF4,Flat";
  auto ivf_index = FaissIndex::Build(rows, 2, std::vector<IndexedSketch>(64), ivf);
  ASSERT_TRUE(ivf_index.ok()) << ivf_index.status();
  auto refused = QueryExpandingIndex::Create(std::move(*ivf_index), {2, 3.0});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("IVF"), std::string::npos) << refused.status();

  IndexSpec hnsw;
  hnsw.type = "HNSW8";
  auto hnsw_index = QueryExpandingIndex::Create(PlaneIndex(hnsw), {1, 1.0});
  ASSERT_TRUE(hnsw_index.ok()) << hnsw_index.status();
  auto hnsw_result = (*hnsw_index)->Search(std::vector<float>{1, 0}, 3, SearchFilter());
  ASSERT_TRUE(hnsw_result.ok()) << hnsw_result.status();
  EXPECT_EQ(CheckedIds((*hnsw_result)[0], ExpectedQuery({1, 0}, {1}, 1.0)),
            (std::vector<int64_t>{1, 2, 0}));

  auto index = QueryExpandingIndex::Create(PlaneIndex(), {2, 3.0});
  ASSERT_TRUE(index.ok());
  EXPECT_FALSE((*index)->Search(std::vector<float>{1, 0}, 5, SearchFilter()).ok());  // k > size
  EXPECT_FALSE((*index)->Search(std::vector<float>{1, 0}, 0, SearchFilter()).ok());
  EXPECT_FALSE((*index)->Search(std::vector<float>{1, 0, 0}, 1, SearchFilter()).ok());  // width
}

// The offline leave-one-out mAP with expansion against its definition, computed here by brute
// force: each item's k nearest others (itself never among them), weighted, added, normalized,
// then all others ranked by the expanded query. Three noisy clusters of 12, where the expansion
// changes the rankings.
TEST(LeaveOneOutWithQueryExpansionTest, EqualsTheDefinitionByBruteForce) {
  constexpr int kDim = 8, kPerClass = 12, kClasses = 3, kN = kPerClass * kClasses;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> features(kN * kDim);
  std::vector<int> labels(kN);
  for (int i = 0; i < kN; ++i) {
    labels[i] = i % kClasses;
    for (int j = 0; j < kDim; ++j) {
      features[i * kDim + j] = (j == labels[i] ? 1.2f : 0.0f) + normal(rng);
    }
  }
  std::vector<float> unit = features;
  L2NormalizeRows(&unit, kDim);
  const auto dot = [&](const std::vector<float>& a, int i, const float* b) {
    double s = 0;
    for (int j = 0; j < kDim; ++j) s += static_cast<double>(a[i * kDim + j]) * b[j];
    return s;
  };
  const QueryExpansionOptions expansion{/*neighbors=*/3, /*alpha=*/2.0};
  std::vector<int64_t> ranking;
  LeaveOneOutMapAccumulator expected(labels);
  for (int q = 0; q < kN; ++q) {
    std::vector<int> others;
    for (int i = 0; i < kN; ++i) {
      if (i != q) others.push_back(i);
    }
    const float* query = unit.data() + q * kDim;
    std::stable_sort(others.begin(), others.end(),
                     [&](int a, int b) { return dot(unit, a, query) > dot(unit, b, query); });
    std::vector<float> expanded(query, query + kDim);
    for (int n = 0; n < expansion.neighbors; ++n) {
      const double w = std::pow(std::max(dot(unit, others[n], query), 0.0), expansion.alpha);
      for (int j = 0; j < kDim; ++j) {
        expanded[j] += static_cast<float>(w * unit[others[n] * kDim + j]);
      }
    }
    L2NormalizeRows(&expanded, kDim);
    std::stable_sort(others.begin(), others.end(), [&](int a, int b) {
      return dot(unit, a, expanded.data()) > dot(unit, b, expanded.data());
    });
    ranking.assign(others.begin(), others.end());
    ASSERT_TRUE(expected.AddRanking(q, ranking).ok());
  }
  auto want = expected.Finish();
  ASSERT_TRUE(want.ok()) << want.status();

  LeaveOneOutOptions options;
  options.l2_normalize = true;
  options.query_expansion = expansion;
  auto got = LeaveOneOutMapOfFeatures(features, kDim, labels, options);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_NEAR(got->mean_average_precision, want->mean_average_precision, 1e-9);
  EXPECT_NEAR(got->mean_precision_at_10, want->mean_precision_at_10, 1e-9);

  options.query_expansion = {};
  auto plain = LeaveOneOutMapOfFeatures(features, kDim, labels, options);
  ASSERT_TRUE(plain.ok());
  EXPECT_NE(plain->mean_average_precision, got->mean_average_precision);  // it does change them
}

}  // namespace
}  // namespace sketch
