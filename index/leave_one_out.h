// The study's retrieval score computed offline: each item queries all the others by L2 distance
// (itself excluded, ties broken by id), relevant = same label; the mean average precision and the
// mean precision@10 (core/retrieval_metrics.h).
#ifndef SKETCH_INDEX_LEAVE_ONE_OUT_H_
#define SKETCH_INDEX_LEAVE_ONE_OUT_H_

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/retrieval_metrics.h"

namespace sketch {

// features: float [labels.size(), dimension]. With l2_normalize every row is scaled to unit norm
// first (L2NormalizeRows, index/l2_normalize.h; a zero row stays zero). Memory is bounded by
// `chunk` queries' full rankings. Chunks stay below FAISS's BLAS threshold (20 queries) on
// purpose: the BLAS path computes |x|^2 + |y|^2 - 2xy in float32, whose rounding reorders near
// neighbours of features that share a large common part, so the offline mAP would not equal the
// live service's one-query rankings.
// InvalidArgument for a shape mismatch, fewer than 2 items or non-finite features.
absl::StatusOr<RetrievalReport> LeaveOneOutMapOfFeatures(absl::Span<const float> features,
                                                         int dimension,
                                                         absl::Span<const int> labels,
                                                         bool l2_normalize, int chunk = 16);

}  // namespace sketch

#endif  // SKETCH_INDEX_LEAVE_ONE_OUT_H_
