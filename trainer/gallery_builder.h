// `sketch-trainer index`: a gallery bundle from a trained model and any collection of drawings
// (files or folders in the four Quick, Draw! formats, words the model never saw included).
// The inputs are streamed (trainer/gallery_features.h, the path `evaluate --drawings` shares);
// features are extracted in chunks into "<out>.work/" so that a killed run, started again with the
// same command, continues where it stopped; the bundle holds the index, one metadata row per
// drawing (key_id, word, source, label or -1) and the drawings themselves (core/drawing_store.h),
// and its manifest the leave-one-out mAP and precision@10 of the model's classes and of the
// unseen ones.
#ifndef SKETCH_TRAINER_GALLERY_BUILDER_H_
#define SKETCH_TRAINER_GALLERY_BUILDER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bundle/manifest.h"
#include "index/faiss_index.h"
#include "index/index_spec.h"
#include "trainer/bundle_builder.h"
#include "trainer/gallery_features.h"

namespace sketch {

struct GalleryOptions {
  std::string model;                // a `sketch-trainer train` output directory or a bundle
  std::vector<std::string> inputs;  // drawing files and folders (searched recursively)
  std::string out_dir;              // the bundle to write; its work directory is out_dir + ".work"
  // kAuto: a bundle's own choice (manifest index.l2_normalized); L2 for a model directory.
  FeatureNormalization normalization = FeatureNormalization::kAuto;
  // Embed with these test-time views (recorded in the gallery bundle); each one set overrides
  // the model's own, the rest keep it.
  TestTimeViews test_time;
  // dims > 0: whiten the L2-normalized features, fitted on this gallery's (stored in the bundle,
  // applied to every query; index/feature_whitening.h).
  WhiteningOptions whitening;
  // Search-time query expansion (index/query_expanding_index.h) of this gallery, recorded in its
  // manifest and in its figures; a bundle's own is not inherited. Needs L2-normalized features
  // and an index that is not IVF.
  QueryExpansionOptions query_expansion;
  FeatureOptions features;  // skip_invalid, chunk_size (the unit of resumption), batch, precision
  bool store_drawings = true;
  // The leave-one-out figures cost O(n^2): above this many drawings they are measured within a
  // seeded random sample of this size (0: always the whole gallery).
  int64_t map_sample = 20000;
  // The index (Flat: exact); an approximate one's recall@10 against exact search is measured on
  // `recall_queries` of the indexed features and recorded in the manifest.
  IndexSpec index;
  int recall_queries = 1000;
  // Tests: stop with Aborted once this many new chunks are written (0: no limit), as a kill would.
  int max_chunks = 0;
};

struct GalleryReport {
  int64_t entries = 0;
  int64_t skipped = 0;         // malformed records skipped (skip_invalid)
  int64_t reused_chunks = 0;   // feature chunks found in the work directory from an earlier run
  GalleryRetrieval retrieval;  // words, seen and unseen counts, leave-one-out mAP and P@10
  bool l2_normalized = false;
  int whitening_dims = 0;  // 0: not whitened
  int query_expansion_neighbors = 0;  // 0: queries are not expanded
  std::string index_type;
  double index_recall_at_10 = 1;  // 1 for Flat
  int64_t store_bytes = 0, index_bytes = 0;
  double seconds = 0;
};

// The gallery's index: the one place that decides how gallery features are indexed (`spec`'s
// type over the rows ToSearchFeatures made), with an approximate index's recall@10 against exact
// search measured on `recall_queries` of them (1 for an exact one). `features`: one row per
// drawing of `rows`.
struct GalleryIndex {
  std::unique_ptr<FaissIndex> index;
  double recall_at_10 = 1;
};
absl::StatusOr<GalleryIndex> BuildGalleryIndex(const SearchFeatures& features,
                                               std::vector<IndexedSketch> rows,
                                               const IndexSpec& spec, int recall_queries);

// Errors: NotFound (model, inputs), InvalidArgument (no drawings, a malformed record without
// skip_invalid, naming file:line), FailedPrecondition (a work directory left by a run with other
// inputs, model or options: it names what differs), DataLoss (a damaged chunk or state file,
// naming it), Aborted (max_chunks reached; run again to continue).
absl::StatusOr<GalleryReport> BuildGallery(const GalleryOptions& options);

std::string FormatGalleryReport(const GalleryReport& report);

}  // namespace sketch

#endif  // SKETCH_TRAINER_GALLERY_BUILDER_H_
