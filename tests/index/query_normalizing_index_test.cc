// Tests index/l2_normalize.h and index/query_normalizing_index.h.
#include "index/query_normalizing_index.h"

#include <cmath>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "index/faiss_index.h"
#include "index/l2_normalize.h"

namespace sketch {
namespace {

TEST(L2NormalizeRowsTest, ScalesEachRowToUnitNormAndKeepsZeroRows) {
  std::vector<float> rows = {3, 4, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
  L2NormalizeRows(&rows, 4);
  EXPECT_FLOAT_EQ(rows[0], 0.6f);
  EXPECT_FLOAT_EQ(rows[1], 0.8f);
  for (int j = 4; j < 8; ++j) EXPECT_EQ(rows[j], j < 6 ? 0.0f : 1.0f / std::sqrt(2.0f));
  for (int j = 8; j < 12; ++j) EXPECT_FLOAT_EQ(rows[j], 0.5f);
}

// Three unit rows and a query in row 2's direction but 10x longer: normalized, it finds row 2 at
// distance 0, as an indexed drawing finds itself; the wrapped index alone finds it far away.
TEST(QueryNormalizingIndexTest, NormalizesQueriesLikeTheIndexedRows) {
  std::vector<float> rows = {1, 0, 0, 0, 1, 0, 0.6f, 0.8f, 0};
  L2NormalizeRows(&rows, 3);
  std::vector<IndexedSketch> metadata = {{1, 0, "a"}, {2, 1, "b"}, {3, 2, "c"}};
  auto flat = FaissIndex::Build(rows, 3, metadata);
  ASSERT_TRUE(flat.ok()) << flat.status();
  auto raw = FaissIndex::Build(rows, 3, metadata);
  ASSERT_TRUE(raw.ok());
  const QueryNormalizingIndex index(std::move(*flat));
  EXPECT_EQ(index.dimension(), 3);
  EXPECT_EQ(index.size(), 3);
  EXPECT_EQ(index.metadata(2).word, "c");

  const std::vector<float> query = {6, 8, 0};  // row 2, 10x longer
  auto normalized = index.Search(query, 3, SearchFilter());
  ASSERT_TRUE(normalized.ok()) << normalized.status();
  ASSERT_EQ((*normalized)[0].size(), 3u);
  EXPECT_EQ((*normalized)[0][0].id, 2);
  EXPECT_NEAR((*normalized)[0][0].distance, 0.0f, 1e-6);

  // The wrapped index alone sees the long query far from every unit row.
  auto unnormalized = (*raw)->Search(query, 1, SearchFilter());
  ASSERT_TRUE(unnormalized.ok());
  EXPECT_GT((*unnormalized)[0][0].distance, 50.0f);

  // Errors of the wrapped index come through: a query of the wrong width.
  EXPECT_FALSE(index.Search(std::vector<float>{1, 0}, 1, SearchFilter()).ok());
}

}  // namespace
}  // namespace sketch
