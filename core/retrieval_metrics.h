// Retrieval quality as the 2018 study defines it: each test sketch queries all the others (itself
// excluded), ranked by L2 distance; relevant = same class; the score is the mean average precision.
// Beside it, precision@10: what a user who looks at the first screen of hits sees.
#ifndef SKETCH_CORE_RETRIEVAL_METRICS_H_
#define SKETCH_CORE_RETRIEVAL_METRICS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace sketch {

// Average precision of one ranking: the mean of precision@k over the ranks k that hold a relevant
// item, divided by all `num_relevant` items (so relevant items missing from a truncated ranking
// count as zero). `ranked_labels`: labels in rank order. 0 when num_relevant is 0.
double AveragePrecision(absl::Span<const int> ranked_labels, int query_label, int num_relevant);

// Precision@k of one ranking: the fraction of its first k items whose label is `query_label`.
// A ranking shorter than k (a collection of k items or fewer) counts over the items it has; 0 for
// an empty ranking. k >= 1.
double PrecisionAtK(absl::Span<const int> ranked_labels, int query_label, int k);

// The k of the leave-one-out precision@k (RetrievalReport).
inline constexpr int kPrecisionAtK = 10;

struct RetrievalReport {
  double mean_average_precision = 0;
  std::vector<double> average_precision;  // per query, in query order
  std::vector<double> per_class_map;      // indexed by label; NaN for a class with no query
  double mean_precision_at_10 = 0;        // PrecisionAtK(.., kPrecisionAtK), mean over queries
  std::vector<double> precision_at_10;    // per query, in query order
};

// Accumulates leave-one-out average precisions and precisions@10 one query at a time, so a caller
// can stream rankings (n rankings of n-1 ids would not fit in memory for large test sets).
// Not thread-safe.
class LeaveOneOutMapAccumulator {
 public:
  // labels[i]: the class of item i (>= 0).
  explicit LeaveOneOutMapAccumulator(std::vector<int> labels);

  // `ranking`: every item but `query`, in rank order. InvalidArgument when it holds the query
  // itself, an id out of range or twice, misses an item, or the query was already added.
  absl::Status AddRanking(int64_t query, absl::Span<const int64_t> ranking);

  // FailedPrecondition until every query has been added.
  absl::StatusOr<RetrievalReport> Finish() const;

 private:
  std::vector<int> labels_;
  std::vector<int> class_size_;
  std::vector<double> average_precision_;
  std::vector<double> precision_at_10_;
  std::vector<bool> done_;
  std::vector<int64_t> seen_;  // seen_[id] == query: id already in that query's ranking
  std::vector<int> ranked_labels_;
};

// Leave-one-out mAP from complete rankings: rankings[q] lists the ids (indexes into `labels`) of
// every other item in rank order. InvalidArgument when a ranking holds the query itself, an id
// out of range, or is not a permutation of the others.
absl::StatusOr<RetrievalReport> LeaveOneOutMap(absl::Span<const int> labels,
                                               const std::vector<std::vector<int64_t>>& rankings);

}  // namespace sketch

#endif  // SKETCH_CORE_RETRIEVAL_METRICS_H_
