// Searcher: finds the indexed sketches nearest to a drawing — embed it through the model batcher,
// then search the FeatureIndex with the caller's filters mapped to index ids and labels.
#ifndef SKETCH_SERVER_SEARCHER_H_
#define SKETCH_SERVER_SEARCHER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/sketch.h"
#include "index/feature_index.h"
#include "server/call_context.h"
#include "server/classifier.h"
#include "server/dynamic_batcher.h"

namespace sketch {

struct SearchQuery {
  Sketch sketch;  // valid; simplified frame or bitmap (what DrawingToSketch returns)
  int k = 0;      // 1..index size
  // Indexed sketches with these key_ids are left out (all of them, should key_ids repeat).
  // Unknown key_ids are ignored.
  std::vector<uint64_t> excluded_key_ids;
  // When non-empty, only indexed sketches of these classes (model class names) are returned.
  std::vector<std::string> classes;
  bool include_top_class = false;
};

struct SearchHit {
  int64_t id = -1;  // index id
  uint64_t key_id = 0;
  int label = 0;
  std::string word;
  float distance = 0;  // squared L2
};

struct SearchResult {
  std::vector<SearchHit> hits;          // nearest first, ties by id
  std::optional<ClassScore> top_class;  // set when the query asked for it
};

struct SearcherOptions {
  // Scale each query feature to unit L2 norm before searching; must match how the index was
  // built (the bundle says which).
  bool l2_normalize_queries = false;
};

class Searcher {
 public:
  // `batcher` and `index` must outlive the searcher. `class_names` and `dimension` are the
  // embedder's. InvalidArgument when the index's dimension differs, it is empty, or an indexed
  // label is outside the class list. Builds the key_id -> ids table (O(index size)).
  static absl::StatusOr<std::unique_ptr<Searcher>> Create(DynamicBatcher* batcher,
                                                          const FeatureIndex* index,
                                                          std::vector<std::string> class_names,
                                                          int dimension,
                                                          const SearcherOptions& options = {});

  // The query's nearest indexed sketches. InvalidArgument "k: ..." for k outside 1..index size,
  // "classes[i]: ..." for an unknown class name (both before the model runs); DeadlineExceeded /
  // Cancelled when the caller gave up before the model or the index ran; otherwise the batcher's
  // or the index's errors. Thread-safe; blocks.
  absl::StatusOr<SearchResult> Search(SearchQuery query, const CallContext& context) const;

  // Search for many queries: all are checked first (errors name "requests[i]."), then embedded
  // together. Results in query order.
  absl::StatusOr<std::vector<SearchResult>> SearchBatch(std::vector<SearchQuery> queries,
                                                        const CallContext& context) const;

  const FeatureIndex& index() const { return *index_; }

 private:
  Searcher(DynamicBatcher* batcher, const FeatureIndex* index, std::vector<std::string> class_names,
           const SearcherOptions& options);

  // The query's k and classes as an index filter; InvalidArgument naming the field.
  absl::StatusOr<SearchFilter> MakeFilter(const SearchQuery& query) const;
  absl::StatusOr<std::vector<SearchResult>> Run(std::vector<SearchQuery> queries,
                                                const CallContext& context,
                                                bool name_requests) const;
  absl::StatusOr<SearchResult> SearchOne(const SearchQuery& query, const SearchFilter& filter,
                                         Embedding embedding, const CallContext& context) const;

  DynamicBatcher* const batcher_;
  const FeatureIndex* const index_;
  const std::vector<std::string> class_names_;
  const SearcherOptions options_;
  absl::flat_hash_map<uint64_t, std::vector<int64_t>> ids_by_key_id_;
  absl::flat_hash_map<std::string, int> label_by_class_;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_SEARCHER_H_
