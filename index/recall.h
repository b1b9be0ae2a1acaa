// Recall of an approximate index against exact search, measured where the indexed features are
// at hand (when a bundle is built): the quality figure its manifest records next to its type.
#ifndef SKETCH_INDEX_RECALL_H_
#define SKETCH_INDEX_RECALL_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "index/feature_index.h"

namespace sketch {

// Mean fraction of the exact k nearest neighbours that `found` holds, over queries:
// |found[q] ∩ exact[q][0..k)| / min(k, |exact[q]|). InvalidArgument when the row counts differ
// or are zero.
absl::StatusOr<double> RecallAtK(const std::vector<std::vector<int64_t>>& found,
                                 const std::vector<std::vector<int64_t>>& exact, int k);

// Recall@10 of `index` over `features` (float [index.size(), dimension], the vectors it indexes,
// in id order): `num_queries` indexed vectors drawn with `seed` (all when fewer) each search the
// index for 10 neighbours other than themselves, compared with brute force over `features` (a
// query's own row is left out of both, as in leave-one-out). Searches use `knobs`.
// InvalidArgument for a shape mismatch, no queries, or an index of 10 vectors or fewer.
absl::StatusOr<double> MeasureRecallAt10(const FeatureIndex& index,
                                         absl::Span<const float> features, int num_queries,
                                         uint64_t seed, const SearchKnobs& knobs = {});

}  // namespace sketch

#endif  // SKETCH_INDEX_RECALL_H_
