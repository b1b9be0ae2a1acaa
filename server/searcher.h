// Searcher: finds the indexed sketches nearest to a drawing — embed it through the model batcher,
// then search the FeatureIndex with the caller's filters mapped to index ids and labels.
#ifndef SKETCH_SERVER_SEARCHER_H_
#define SKETCH_SERVER_SEARCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/drawing_store.h"
#include "core/sketch.h"
#include "index/feature_index.h"
#include "server/call_context.h"
#include "server/classifier.h"
#include "server/dynamic_batcher.h"
#include "server/thread_pool.h"

namespace sketch {

struct SearchQuery {
  Sketch sketch;  // valid; simplified frame or bitmap (what DrawingToSketch returns)
  int k = 0;      // 1..index size
  // Indexed sketches with these key_ids are left out (all of them, should key_ids repeat).
  // Unknown key_ids are ignored.
  std::vector<uint64_t> excluded_key_ids;
  // When non-empty, only indexed sketches of these words are returned: the model's class names
  // or any other word of the gallery (label -1).
  std::vector<std::string> classes;
  bool include_top_class = false;
  // Each hit carries its stored drawing (bundles with a drawing store only).
  bool include_drawings = false;
  // How hard an approximate index looks; 0 takes the index's default (the server's --nprobe /
  // --ef-search, else the bundle's). Checked against the request limits before it gets here.
  SearchKnobs knobs;
};

struct SearchHit {
  int64_t id = -1;  // index id
  uint64_t key_id = 0;
  int label = 0;
  std::string word;
  float distance = 0;       // squared L2
  std::string source = "";  // the gallery entry's input file path; may be empty
  std::optional<Sketch> drawing = std::nullopt;  // with include_drawings: as stored (word set)
};

struct SearchResult {
  std::vector<SearchHit> hits;          // nearest first, ties by id
  std::optional<ClassScore> top_class;  // set when the query asked for it
};

class Searcher {
 public:
  using SearchCallback = std::function<void(absl::StatusOr<SearchResult>)>;
  using SearchBatchCallback = std::function<void(absl::StatusOr<std::vector<SearchResult>>)>;

  // `batcher`, `index` and `pool` must outlive the searcher; `pool` runs the index searches that
  // follow the model (never the batcher's worker, which would stall the model). `class_names`
  // and `dimension` are the embedder's. InvalidArgument when the index's dimension differs, it
  // is empty, an indexed label is outside the class list, or `drawings` (may be null: the
  // bundle stores none; else it must outlive the searcher) does not hold one drawing per index
  // row. Builds the key_id -> ids and word tables (O(index size)). Queries go to the index as
  // the model made them: an index of normalized features normalizes them itself (index/ owns
  // that).
  static absl::StatusOr<std::unique_ptr<Searcher>> Create(DynamicBatcher* batcher,
                                                          const FeatureIndex* index,
                                                          std::vector<std::string> class_names,
                                                          int dimension, ThreadPool* pool,
                                                          const DrawingStore* drawings = nullptr);

  // Gives `done` the query's nearest indexed sketches. InvalidArgument "k: ..." for k outside
  // 1..index size, "classes[i]: ..." for a word the index does not hold, FailedPrecondition
  // "include_drawings: ..." when the bundle stores no drawings (all before the model runs,
  // `done` called inline); DataLoss for a stored drawing that is corrupt; DeadlineExceeded /
  // Cancelled when the caller gave up before the model or the index ran; otherwise the batcher's or
  // the index's errors. `done` is called exactly once, on a pool thread or inline. Thread-safe.
  void SearchAsync(SearchQuery query, CallContext context, SearchCallback done) const;

  // SearchAsync for many queries: all are checked first (errors name "requests[i]."), then
  // embedded together and searched on one pool thread. Results in query order.
  void SearchBatchAsync(std::vector<SearchQuery> queries, CallContext context,
                        SearchBatchCallback done) const;

  // The blocking forms (tools and tests; the service uses the callback forms).
  absl::StatusOr<SearchResult> Search(SearchQuery query, const CallContext& context) const;
  absl::StatusOr<std::vector<SearchResult>> SearchBatch(std::vector<SearchQuery> queries,
                                                        const CallContext& context) const;

  const FeatureIndex& index() const { return *index_; }
  // The distinct words of the indexed sketches, sorted.
  const std::vector<std::string>& words() const { return words_; }
  bool has_drawings() const { return drawings_ != nullptr; }

 private:
  Searcher(DynamicBatcher* batcher, const FeatureIndex* index, std::vector<std::string> class_names,
           ThreadPool* pool, const DrawingStore* drawings);
  // Adds the filter for query.classes: the model's labels, and for words outside them (label
  // -1) the exclusion of every label -1 row of another word.
  absl::Status AddWordFilter(const SearchQuery& query, SearchFilter* filter) const;

  // The query's k and classes as an index filter; InvalidArgument naming the field.
  absl::StatusOr<SearchFilter> MakeFilter(const SearchQuery& query) const;
  void Run(std::vector<SearchQuery> queries, CallContext context, bool name_requests,
           SearchBatchCallback done) const;
  absl::StatusOr<SearchResult> SearchOne(const SearchQuery& query, const SearchFilter& filter,
                                         const Embedding& embedding,
                                         const CallContext& context) const;

  DynamicBatcher* const batcher_;
  const FeatureIndex* const index_;
  const std::vector<std::string> class_names_;
  ThreadPool* const pool_;
  const DrawingStore* const drawings_;
  absl::flat_hash_map<uint64_t, std::vector<int64_t>> ids_by_key_id_;
  absl::flat_hash_map<std::string, int> label_by_class_;
  // The rows of label -1, by word: a filter on such words excludes the others' rows.
  absl::flat_hash_map<std::string, std::vector<int64_t>> unseen_ids_by_word_;
  std::vector<std::string> words_;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_SEARCHER_H_
