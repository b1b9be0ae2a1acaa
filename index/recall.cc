#include "index/recall.h"

#include <faiss/utils/distances.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sketch {

absl::StatusOr<double> RecallAtK(const std::vector<std::vector<int64_t>>& found,
                                 const std::vector<std::vector<int64_t>>& exact, int k) {
  if (found.empty() || found.size() != exact.size() || k < 1) {
    return absl::InvalidArgumentError(absl::StrCat("recall of ", found.size(),
                                                   " result lists against ", exact.size(),
                                                   " exact ones at k = ", k));
  }
  double sum = 0;
  for (size_t q = 0; q < found.size(); ++q) {
    const size_t truth = std::min<size_t>(k, exact[q].size());
    if (truth == 0) {
      sum += 1;  // nothing to find
      continue;
    }
    size_t hits = 0;
    for (size_t j = 0; j < truth; ++j) {
      hits += std::count(found[q].begin(), found[q].end(), exact[q][j]) > 0;
    }
    sum += static_cast<double>(hits) / static_cast<double>(truth);
  }
  return sum / static_cast<double>(found.size());
}

absl::StatusOr<double> MeasureRecallAt10(const FeatureIndex& index,
                                         absl::Span<const float> features, int num_queries,
                                         uint64_t seed, const SearchKnobs& knobs) {
  constexpr int kK = 10;
  const int64_t n = index.size();
  const size_t d = static_cast<size_t>(index.dimension());
  if (features.size() != static_cast<size_t>(n) * d || n <= kK || num_queries < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("recall@10 needs the ", n, " x ", d,
                     " indexed features (more than 10 rows) and queries; got ", features.size(),
                     " values and ", num_queries, " queries"));
  }
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(ids.begin(), ids.end(), rng);
  ids.resize(std::min<int64_t>(num_queries, n));
  const size_t m = ids.size();
  std::vector<float> queries(m * d);
  for (size_t i = 0; i < m; ++i) {
    std::copy_n(features.data() + ids[i] * d, d, queries.data() + i * d);
  }
  // Exact: the 11 nearest by brute force, the query's own row dropped.
  std::vector<float> distances(m * (kK + 1));
  std::vector<int64_t> nearest(m * (kK + 1));
  faiss::knn_L2sqr(queries.data(), features.data(), d, m, static_cast<size_t>(n), kK + 1,
                   distances.data(), nearest.data());
  std::vector<std::vector<int64_t>> exact(m), found(m);
  for (size_t i = 0; i < m; ++i) {
    for (int j = 0; j <= kK; ++j) {
      const int64_t id = nearest[i * (kK + 1) + j];
      if (id != ids[i] && id >= 0 && exact[i].size() < static_cast<size_t>(kK)) {
        exact[i].push_back(id);
      }
    }
    SearchFilter filter;
    filter.excluded_ids = {ids[i]};
    filter.knobs = knobs;
    ASSIGN_OR_RETURN(auto neighbors,
                     index.Search(absl::MakeConstSpan(queries.data() + i * d, d), kK, filter));
    for (const Neighbor& neighbor : neighbors[0]) found[i].push_back(neighbor.id);
  }
  return RecallAtK(found, exact, kK);
}

}  // namespace sketch
