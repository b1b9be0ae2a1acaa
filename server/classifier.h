// Classifier: a drawing's most probable classes and its feature vector, computed through the
// shared model batcher.
#ifndef SKETCH_SERVER_CLASSIFIER_H_
#define SKETCH_SERVER_CLASSIFIER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/sketch.h"
#include "server/call_context.h"
#include "server/dynamic_batcher.h"

namespace sketch {

struct ClassScore {
  int label = 0;     // index into the model's class names
  std::string word;  // class name
  float probability = 0;
};

// The k most probable classes of `probabilities` (float [class_names.size()]), by decreasing
// probability, ties by label. Requires 1 <= k <= probabilities.size() == class_names.size().
std::vector<ClassScore> TopClasses(absl::Span<const float> probabilities, int k,
                                   const std::vector<std::string>& class_names);

struct ClassifyQuery {
  Sketch sketch;  // valid; simplified frame or bitmap (what DrawingToSketch returns)
  int k = 0;      // 1..number of classes
};

class Classifier {
 public:
  using ClassifyCallback = std::function<void(absl::StatusOr<std::vector<ClassScore>>)>;
  using ClassifyBatchCallback =
      std::function<void(absl::StatusOr<std::vector<std::vector<ClassScore>>>)>;
  using EmbedCallback = std::function<void(absl::StatusOr<std::vector<float>>)>;

  // `batcher` must outlive the classifier; `class_names` are the embedder's, in label order.
  Classifier(DynamicBatcher* batcher, std::vector<std::string> class_names);

  // Gives `done` the query's k most probable classes (see TopClasses). InvalidArgument "k: ..."
  // for k outside 1..number of classes (checked before the model runs, `done` called inline);
  // otherwise the batcher's errors. `done` is called exactly once, on the batcher's worker
  // thread or inline, and must be quick (see DynamicBatcher::SubmitAll). Thread-safe.
  void ClassifyAsync(ClassifyQuery query, CallContext context, ClassifyCallback done) const;

  // ClassifyAsync for many queries in one go: every query is checked first (errors name
  // "requests[i]."), then all go to the batcher together. Results in query order.
  void ClassifyBatchAsync(std::vector<ClassifyQuery> queries, CallContext context,
                          ClassifyBatchCallback done) const;

  // Gives `done` the drawing's feature vector: float [embedder dimension].
  void EmbedAsync(Sketch sketch, CallContext context, EmbedCallback done) const;

  // The blocking forms of the above (tools and tests; the service uses the callback forms).
  absl::StatusOr<std::vector<ClassScore>> Classify(ClassifyQuery query,
                                                   const CallContext& context) const;
  absl::StatusOr<std::vector<std::vector<ClassScore>>> ClassifyBatch(
      std::vector<ClassifyQuery> queries, const CallContext& context) const;
  absl::StatusOr<std::vector<float>> Embed(Sketch sketch, const CallContext& context) const;

  const std::vector<std::string>& class_names() const { return class_names_; }

 private:
  absl::Status CheckK(int k) const;
  // Checks every k, then embeds all sketches in one go; errors name "requests[i]." when asked.
  void Run(std::vector<ClassifyQuery> queries, CallContext context, bool name_requests,
           ClassifyBatchCallback done) const;

  DynamicBatcher* const batcher_;
  const std::vector<std::string> class_names_;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_CLASSIFIER_H_
