// The study's retrieval score computed offline: each item queries all the others by L2 distance
// (itself excluded, ties broken by id), relevant = same label; the mean average precision and the
// mean precision@10 (core/retrieval_metrics.h). With query expansion each query is expanded as
// the service expands it (index/query_expanding_index.h), itself never among its neighbours.
#ifndef SKETCH_INDEX_LEAVE_ONE_OUT_H_
#define SKETCH_INDEX_LEAVE_ONE_OUT_H_

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/retrieval_metrics.h"
#include "index/query_expanding_index.h"

namespace sketch {

struct LeaveOneOutOptions {
  // Every row scaled to unit norm first (L2NormalizeRows, index/l2_normalize.h; a zero row stays
  // zero). Query expansion needs it, or rows that are unit-norm already.
  bool l2_normalize = false;
  QueryExpansionOptions query_expansion;  // neighbors 0: the plain search
  // Queries searched at once. Memory is bounded by `chunk` queries' full rankings. Chunks stay
  // below FAISS's BLAS threshold (20 queries) on purpose: the BLAS path computes
  // |x|^2 + |y|^2 - 2xy in float32, whose rounding reorders near neighbours of features that share
  // a large common part, so the offline mAP would not equal the live service's one-query rankings.
  // With query expansion every query is searched alone, as the service searches it.
  int chunk = 16;
};

// features: float [labels.size(), dimension].
// InvalidArgument for a shape mismatch, fewer than 2 items, non-finite features, a chunk outside
// 1..19 or bad query expansion options.
absl::StatusOr<RetrievalReport> LeaveOneOutMapOfFeatures(absl::Span<const float> features,
                                                         int dimension,
                                                         absl::Span<const int> labels,
                                                         const LeaveOneOutOptions& options);

}  // namespace sketch

#endif  // SKETCH_INDEX_LEAVE_ONE_OUT_H_
