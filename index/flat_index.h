// An exact (brute-force) L2 index over sketch features, backed by FAISS IndexFlatL2, with its
// metadata table. Saved as two files in a directory: index.faiss and index_metadata.tsv.
#ifndef SKETCH_INDEX_FLAT_INDEX_H_
#define SKETCH_INDEX_FLAT_INDEX_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/feature_index.h"

namespace faiss {
struct IndexFlatL2;
}

namespace sketch {

class FlatIndex : public FeatureIndex {
 public:
  ~FlatIndex() override;

  // `features`: float [metadata.size(), dimension]. InvalidArgument for a shape mismatch,
  // non-finite values or an empty index.
  static absl::StatusOr<std::unique_ptr<FlatIndex>> Build(absl::Span<const float> features,
                                                          int dimension,
                                                          std::vector<IndexedSketch> metadata);

  // Writes <dir>/index.faiss and <dir>/index_metadata.tsv (directory must exist).
  absl::Status Save(const std::string& dir) const;
  // NotFound for missing files; DataLoss for corrupt or disagreeing ones.
  static absl::StatusOr<std::unique_ptr<FlatIndex>> Load(const std::string& dir);

  int dimension() const override;
  int64_t size() const override;
  const IndexedSketch& metadata(int64_t id) const override;
  absl::StatusOr<std::vector<std::vector<Neighbor>>> Search(
      absl::Span<const float> queries, int k, const SearchFilter& filter = {}) const override;

  // The stored vector of `id`: float [dimension].
  std::vector<float> Reconstruct(int64_t id) const;

 private:
  FlatIndex(std::unique_ptr<faiss::IndexFlatL2> index, std::vector<IndexedSketch> metadata);

  std::unique_ptr<faiss::IndexFlatL2> index_;
  std::vector<IndexedSketch> metadata_;
};

}  // namespace sketch

#endif  // SKETCH_INDEX_FLAT_INDEX_H_
