#include "index/query_expanding_index.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "index/l2_normalize.h"

namespace sketch {

absl::Status ValidateQueryExpansionOptions(const QueryExpansionOptions& options) {
  if (options.neighbors < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("query_expansion.neighbors must be >= 0, got ", options.neighbors));
  }
  if (!std::isfinite(options.alpha) || options.alpha < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("query_expansion.alpha must be finite and >= 0, got ", options.alpha));
  }
  return absl::OkStatus();
}

bool SupportsQueryExpansion(IndexKind kind) { return kind != IndexKind::kIvf; }

absl::StatusOr<std::unique_ptr<QueryExpandingIndex>> QueryExpandingIndex::Create(
    std::unique_ptr<const FaissIndex> index, const QueryExpansionOptions& options) {
  RETURN_IF_ERROR(ValidateQueryExpansionOptions(options));
  if (options.neighbors == 0) {
    return absl::InvalidArgumentError("query_expansion.neighbors is 0: nothing to expand with");
  }
  if (index == nullptr) return absl::InvalidArgumentError("query expansion of no index");
  if (!SupportsQueryExpansion(index->kind())) {
    return absl::InvalidArgumentError(
        "query expansion needs an index that reads a vector back by its id: Flat or HNSW, not "
        "IVF (FAISS finds an IVF vector only by scanning every list)");
  }
  return std::unique_ptr<QueryExpandingIndex>(new QueryExpandingIndex(std::move(index), options));
}

QueryExpandingIndex::QueryExpandingIndex(std::unique_ptr<const FaissIndex> index,
                                         QueryExpansionOptions options)
    : index_(std::move(index)), options_(options) {}

absl::StatusOr<std::vector<std::vector<Neighbor>>> QueryExpandingIndex::Search(
    absl::Span<const float> queries, int k, const SearchFilter& filter) const {
  const int d = index_->dimension();
  // The first search's k is bounded by the index like any k; the second's errors are the
  // caller's (its k), so check it before spending the first search.
  if (k < 1 || k > index_->size()) {
    return index_->Search(queries, k, filter);  // the wrapped index's InvalidArgument
  }
  const int first_k = static_cast<int>(std::min<int64_t>(options_.neighbors, index_->size()));
  ASSIGN_OR_RETURN(const std::vector<std::vector<Neighbor>> nearest,
                   index_->Search(queries, first_k, filter));
  std::vector<float> expanded(queries.begin(), queries.end());
  for (size_t q = 0; q < nearest.size(); ++q) {
    float* query = expanded.data() + q * d;
    const float* original = queries.data() + q * d;
    for (const Neighbor& neighbor : nearest[q]) {
      const std::vector<float> row = index_->Reconstruct(neighbor.id);
      if (row.size() != static_cast<size_t>(d)) continue;
      double similarity = 0;
      for (int j = 0; j < d; ++j) similarity += static_cast<double>(original[j]) * row[j];
      const double weight = std::pow(std::max(similarity, 0.0), options_.alpha);
      for (int j = 0; j < d; ++j) query[j] += static_cast<float>(weight * row[j]);
    }
  }
  L2NormalizeRows(&expanded, d);
  return index_->Search(expanded, k, filter);
}

}  // namespace sketch
