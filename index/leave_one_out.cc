#include "index/leave_one_out.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "index/faiss_index.h"
#include "index/l2_normalize.h"

namespace sketch {

absl::StatusOr<RetrievalReport> LeaveOneOutMapOfFeatures(absl::Span<const float> features,
                                                         int dimension,
                                                         absl::Span<const int> labels,
                                                         bool l2_normalize, int chunk) {
  const int64_t n = static_cast<int64_t>(labels.size());
  if (chunk < 1 || chunk >= 20) return absl::InvalidArgumentError("chunk must be in 1..19");
  if (n < 2 || dimension <= 0 || features.size() != static_cast<size_t>(n) * dimension) {
    return absl::InvalidArgumentError(absl::StrCat("need >= 2 items of dimension ", dimension,
                                                   "; got ", features.size(), " values for ", n,
                                                   " labels"));
  }
  std::vector<float> rows(features.begin(), features.end());
  if (l2_normalize) L2NormalizeRows(&rows, dimension);
  std::vector<IndexedSketch> metadata(n);
  for (int64_t i = 0; i < n; ++i) metadata[i].label = labels[i];
  ASSIGN_OR_RETURN(auto index, FaissIndex::Build(rows, dimension, std::move(metadata)));

  LeaveOneOutMapAccumulator accumulator(std::vector<int>(labels.begin(), labels.end()));
  std::vector<int64_t> ranking;
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t count = std::min<int64_t>(chunk, n - start);
    absl::Span<const float> queries(rows.data() + start * dimension, count * dimension);
    ASSIGN_OR_RETURN(auto results, index->Search(queries, static_cast<int>(n)));
    for (int64_t q = 0; q < count; ++q) {
      ranking.clear();
      for (const Neighbor& nb : results[q]) {
        if (nb.id != start + q) ranking.push_back(nb.id);
      }
      RETURN_IF_ERROR(accumulator.AddRanking(start + q, ranking));
    }
  }
  return accumulator.Finish();
}

}  // namespace sketch
