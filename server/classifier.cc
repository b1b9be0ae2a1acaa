#include "server/classifier.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sketch {

std::vector<ClassScore> TopClasses(absl::Span<const float> probabilities, int k,
                                   const std::vector<std::string>& class_names) {
  std::vector<int> order(probabilities.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t top = std::min(order.size(), static_cast<size_t>(std::max(k, 0)));
  std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](int a, int b) {
    return probabilities[a] > probabilities[b] || (probabilities[a] == probabilities[b] && a < b);
  });
  std::vector<ClassScore> scores;
  scores.reserve(top);
  for (size_t i = 0; i < top; ++i) {
    scores.push_back({order[i], class_names[order[i]], probabilities[order[i]]});
  }
  return scores;
}

Classifier::Classifier(DynamicBatcher* batcher, std::vector<std::string> class_names)
    : batcher_(batcher), class_names_(std::move(class_names)) {}

absl::Status Classifier::CheckK(int k) const {
  if (k < 1 || k > static_cast<int>(class_names_.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("k: ", k, " is outside 1..", class_names_.size(), " (the number of classes)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ClassScore>> Classifier::Classify(ClassifyQuery query,
                                                             const CallContext& context) const {
  std::vector<ClassifyQuery> queries;
  queries.push_back(std::move(query));
  ASSIGN_OR_RETURN(auto results, Run(std::move(queries), context, /*name_requests=*/false));
  return std::move(results[0]);
}

absl::StatusOr<std::vector<std::vector<ClassScore>>> Classifier::ClassifyBatch(
    std::vector<ClassifyQuery> queries, const CallContext& context) const {
  return Run(std::move(queries), context, /*name_requests=*/true);
}

absl::StatusOr<std::vector<std::vector<ClassScore>>> Classifier::Run(
    std::vector<ClassifyQuery> queries, const CallContext& context, bool name_requests) const {
  std::vector<Sketch> sketches;
  sketches.reserve(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    absl::Status status = CheckK(queries[i].k);
    if (!status.ok()) {
      if (!name_requests) return status;
      return absl::InvalidArgumentError(absl::StrCat("requests[", i, "].", status.message()));
    }
    sketches.push_back(std::move(queries[i].sketch));
  }
  ASSIGN_OR_RETURN(std::vector<Embedding> embeddings,
                   batcher_->EmbedAll(std::move(sketches), context));
  std::vector<std::vector<ClassScore>> results;
  results.reserve(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    results.push_back(TopClasses(embeddings[i].probabilities, queries[i].k, class_names_));
  }
  return results;
}

absl::StatusOr<std::vector<float>> Classifier::Embed(Sketch sketch,
                                                     const CallContext& context) const {
  std::vector<Sketch> sketches;
  sketches.push_back(std::move(sketch));
  ASSIGN_OR_RETURN(std::vector<Embedding> embeddings,
                   batcher_->EmbedAll(std::move(sketches), context));
  return std::move(embeddings[0].feature);
}

}  // namespace sketch
