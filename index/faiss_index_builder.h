// FaissIndexBuilder: makes a FaissIndex of any IndexSpec without holding all its vectors at once
// — train on a sample, add chunks as they come (a gallery's feature extraction, a synthetic
// benchmark gallery), then take the index. FaissIndex::Build is this over features in memory.
#ifndef SKETCH_INDEX_FAISS_INDEX_BUILDER_H_
#define SKETCH_INDEX_FAISS_INDEX_BUILDER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "index/faiss_index.h"
#include "index/index_spec.h"

namespace faiss {
struct Index;
}

namespace sketch {

class FaissIndexBuilder {
 public:
  // An empty index of `spec` over vectors of `dimension`. InvalidArgument for a bad spec or
  // dimension, or a factory string FAISS refuses (its message included).
  static absl::StatusOr<FaissIndexBuilder> Create(int dimension, const IndexSpec& spec);
  FaissIndexBuilder(FaissIndexBuilder&&) noexcept;
  FaissIndexBuilder& operator=(FaissIndexBuilder&&) noexcept;
  ~FaissIndexBuilder();

  // Whether Train must run before Add (IVF quantizers, PQ/OPQ codebooks).
  bool needs_training() const;
  // How many of `total` vectors to train on (IndexSpec's rule); 0 when no training is needed.
  int64_t TrainingSampleSize(int64_t total) const;
  // `sample`: float [m, dimension], finite. InvalidArgument for a bad shape or when FAISS refuses
  // (e.g. fewer vectors than IVF lists or PQ centroids).
  absl::Status Train(absl::Span<const float> sample);
  // Appends `features` (float [rows.size(), dimension], finite) with their metadata; ids follow
  // on. FailedPrecondition before a needed Train; InvalidArgument for a bad shape or row.
  absl::Status Add(absl::Span<const float> features, std::vector<IndexedSketch> rows);
  int64_t size() const { return static_cast<int64_t>(metadata_.size()); }
  // The index; the builder is spent. InvalidArgument when nothing was added.
  absl::StatusOr<std::unique_ptr<FaissIndex>> Finish() &&;

 private:
  FaissIndexBuilder(std::unique_ptr<faiss::Index> index, IndexKind kind, const IndexSpec& spec);

  std::unique_ptr<faiss::Index> index_;
  IndexKind kind_;
  IndexSpec spec_;
  std::vector<IndexedSketch> metadata_;
};

// InvalidArgument naming the first non-finite value of `values` ("<what> value <i> is not finite").
absl::Status CheckFinite(absl::Span<const float> values, const char* what);

// InvalidArgument unless `values` is one or more whole rows of `dimension` ("<what> of size <n>
// are not rows of dimension <d>"), all finite (CheckFinite).
absl::Status CheckRows(absl::Span<const float> values, int dimension, const char* what);

}  // namespace sketch

#endif  // SKETCH_INDEX_FAISS_INDEX_BUILDER_H_
