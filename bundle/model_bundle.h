// The model bundle the server loads: one directory with the weights, the preprocessing, the
// FAISS index of the test-set features with its metadata, and a manifest that describes them all
// and pins every file by its SHA-256. It loads from the manifest alone: nothing of the trainer
// (its config, its run files) is read.
//
//   bundle/manifest.json        BundleManifest (bundle/manifest.h, docs/formats.md)
//   bundle/model.pt             weights (models/model_files.h)
//   bundle/preprocessing.json   raster options + normalization (+ mean_image.npy)
//   bundle/index.faiss, bundle/index_metadata.tsv
//   bundle/drawings.skdw        a gallery's drawings, entry i = index id i (optional;
//                               core/drawing_store.h)
//   bundle/whitening.faiss      a whitened gallery's whitening (optional;
//                               index/feature_whitening.h)
#ifndef SKETCH_BUNDLE_MODEL_BUNDLE_H_
#define SKETCH_BUNDLE_MODEL_BUNDLE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bundle/bundle_files.h"
#include "bundle/manifest.h"
#include "core/drawing_store.h"
#include "index/faiss_index.h"
#include "index/feature_whitening.h"
#include "models/trained_model.h"

namespace sketch {

struct ModelBundle {
  BundleManifest manifest;
  TrainedModel model;  // fp32, eval mode, BatchNorm not folded
  std::unique_ptr<FaissIndex> index;
  std::unique_ptr<DrawingStore> drawings;  // null unless the bundle stores its drawings
  // What queries go through before the index (QueryNormalizingIndex); null unless whitened.
  std::shared_ptr<const FeatureWhitening> whitening;
  std::string bundle_hash;                 // SHA-256 of manifest.json: names this exact bundle
};

// Writes the bundle into `dir` atomically: everything goes to "<dir>.tmp", then the old bundle
// (if any) is moved to "<dir>.old", the new one renamed into place, the old one deleted; a
// crash at any point leaves a complete bundle at `dir` or at "<dir>.old" (LoadBundle does not
// serve the latter: it refuses, naming it). Sets the manifest's format version, index shape, index
// knobs and file hashes (its index type and recall are the caller's); its architecture, input size
// and classes must be the model's. With `drawings_path` (a drawing store of exactly index.size()
// entries, in index order) the store is linked or copied in as drawings.skdw; the manifest must
// then describe a gallery, whose entries and has_drawings are set here. With `whitening` (which
// made the index's rows from 1024-d features) it is written as whitening.faiss and the manifest's
// whitening dims are set; the manifest must then say the features are L2-normalized.
// InvalidArgument when any of this does not hold, the store's size differs or the manifest's train
// config is not JSON; Internal on I/O or torch failure.
absl::Status WriteBundle(const std::string& dir, const TrainedModel& model, const FaissIndex& index,
                         BundleManifest manifest, const std::string& drawings_path = "",
                         const FeatureWhitening* whitening = nullptr);

// Loads and checks the bundle in `dir`, which is trusted like code (torch and FAISS parse its
// files; docs/deploy.md): every name the manifest gives must be a plain file name of a regular
// file in `dir` within its size cap in `limits` (bundle/bundle_files.h), checked before the file
// is hashed or read; then the format version (1 or 2), every file's SHA-256, the weights against
// the manifest's architecture, input size and classes, the preprocessing against the input size,
// the index against the feature size, classes, and the manifest's index type and knobs, the
// drawing store (when listed) against the index size and the manifest's gallery section, the
// whitening (when listed) against the manifest's and the index's dimensions.
// NotFound when `dir` holds no manifest.json; when "<dir>.old" holds one (a WriteBundle that did
// not finish) the message says so, and that bundle is not loaded. DataLoss naming the file and
// the rule for a corrupt, truncated, mismatched, oversized or wrongly named file, and for
// anything torch, FAISS or the JSON parser throws; InvalidArgument for a newer format version.
absl::StatusOr<ModelBundle> LoadBundle(const std::string& dir,
                                       const BundleLimits& limits = BundleLimits());

}  // namespace sketch

#endif  // SKETCH_BUNDLE_MODEL_BUNDLE_H_
