#include "index/leave_one_out.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "index/faiss_index.h"
#include "index/l2_normalize.h"

namespace sketch {

absl::StatusOr<RetrievalReport> LeaveOneOutMapOfFeatures(absl::Span<const float> features,
                                                         int dimension,
                                                         absl::Span<const int> labels,
                                                         const LeaveOneOutOptions& options) {
  const int64_t n = static_cast<int64_t>(labels.size());
  if (options.chunk < 1 || options.chunk >= 20) {
    return absl::InvalidArgumentError("chunk must be in 1..19");
  }
  RETURN_IF_ERROR(ValidateQueryExpansionOptions(options.query_expansion));
  if (n < 2 || dimension <= 0 || features.size() != static_cast<size_t>(n) * dimension) {
    return absl::InvalidArgumentError(absl::StrCat("need >= 2 items of dimension ", dimension,
                                                   "; got ", features.size(), " values for ", n,
                                                   " labels"));
  }
  std::vector<float> rows(features.begin(), features.end());
  if (options.l2_normalize) L2NormalizeRows(&rows, dimension);
  std::vector<IndexedSketch> metadata(n);
  for (int64_t i = 0; i < n; ++i) metadata[i].label = labels[i];
  ASSIGN_OR_RETURN(std::unique_ptr<FaissIndex> flat,
                   FaissIndex::Build(rows, dimension, std::move(metadata)));
  const bool expand = options.query_expansion.neighbors > 0;
  std::unique_ptr<const FeatureIndex> index;
  if (expand) {
    ASSIGN_OR_RETURN(index, QueryExpandingIndex::Create(std::move(flat), options.query_expansion));
  } else {
    index = std::move(flat);
  }

  LeaveOneOutMapAccumulator accumulator(std::vector<int>(labels.begin(), labels.end()));
  std::vector<int64_t> ranking;
  // Expanded, each query is searched alone with itself excluded, so that it never expands
  // itself: the live service's Search with the query's own key excluded.
  const int64_t chunk = expand ? 1 : options.chunk;
  const int k = static_cast<int>(expand ? n - 1 : n);
  SearchFilter filter;
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t count = std::min<int64_t>(chunk, n - start);
    absl::Span<const float> queries(rows.data() + start * dimension, count * dimension);
    if (expand) filter.excluded_ids = {start};
    ASSIGN_OR_RETURN(auto results, index->Search(queries, k, filter));
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
