// BundleManifest: manifest.json of a model bundle (bundle/model_bundle.h) — what the bundle holds
// (architecture, input size, classes, index shape), how it was made (recipe, dataset, the
// training config as an opaque JSON document), its metrics, and the SHA-256 of every other file.
// docs/formats.md describes the JSON.
#ifndef SKETCH_BUNDLE_MANIFEST_H_
#define SKETCH_BUNDLE_MANIFEST_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sketch {

// 2: the bundle loads from its manifest alone and has no train_config.json (the training config
// is only the manifest's "train_config"). 1: a train_config.json beside it; still read.
inline constexpr int kBundleFormatVersion = 2;

// What a gallery bundle (`sketch-trainer index`) indexed; absent from the study's bundles.
struct GalleryInfo {
  std::vector<std::string> sources;  // the inputs as given (files or folders)
  int64_t entries = 0;               // indexed drawings (= index size)
  bool has_drawings = false;         // drawings.skdw holds them (core/drawing_store.h)
};

struct BundleManifest {
  int format_version = kBundleFormatVersion;
  std::string architecture;          // "sknet" or "skresnet": which network model.pt holds
  int input_size = 0;                // the network's input side in pixels
  std::vector<std::string> classes;  // label order
  std::string recipe;
  // The trainer's resolved config as JSON, carried verbatim: no reader of bundles parses it.
  // Empty: none (written as null).
  std::string train_config_json;
  std::string dataset_path;
  uint64_t dataset_seed = 0;
  int64_t num_train = 0, num_test = 0;
  std::map<std::string, double> metrics;  // train_top1, test_top1, test_loss, map, map_l2, ...
  bool index_l2_normalized = false;       // queries must be L2-normalized like the indexed features
  // A whitened gallery (index/feature_whitening.h, whitening.faiss): the indexed rows and the
  // queries are L2-normalized, whitened to this many dimensions and L2-normalized again; 0: not
  // whitened. `shrink` is the whitening's regularization, recorded for reports.
  int index_whitening_dims = 0;
  double index_whitening_shrink = 0;
  // Search-time query expansion (index/query_expanding_index.h): each query is expanded with its
  // `neighbors` nearest indexed rows weighted by similarity ^ `alpha`; 0 neighbours: none. Only
  // with L2-normalized rows.
  int index_query_expansion_neighbors = 0;
  double index_query_expansion_alpha = 0;
  int64_t index_size = 0;
  int feature_dim = 0;  // the indexed rows' dimension: 1024 (fc_1), or the whitening's
  // The FAISS index factory string (index/index_spec.h); manifests written before index types
  // ("flat_l2") read as "Flat".
  std::string index_type = "Flat";
  // Recall@10 against exact search, measured when the index was built (1 for Flat and for
  // manifests that predate the field).
  double index_recall_at_10 = 1;
  // The search knobs the index was saved with (0 where they do not apply).
  int index_nprobe = 0;
  int index_ef_search = 0;
  std::map<std::string, std::string> file_sha256;  // file name -> hex digest
  // Set for gallery bundles only ("gallery" in the JSON; older bundles have none).
  std::optional<GalleryInfo> gallery;
};

// The manifest as pretty JSON (keys in a fixed order). InvalidArgument when train_config_json
// is neither empty nor JSON.
absl::StatusOr<std::string> ManifestToJson(const BundleManifest& manifest);

// Parses manifest.json text; `path` names it in errors. DataLoss for something that is not a
// bundle manifest or misses a field; InvalidArgument for a format version newer than
// kBundleFormatVersion.
absl::StatusOr<BundleManifest> ManifestFromJson(const std::string& text, const std::string& path);

}  // namespace sketch

#endif  // SKETCH_BUNDLE_MANIFEST_H_
