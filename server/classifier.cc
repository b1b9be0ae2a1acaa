#include "server/classifier.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/await.h"

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

void Classifier::ClassifyAsync(ClassifyQuery query, CallContext context,
                               ClassifyCallback done) const {
  std::vector<ClassifyQuery> queries;
  queries.push_back(std::move(query));
  Run(std::move(queries), std::move(context), /*name_requests=*/false,
      [done = std::move(done)](absl::StatusOr<std::vector<std::vector<ClassScore>>> results) {
        if (!results.ok()) return done(results.status());
        done(std::move((*results)[0]));
      });
}

void Classifier::ClassifyBatchAsync(std::vector<ClassifyQuery> queries, CallContext context,
                                    ClassifyBatchCallback done) const {
  Run(std::move(queries), std::move(context), /*name_requests=*/true, std::move(done));
}

void Classifier::Run(std::vector<ClassifyQuery> queries, CallContext context, bool name_requests,
                     ClassifyBatchCallback done) const {
  std::vector<Sketch> sketches;
  sketches.reserve(queries.size());
  std::vector<int> ks;
  ks.reserve(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    absl::Status status = CheckK(queries[i].k);
    if (!status.ok()) {
      if (!name_requests) return done(status);
      return done(absl::InvalidArgumentError(absl::StrCat("requests[", i, "].", status.message())));
    }
    ks.push_back(queries[i].k);
    sketches.push_back(std::move(queries[i].sketch));
  }
  batcher_->SubmitAll(
      std::move(sketches), std::move(context),
      [this, ks = std::move(ks),
       done = std::move(done)](absl::StatusOr<std::vector<Embedding>> embeddings) {
        if (!embeddings.ok()) return done(embeddings.status());
        // A top-k over the class probabilities: cheap enough for the batcher's thread.
        std::vector<std::vector<ClassScore>> results;
        results.reserve(ks.size());
        for (size_t i = 0; i < ks.size(); ++i) {
          results.push_back(TopClasses((*embeddings)[i].probabilities, ks[i], class_names_));
        }
        done(std::move(results));
      });
}

void Classifier::EmbedAsync(Sketch sketch, CallContext context, EmbedCallback done) const {
  std::vector<Sketch> sketches;
  sketches.push_back(std::move(sketch));
  batcher_->SubmitAll(std::move(sketches), std::move(context),
                      [done = std::move(done)](absl::StatusOr<std::vector<Embedding>> embeddings) {
                        if (!embeddings.ok()) return done(embeddings.status());
                        done(std::move((*embeddings)[0].feature));
                      });
}

absl::StatusOr<std::vector<ClassScore>> Classifier::Classify(ClassifyQuery query,
                                                             const CallContext& context) const {
  return AwaitResult<std::vector<ClassScore>>(
      [&](ClassifyCallback done) { ClassifyAsync(std::move(query), context, std::move(done)); });
}

absl::StatusOr<std::vector<std::vector<ClassScore>>> Classifier::ClassifyBatch(
    std::vector<ClassifyQuery> queries, const CallContext& context) const {
  return AwaitResult<std::vector<std::vector<ClassScore>>>([&](ClassifyBatchCallback done) {
    ClassifyBatchAsync(std::move(queries), context, std::move(done));
  });
}

absl::StatusOr<std::vector<float>> Classifier::Embed(Sketch sketch,
                                                     const CallContext& context) const {
  return AwaitResult<std::vector<float>>(
      [&](EmbedCallback done) { EmbedAsync(std::move(sketch), context, std::move(done)); });
}

}  // namespace sketch
