// SearchBackend: everything a loaded model bundle gives the service — the embedder, the feature
// index, the model batcher in front of the embedder, and the Classifier and Searcher over them —
// owned together so they are installed, used and shut down as one.
#ifndef SKETCH_SERVER_SEARCH_BACKEND_H_
#define SKETCH_SERVER_SEARCH_BACKEND_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/feature_index.h"
#include "server/classifier.h"
#include "server/dynamic_batcher.h"
#include "server/embedder.h"
#include "server/searcher.h"
#include "server/thread_pool.h"

namespace sketch {

// The bundle's index as GetInfo reports it (IndexInfo).
struct IndexDescription {
  std::string type = "Flat";  // FAISS index factory string
  bool exact = true;
  double recall_at_10 = 1;    // against exact search, measured when the index was built
  SearchKnobs default_knobs;  // what a search without knobs uses (0 where one does not apply)
  int query_expansion_neighbors = 0;  // 0: queries are searched as they are
  double query_expansion_alpha = 0;
};

// What the bundle says about itself, reported by GetInfo.
struct BundleInfo {
  std::string architecture;  // "sknet" or "skresnet"
  std::string bundle_hash;   // content hash identifying weights + index
  std::string recipe;        // how it was trained (free text, e.g. the trainer's options as JSON)
  std::map<std::string, double> metrics;  // evaluation figures, e.g. "test_accuracy"
  // The index's kind, measured recall and default knobs (GetInfo's IndexInfo).
  IndexDescription index = IndexDescription();
  // A gallery bundle's drawings (entry i = index id i), or null: searches return them on request.
  // (Defaulted so that brace-initialized BundleInfos without it stay warning-free.)
  std::shared_ptr<const DrawingStore> drawings = nullptr;
  int test_time_views = 1;  // forward passes per drawing (models/preprocessing.h's ViewCount)
};

// GetInfo's answer, before it becomes a proto.
struct ServiceInfo {
  BundleInfo bundle;
  std::vector<std::string> classes;  // label order
  int input_size = 0;
  int64_t index_size = 0;
  int dimension = 0;
  bool has_drawings = false;       // SearchQuery.include_drawings works
  std::vector<std::string> words;  // distinct indexed words (the model's and unseen ones)
};

struct BackendOptions {
  BatcherOptions batcher;
  // Threads for the work after the model: index searches and building their answers. <= 0: one
  // per hardware thread.
  int search_threads = 0;
};

class SearchBackend {
 public:
  // Takes ownership of the embedder and the index. InvalidArgument when they disagree (feature
  // dimension, a label beyond the embedder's classes), the embedder has no classes, or an option
  // is out of range. `observer` (may be null) must outlive the backend.
  static absl::StatusOr<std::unique_ptr<SearchBackend>> Create(
      std::unique_ptr<Embedder> embedder, std::unique_ptr<const FeatureIndex> index,
      BundleInfo bundle, const BackendOptions& options, BatcherObserver* observer);
  // Shutdown().
  ~SearchBackend();

  // Thread-safe.
  const Classifier& classifier() const { return *classifier_; }
  const Searcher& searcher() const { return *searcher_; }
  ServiceInfo Info() const;
  const BundleInfo& bundle() const { return bundle_; }
  int64_t index_size() const { return index_->size(); }

  // Drains the model batcher (queued requests still run), then the searches they lead to; later
  // requests fail Unavailable. Every callback of a request accepted before is called before
  // Shutdown returns. Idempotent; thread-safe.
  void Shutdown();

 private:
  SearchBackend() = default;

  // Members die in reverse order, after Shutdown has drained the batcher and then the pool: the
  // searcher, the classifier and the batcher (whose worker calls the embedder while draining)
  // go before the pool, the embedder and the index they point to.
  std::unique_ptr<Embedder> embedder_;
  std::unique_ptr<const FeatureIndex> index_;
  BundleInfo bundle_;
  std::unique_ptr<ThreadPool> search_pool_;
  std::unique_ptr<DynamicBatcher> batcher_;
  std::unique_ptr<Classifier> classifier_;
  std::unique_ptr<Searcher> searcher_;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_SEARCH_BACKEND_H_
