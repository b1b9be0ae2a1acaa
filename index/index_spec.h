// IndexSpec: which FAISS index a gallery is searched with — an index factory string ("Flat",
// "IVF1024,Flat", "OPQ64,IVF1024,PQ64", "HNSW32") — with its default search knobs and how its
// training sample is drawn. FAISS's guidelines: Flat (exact) below ~1M vectors; IVF, HNSW and
// IVF-PQ with OPQ beyond (docs/deploy.md sizes them from measured figures).
#ifndef SKETCH_INDEX_INDEX_SPEC_H_
#define SKETCH_INDEX_INDEX_SPEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "index/feature_index.h"

namespace sketch {

// The search structure of an index type: what its knobs and guarantees are.
enum class IndexKind {
  kFlat,  // exact: every vector is compared; no knobs
  kIvf,   // inverted lists over a coarse k-means quantizer, raw or compressed codes; nprobe
  kHnsw,  // a navigable small-world graph over raw vectors; efSearch
};

struct IndexSpec {
  std::string type = "Flat";  // FAISS index factory string (L2 metric)
  // Written into the index as its defaults (0: FAISS's own, nprobe 1 and efSearch 16).
  SearchKnobs default_knobs;
  // Training (IVF quantizer, PQ/OPQ codebooks) uses a seeded random sample of the vectors:
  // 40 per centroid of the largest codebook (nlist for IVF, 256 for PQ), FAISS's own advice being
  // 39..256, capped at this many (k-means costs O(sample x centroids x dimension) per iteration).
  int64_t max_training_vectors = 200000;
  uint64_t seed = 20180416;
  // Vectors handed to FAISS per add call, which bounds the temporary copies FAISS makes.
  int64_t add_chunk = 65536;
};

// The kind of a factory string. InvalidArgument naming the string when it is none of the
// supported shapes: "Flat"; "IVF<nlist>,<codes>" with an optional leading "OPQ<m>[_<d>]," or
// "PCA<d>,"; "HNSW<M>" (optionally ",Flat"). Whether FAISS accepts the details is checked when
// the index is made.
absl::StatusOr<IndexKind> IndexKindOfType(const std::string& type);

// "flat", "ivf" or "hnsw".
const char* IndexKindName(IndexKind kind);

// InvalidArgument naming the field for a type IndexKindOfType refuses, a negative knob or a
// non-positive sample cap or chunk.
absl::Status ValidateIndexSpec(const IndexSpec& spec);

}  // namespace sketch

#endif  // SKETCH_INDEX_INDEX_SPEC_H_
