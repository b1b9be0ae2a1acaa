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

// Test-time views, inference only (training ignores them): the served logits and features are
// the means over the views of each image (models/inference_engine.h), at one forward pass per
// view. A gallery's features and its queries must agree on them, so a bundle records them.
struct TestTimeViews {
  // Each view and its left-right mirror (two views; the image flipped by the InferenceEngine).
  bool mirror = false;
  // > 0: the drawing and its rotations by +rotation_degrees and -rotation_degrees (three views;
  // six with `mirror`), each rotated drawing re-fitted and rasterized afresh (core/affine_map.h;
  // turning the image instead blurs its lines and lost 0.001 mAP where this gains 0.003,
  // docs/results.md). 0: no rotation. At most kMaxViewRotationDegrees.
  float rotation_degrees = 0.0f;
};

constexpr float kMaxViewRotationDegrees = 45.0f;

// 1 or 3: the rasterized views of each drawing.
int RotationViewCount(const TestTimeViews& views);
// 1, 2, 3 or 6: the forward passes per drawing.
int ViewCount(const TestTimeViews& views);

struct Preprocessing {
  RasterOptions raster;
  Normalization normalization;
  TestTimeViews test_time;
};

// OK, or InvalidArgument: std not positive and finite, a mean image of the wrong size, with
// non-finite values or beside channels other than ink, a view rotation outside
// [0, kMaxViewRotationDegrees]. Raster options are checked by Rasterize itself.
absl::Status ValidatePreprocessing(const Preprocessing& preprocessing);

// The planes of one drawing's network input: RasterChannelCount(raster.channels) per rotated view
// (RotationViewCount(test_time)), view after view.
int InputPlaneCount(const Preprocessing& preprocessing);

// Rasterizes `sketch` into `scratch` (reused) and writes the normalized image to
// out[0 .. InputPlaneCount*size*size) (planar): the drawing's planes, then with rotated views
// those of its rotation by +rotation_degrees, then by -rotation_degrees. InvalidArgument for a
// sketch Rasterize (or, rotated, ApplyAffine) rejects. Thread-safe.
absl::Status RenderInput(const Sketch& sketch, const Preprocessing& preprocessing,
                         std::vector<uint8_t>* scratch, float* out);

// images: float32 [sketches.size(), P, S, S], contiguous, S = raster.size, P =
// InputPlaneCount(preprocessing), in the given order,
// each image RenderInput's. InvalidArgument for an empty list, a null entry, a bad preprocessing
// or a sketch that does not rasterize (naming its position); Internal when torch cannot
// allocate. Runs on the calling thread. Thread-safe.
absl::StatusOr<torch::Tensor> RasterizeBatch(const std::vector<const Sketch*>& sketches,
                                             const Preprocessing& preprocessing);

}  // namespace sketch

#endif  // SKETCH_MODELS_PREPROCESSING_H_
