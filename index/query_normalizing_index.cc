#include "index/query_normalizing_index.h"

#include <utility>

#include "index/l2_normalize.h"

namespace sketch {

QueryNormalizingIndex::QueryNormalizingIndex(std::unique_ptr<const FeatureIndex> index)
    : index_(std::move(index)) {}

absl::StatusOr<std::vector<std::vector<Neighbor>>> QueryNormalizingIndex::Search(
    absl::Span<const float> queries, int k, const SearchFilter& filter) const {
  std::vector<float> normalized(queries.begin(), queries.end());
  L2NormalizeRows(&normalized, index_->dimension());
  return index_->Search(normalized, k, filter);
}

}  // namespace sketch
