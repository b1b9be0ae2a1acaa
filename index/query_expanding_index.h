// QueryExpandingIndex: a FeatureIndex that searches twice, the second time with the query moved
// toward what the first search found: alpha-weighted query expansion (alpha-QE; Radenović,
// Tolias and Chum, "Fine-tuning CNN image retrieval with no human annotation", TPAMI 2018). The
// query's `neighbors` nearest indexed vectors, each weighted by its cosine similarity to the
// query raised to `alpha` (a negative similarity weighs 0), are added to the query, and the sum,
// scaled to unit norm, is the query of the second search. It needs no labels and no forward pass:
// it costs a second search and `neighbors` stored vectors. docs/results.md measures it ("Query
// expansion"): when most of a query's nearest drawings share its word, the expanded query sits
// nearer the middle of that word's drawings and ranks the rest of them higher.
//
// Both searches apply the caller's filter, so an excluded id (the query itself, in a leave-one-out
// evaluation) never expands the query, and a search restricted to some words expands only with
// their drawings. The distances returned are those of the expanded query.
#ifndef SKETCH_INDEX_QUERY_EXPANDING_INDEX_H_
#define SKETCH_INDEX_QUERY_EXPANDING_INDEX_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "index/faiss_index.h"
#include "index/feature_index.h"
#include "index/index_spec.h"

namespace sketch {

struct QueryExpansionOptions {
  int neighbors = 0;  // nearest indexed vectors added to each query; 0: no expansion
  double alpha = 3;   // weight of each: cosine similarity ^ alpha
};

// InvalidArgument naming the field for neighbors < 0 or alpha < 0 or not finite.
absl::Status ValidateQueryExpansionOptions(const QueryExpansionOptions& options);

// Whether a QueryExpandingIndex can wrap an index of this kind: it reads each neighbour's vector
// back by id, which Flat and HNSW do at once and IVF only by scanning every list.
bool SupportsQueryExpansion(IndexKind kind);

class QueryExpandingIndex : public FeatureIndex {
 public:
  // `index` must hold unit-norm rows, and queries must come unit-norm in the same space (wrap this
  // index in a QueryNormalizingIndex, which normalizes them first). Its vectors are read back with
  // FaissIndex::Reconstruct, so it must store them where one read is cheap: Flat or HNSW.
  // InvalidArgument for bad options (neighbors 0 included: there is nothing to wrap) or a kind
  // !SupportsQueryExpansion.
  static absl::StatusOr<std::unique_ptr<QueryExpandingIndex>> Create(
      std::unique_ptr<const FaissIndex> index, const QueryExpansionOptions& options);

  int dimension() const override { return index_->dimension(); }
  int64_t size() const override { return index_->size(); }
  const IndexedSketch& metadata(int64_t id) const override { return index_->metadata(id); }

  // FeatureIndex::Search with each query expanded (the header comment): the wrapped index's
  // errors as they are. A query whose first search finds nothing is searched as it is.
  // Thread-safe.
  absl::StatusOr<std::vector<std::vector<Neighbor>>> Search(
      absl::Span<const float> queries, int k, const SearchFilter& filter) const override;

 private:
  QueryExpandingIndex(std::unique_ptr<const FaissIndex> index, QueryExpansionOptions options);

  const std::unique_ptr<const FaissIndex> index_;
  const QueryExpansionOptions options_;
};

}  // namespace sketch

#endif  // SKETCH_INDEX_QUERY_EXPANDING_INDEX_H_
