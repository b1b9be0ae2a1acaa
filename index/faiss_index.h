// FaissIndex: the FeatureIndex of a gallery — a FAISS index of any supported type (exact Flat,
// IVF with raw or PQ codes and optional OPQ, HNSW; index/index_spec.h) with its metadata table.
// Saved as two files in a directory: index.faiss and index_metadata.tsv. Made by FaissIndex::Build
// for features in memory, or by FaissIndexBuilder (index/faiss_index_builder.h) in chunks.
#ifndef SKETCH_INDEX_FAISS_INDEX_H_
#define SKETCH_INDEX_FAISS_INDEX_H_

#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/feature_index.h"
#include "index/index_spec.h"

namespace faiss {
struct Index;
}

namespace sketch {

class FaissIndex : public FeatureIndex {
 public:
  ~FaissIndex() override;

  // Builds `spec`'s index over `features` (float [metadata.size(), dimension]): trains it on a
  // seeded sample (IndexSpec) and adds the rows in chunks. The default spec builds the exact
  // Flat index. InvalidArgument for a shape mismatch, non-finite values, an empty index, a bad
  // metadata row, a bad spec or one FAISS refuses (e.g. fewer vectors than IVF lists).
  static absl::StatusOr<std::unique_ptr<FaissIndex>> Build(absl::Span<const float> features,
                                                           int dimension,
                                                           std::vector<IndexedSketch> metadata,
                                                           const IndexSpec& spec = IndexSpec());

  // Writes <dir>/index.faiss and <dir>/index_metadata.tsv (directory must exist).
  absl::Status Save(const std::string& dir) const;
  // Any type Build makes, and the flat indexes written before index types existed. NotFound for
  // missing files; DataLoss for corrupt or disagreeing ones or an unsupported FAISS index.
  static absl::StatusOr<std::unique_ptr<FaissIndex>> Load(const std::string& dir);

  int dimension() const override;
  int64_t size() const override;
  const IndexedSketch& metadata(int64_t id) const override;
  // FeatureIndex::Search. The knobs go to FAISS as per-call SearchParameters, so concurrent
  // searches with different knobs never touch shared state. Flat results equal brute force.
  // Filters: Flat and IVF pass them to FAISS as an IDSelector (an IVF search with few probes
  // may then find fewer than k: only the visited lists are filtered). HNSW in FAISS 1.7.3 does
  // not walk through the nodes a selector refuses, so a selective filter could cut the graph:
  // a filtered HNSW query over-fetches unfiltered neighbours instead (k + excluded ids, then
  // doubling, efSearch at least as many) until k pass the filter or every vector was fetched —
  // a filter that admits a small fraction of the gallery costs up to a full graph walk.
  // HNSW's efSearch: FAISS 1.7.3 sizes the candidate heap from the index's own efSearch and not
  // from SearchParametersHNSW (fixed in 1.7.4), so a search with another efSearch than the
  // default, and a filtered one (it over-fetches), sets it under an exclusive lock (those run one
  // at a time) while unfiltered searches with the default share the lock.
  absl::StatusOr<std::vector<std::vector<Neighbor>>> Search(
      absl::Span<const float> queries, int k, const SearchFilter& filter = {}) const override;

  IndexKind kind() const { return kind_; }
  bool exact() const { return kind_ == IndexKind::kFlat; }
  // The knobs a search with 0 in them uses (0 where a knob does not apply to this kind).
  SearchKnobs default_knobs() const;
  // Replaces the defaults (0 keeps one as it is); InvalidArgument for a negative knob. Not
  // thread-safe: call before the index is shared (e.g. the server's --nprobe at load time).
  absl::Status SetDefaultKnobs(const SearchKnobs& knobs);

  // The stored vector of `id` in [0, size()): float [dimension]. As added for Flat and HNSW; the
  // decoded approximation for compressed codes; IVF types find the id by scanning their lists
  // (O(size): FAISS keeps no id map unless asked, and one costs 8 bytes a vector).
  std::vector<float> Reconstruct(int64_t id) const;

 private:
  friend class FaissIndexBuilder;
  // The kind of a FAISS index's structure (through an OPQ/PCA transform); DataLoss for a
  // structure FaissIndex does not search.
  static absl::StatusOr<IndexKind> KindOf(const faiss::Index& index);
  FaissIndex(std::unique_ptr<faiss::Index> index, IndexKind kind,
             std::vector<IndexedSketch> metadata);

  std::unique_ptr<faiss::Index> index_;
  IndexKind kind_;
  std::vector<IndexedSketch> metadata_;
  // HNSW: the default efSearch, kept apart from FAISS's field, which a search with another
  // efSearch sets and restores under hnsw_ef_mutex_ held exclusively (see Search).
  int default_ef_search_ = 0;
  mutable std::shared_mutex hnsw_ef_mutex_;
};

}  // namespace sketch

#endif  // SKETCH_INDEX_FAISS_INDEX_H_
