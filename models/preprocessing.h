// Preprocessing: everything between a Sketch and the network's input tensor — the raster
// options and the normalization a model was trained with — and the test-time averaging between
// the network's outputs and the served embedding. It is part of a trained model
// (models/model_files.h saves and loads it beside the weights), so the trainer, the evaluation
// and the server turn a drawing into the same input.
#ifndef SKETCH_MODELS_PREPROCESSING_H_
#define SKETCH_MODELS_PREPROCESSING_H_

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/rasterizer.h"
#include "core/sketch.h"

namespace sketch {

// input = (pixel / 255 - m) / std, where m is mean_image[p] when mean_image is non-empty and the
// scalar `mean` otherwise.
struct Normalization {
  float mean = 0.0f;
  float std = 1.0f;
  std::vector<float> mean_image;  // float32 [size * size] in [0, 1] units, row-major; or empty
};

struct Preprocessing {
  RasterOptions raster;
  Normalization normalization;
  // Inference only (training ignores it): logits and features are the means of the image's and
  // its left-right mirror's (models/inference_engine.h), at twice the forward cost. A gallery's
  // features and its queries must agree on it, so a bundle records it.
  bool mirror_average = false;
};

// OK, or InvalidArgument: std not positive and finite, a mean image of the wrong size, with
// non-finite values or beside channels other than ink. Raster options are checked by Rasterize itself.
absl::Status ValidatePreprocessing(const Preprocessing& preprocessing);

// Rasterizes `sketch` into `scratch` (reused) and writes the normalized image to
// out[0 .. channels*size*size) (planar). InvalidArgument for a sketch Rasterize rejects.
// Thread-safe.
absl::Status RenderInput(const Sketch& sketch, const Preprocessing& preprocessing,
                         std::vector<uint8_t>* scratch, float* out);

// images: float32 [sketches.size(), C, S, S], contiguous, S = raster.size, C =
// RasterChannelCount(raster.channels), in the given order,
// each image RenderInput's. InvalidArgument for an empty list, a null entry, a bad preprocessing
// or a sketch that does not rasterize (naming its position); Internal when torch cannot
// allocate. Runs on the calling thread. Thread-safe.
absl::StatusOr<torch::Tensor> RasterizeBatch(const std::vector<const Sketch*>& sketches,
                                             const Preprocessing& preprocessing);

}  // namespace sketch

#endif  // SKETCH_MODELS_PREPROCESSING_H_
