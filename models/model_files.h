// The files of a trained model, the same in a training run's output directory and in a bundle:
//
//   model.pt             torch::save of the module's parameters and buffers
//   preprocessing.json   raster options + normalization (docs/formats.md)
//   mean_image.npy       float32 [size, size], numpy-readable; only with a mean image
//
// Every file is written atomically (core/atomic_file.h).
#ifndef SKETCH_MODELS_MODEL_FILES_H_
#define SKETCH_MODELS_MODEL_FILES_H_

#include <torch/nn/module.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/preprocessing.h"

namespace sketch {

// torch::save of the module's parameters and buffers to `path`, atomically. Internal on failure.
absl::Status SaveModelWeights(const torch::nn::Module& model, const std::string& path);
// Loads what SaveModelWeights wrote into a module of the same architecture and config.
// NotFound for a missing file; DataLoss when the names or shapes do not match.
absl::Status LoadModelWeights(const std::string& path, torch::nn::Module* model);

// dir/preprocessing.json (raster options, normalization) and, with a mean image,
// dir/mean_image.npy (core/npy_format.h). InvalidArgument for a preprocessing
// ValidatePreprocessing rejects; Internal on I/O failure.
absl::Status SavePreprocessing(const Preprocessing& preprocessing, const std::string& dir);
// The inverse. NotFound for a missing file; DataLoss for a malformed one.
absl::StatusOr<Preprocessing> LoadPreprocessing(const std::string& dir);

// The archive helpers the weights use, for other torch state (an optimizer's): `write` fills an
// archive saved to `path` atomically (Internal on failure); `read` gets the archive loaded from
// `path` onto the CPU, whatever device its tensors were saved from (NotFound for a missing file,
// DataLoss when torch cannot read it or `read` throws).
absl::Status SaveTorchArchive(const std::string& path,
                              const std::function<void(torch::serialize::OutputArchive*)>& write);
absl::Status LoadTorchArchive(const std::string& path,
                              const std::function<void(torch::serialize::InputArchive&)>& read);

}  // namespace sketch

#endif  // SKETCH_MODELS_MODEL_FILES_H_
