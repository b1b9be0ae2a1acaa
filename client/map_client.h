// The live leave-one-out evaluation (`sketch map`): every test drawing asks the running service
// for the ranking of all other indexed sketches, and the rankings give the study's mean average
// precision (core/retrieval_metrics.h). The server's index must hold exactly the test drawings.
#ifndef SKETCH_CLIENT_MAP_CLIENT_H_
#define SKETCH_CLIENT_MAP_CLIENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/sketch_client.h"
#include "core/retrieval_metrics.h"
#include "core/sketch.h"

namespace sketch {

struct MapInput {
  std::vector<std::string> class_names;  // label order
  std::vector<int> labels;               // per drawing
  std::vector<Sketch> sketches;          // the test drawings; word = class name
};

// The test split of a prepared dataset (core/dataset.h), labels as in the dataset.
absl::StatusOr<MapInput> LoadMapInputFromDataset(const std::string& path);

// Every record of the files (any supported format); the class is each record's word, labels in
// sorted class-name order. InvalidArgument when there is nothing to evaluate.
absl::StatusOr<MapInput> LoadMapInputFromFiles(const std::vector<std::string>& paths);

struct MapOptions {
  int concurrency = 4;   // SearchBatch calls in flight
  int batch_size = 8;    // queries per call (lowered to fit the server's limits)
  bool progress = true;  // progress bar on stderr
};

struct MapReport {
  RetrievalReport retrieval;             // per_class_map indexed by label
  std::vector<std::string> class_names;  // label order
  int64_t queries = 0;
  double seconds = 0;
  int64_t retried_batches = 0;  // SearchBatch calls that were sent again (server unavailable)
  int64_t retries = 0;          // re-sends in all
  // The index that answered (GetInfo.index; a server that does not say serves Flat). An
  // approximate one (IVF, HNSW, PQ) may rank differently from the exact search with which the
  // trainer computed the bundle's offline mAP, so the two figures are reported side by side.
  std::string index_type;
  bool exact_index = true;
  double index_recall_at_10 = 1;      // measured when the index was built
  std::optional<double> offline_map;  // the bundle's metrics["map"], when it records one
};

// Sends every drawing (SearchBatch, k = index size, excluding its own key_id when key_ids are
// unique, else dropping it from the answer) and accumulates the leave-one-out mAP. Hits are
// matched to drawings by (word, key_id). An approximate index may leave drawings out of a
// ranking: they are ranked last, in input order (so they count as found after everything it
// found); an exact index must rank them all. A batch the server is briefly unable to answer (a
// replica restarting, a full queue: IsRetryable) is sent again as `client`'s RetryOptions allow,
// the answered ones kept; the report counts the re-sends.
// FailedPrecondition when the index is not exactly the test set or is larger than the server's
// max_search_k, or when the server expands queries and key_ids repeat (a drawing could not be
// left out of its own expansion); InvalidArgument for two drawings with the same (word, key_id);
// otherwise the first RPC error that outlasted its retries.
absl::StatusOr<MapReport> RunLeaveOneOutMap(const SketchClient& client, const MapInput& input,
                                            const MapOptions& options);

// "mAP 0.6123 over 800 queries (16 classes) in 12.3 s", then for an approximate index the live
// figure next to the exact one ("approximate index HNSW32 (recall@10 0.9700): live mAP 0.6050,
// exact (offline) mAP 0.6123, live - exact -0.0073"), then "retried 2 batches (3 re-sends)"
// when any were, then per class (by name) when asked; or one JSON object (index_type,
// exact_index, retried_batches and retries always; offline_map when recorded). Ends in '\n'.
std::string FormatMapReport(const MapReport& report, bool per_class, bool json);

}  // namespace sketch

#endif  // SKETCH_CLIENT_MAP_CLIENT_H_
