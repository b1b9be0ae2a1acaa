// The searchable collection of sketch features: the abstract interface the server's Searcher uses
// (fakes implement it in tests) and the metadata that names each indexed sketch.
#ifndef SKETCH_INDEX_FEATURE_INDEX_H_
#define SKETCH_INDEX_FEATURE_INDEX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace sketch {

// What an index id stands for.
struct IndexedSketch {
  uint64_t key_id = 0;
  int label = 0;            // class index in the model's class order; -1: `word` is not one of them
  std::string word;         // class name (Quick, Draw!'s word)
  std::string source = "";  // where the entry came from (input file path); may be empty
};

struct Neighbor {
  int64_t id = -1;
  float distance = 0;  // squared L2 distance
};

// How hard an approximate index looks; 0 takes the index's default. Exact indexes ignore both,
// and each approximate type ignores the knob of the other.
struct SearchKnobs {
  int nprobe = 0;     // IVF: inverted lists visited per query (more: higher recall, slower)
  int ef_search = 0;  // HNSW: candidate list size during the search (more: higher recall, slower)
};

// Restricts a search (ids never returned, and when non-empty the only labels allowed) and tunes
// it: the knobs travel with the filter so that every FeatureIndex sees them without a second
// argument, and a search never changes shared index state to apply them.
struct SearchFilter {
  std::vector<int64_t> excluded_ids;
  std::vector<int> allowed_labels;
  SearchKnobs knobs;
};

class FeatureIndex {
 public:
  virtual ~FeatureIndex() = default;

  virtual int dimension() const = 0;
  virtual int64_t size() const = 0;
  // Metadata of id in [0, size()).
  virtual const IndexedSketch& metadata(int64_t id) const = 0;

  // The k nearest indexed sketches of each query, nearest first; ties in distance are ordered by id
  // so results are deterministic. Fewer than k results when the filter leaves fewer (an
  // approximate index may also find fewer than the filter leaves, and not the exact nearest).
  // `queries`: float [n, dimension()]. InvalidArgument for a bad shape, k outside 1..size() or a
  // negative knob.
  // Thread-safe (concurrent searches are safe).
  virtual absl::StatusOr<std::vector<std::vector<Neighbor>>> Search(
      absl::Span<const float> queries, int k, const SearchFilter& filter = {}) const = 0;
};

}  // namespace sketch

#endif  // SKETCH_INDEX_FEATURE_INDEX_H_
