// QueryNormalizingIndex: a FeatureIndex over normalized features that normalizes each query the
// way the indexed rows were, offline, before searching the index it wraps: scaled to unit norm
// (L2NormalizeRows), or, for a whitened gallery, through the same FeatureWhitening (whitened and
// scaled to unit norm). Whether queries need it is a property of a bundle, known only once it is
// loaded, so the index carries it rather than the service's options.
#ifndef SKETCH_INDEX_QUERY_NORMALIZING_INDEX_H_
#define SKETCH_INDEX_QUERY_NORMALIZING_INDEX_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "index/feature_index.h"
#include "index/feature_whitening.h"

namespace sketch {

class QueryNormalizingIndex : public FeatureIndex {
 public:
  // `index` must be non-null and hold L2-normalized rows, or with `whitening` rows that
  // `whitening` made (its output dimension is then the index's).
  explicit QueryNormalizingIndex(std::unique_ptr<const FeatureIndex> index,
                                 std::shared_ptr<const FeatureWhitening> whitening = nullptr);

  // The dimension of the queries: the whitening's input when there is one.
  int dimension() const override;
  int64_t size() const override { return index_->size(); }
  const IndexedSketch& metadata(int64_t id) const override { return index_->metadata(id); }

  // The wrapped index's Search on a normalized copy of `queries` (float [n, dimension()]); its
  // errors and the whitening's (a bad shape, a non-finite value) as they are. Thread-safe when
  // the wrapped index's Search is.
  absl::StatusOr<std::vector<std::vector<Neighbor>>> Search(
      absl::Span<const float> queries, int k, const SearchFilter& filter) const override;

 private:
  const std::unique_ptr<const FeatureIndex> index_;
  const std::shared_ptr<const FeatureWhitening> whitening_;
};

}  // namespace sketch

#endif  // SKETCH_INDEX_QUERY_NORMALIZING_INDEX_H_
