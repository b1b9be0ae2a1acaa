// The model bundle the server loads: one directory with the weights, the preprocessing, the
// FAISS index of the test-set features with its metadata, and a manifest that describes them all
// and pins every file by its SHA-256.
//
//   bundle/manifest.json        this header's BundleManifest (docs/formats.md)
//   bundle/model.pt             weights (SaveModelWeights)
//   bundle/preprocessing.json   raster options + normalization (+ mean_image.npy)
//   bundle/index.faiss, bundle/index_metadata.tsv
#ifndef SKETCH_TRAINER_MODEL_BUNDLE_H_
#define SKETCH_TRAINER_MODEL_BUNDLE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/flat_index.h"
#include "trainer/checkpoint.h"

namespace sketch {

inline constexpr int kBundleFormatVersion = 1;

struct BundleManifest {
  int format_version = kBundleFormatVersion;
  std::string architecture;
  int input_size = 0;
  std::vector<std::string> classes;  // label order
  std::string recipe;
  std::string train_config_json;  // the resolved TrainConfig (TrainConfigToJson)
  std::string dataset_path;
  uint64_t dataset_seed = 0;
  int64_t num_train = 0, num_test = 0;
  std::map<std::string, double> metrics;  // train_top1, test_top1, test_loss, map, map_l2, ...
  bool index_l2_normalized = false;  // queries must be L2-normalized like the indexed features
  int64_t index_size = 0;
  int feature_dim = 0;
  std::map<std::string, std::string> file_sha256;  // file name -> hex digest
};

struct ModelBundle {
  BundleManifest manifest;
  TrainedModel model;
  std::unique_ptr<FlatIndex> index;
  std::string bundle_hash;  // SHA-256 of manifest.json: names this exact bundle
};

// Writes the bundle into `dir` atomically: everything goes to "<dir>.tmp", then the old bundle
// (if any) is moved to "<dir>.old", the new one renamed into place, the old one deleted; a
// crash at any point leaves a complete bundle at `dir` or at "<dir>.old" (LoadBundle falls back
// to it). Fills the manifest's file hashes. Internal on I/O or torch failure.
absl::Status WriteBundle(const std::string& dir, const TrainedModel& model, const FlatIndex& index,
                         BundleManifest manifest);

// Loads and checks a bundle: format version, every file's SHA-256, the weights against the
// architecture and classes, the index against the feature size and classes. NotFound when
// there is no bundle; DataLoss (naming the file) for a corrupt, truncated or mismatched one;
// InvalidArgument for a newer format version.
absl::StatusOr<ModelBundle> LoadBundle(const std::string& dir);

// Lower-case hex SHA-256 of a file. NotFound / Internal on failure.
absl::StatusOr<std::string> Sha256File(const std::string& path);

}  // namespace sketch

#endif  // SKETCH_TRAINER_MODEL_BUNDLE_H_
