// QueryNormalizingIndex: a FeatureIndex over L2-normalized features that scales each query to
// unit norm (L2NormalizeRows, the function that normalized the indexed rows offline) before
// searching the index it wraps. Whether queries need it is a property of a bundle, known only
// once it is loaded, so the index carries it rather than the service's options.
#ifndef SKETCH_INDEX_QUERY_NORMALIZING_INDEX_H_
#define SKETCH_INDEX_QUERY_NORMALIZING_INDEX_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "index/feature_index.h"

namespace sketch {

class QueryNormalizingIndex : public FeatureIndex {
 public:
  // `index` must be non-null and hold L2-normalized rows.
  explicit QueryNormalizingIndex(std::unique_ptr<const FeatureIndex> index);

  int dimension() const override { return index_->dimension(); }
  int64_t size() const override { return index_->size(); }
  const IndexedSketch& metadata(int64_t id) const override { return index_->metadata(id); }

  // The wrapped index's Search on a normalized copy of `queries` (float [n, dimension()]); its
  // errors as they are. Thread-safe when the wrapped index's Search is.
  absl::StatusOr<std::vector<std::vector<Neighbor>>> Search(
      absl::Span<const float> queries, int k, const SearchFilter& filter) const override;

 private:
  const std::unique_ptr<const FeatureIndex> index_;
};

}  // namespace sketch

#endif  // SKETCH_INDEX_QUERY_NORMALIZING_INDEX_H_
