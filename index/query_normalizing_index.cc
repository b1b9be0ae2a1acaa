#include "index/query_normalizing_index.h"

#include <utility>

#include "core/status_macros.h"
#include "index/l2_normalize.h"

namespace sketch {

QueryNormalizingIndex::QueryNormalizingIndex(std::unique_ptr<const FeatureIndex> index,
                                             std::shared_ptr<const FeatureWhitening> whitening)
    : index_(std::move(index)), whitening_(std::move(whitening)) {}

int QueryNormalizingIndex::dimension() const {
  return whitening_ ? whitening_->input_dimension() : index_->dimension();
}

absl::StatusOr<std::vector<std::vector<Neighbor>>> QueryNormalizingIndex::Search(
    absl::Span<const float> queries, int k, const SearchFilter& filter) const {
  if (whitening_) {
    ASSIGN_OR_RETURN(const std::vector<float> whitened, whitening_->Apply(queries));
    return index_->Search(whitened, k, filter);
  }
  std::vector<float> normalized(queries.begin(), queries.end());
  L2NormalizeRows(&normalized, index_->dimension());
  return index_->Search(normalized, k, filter);
}

}  // namespace sketch
