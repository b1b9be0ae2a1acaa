// Embedder: the model as the server sees it — a batch of drawings in, per drawing the class
// probabilities and the feature vector out. The LibTorch implementation loads a model bundle;
// tests use fakes.
#ifndef SKETCH_SERVER_EMBEDDER_H_
#define SKETCH_SERVER_EMBEDDER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/sketch.h"

namespace sketch {

// The model's view of one drawing.
struct Embedding {
  std::vector<float> probabilities;  // float [num_classes], softmax (sums to 1)
  std::vector<float> feature;        // float [dimension]
};

struct EmbedResult {
  std::vector<Embedding> embeddings;  // one per input sketch, in input order
};

class Embedder {
 public:
  virtual ~Embedder() = default;

  // Runs the model on `sketches` (1 or more, each passing ValidateSketch and either a bitmap or
  // in the simplified frame; raw strokes are normalized before they get here). Returns one
  // Embedding per sketch with the sizes above, or an error (Internal for a model failure; no
  // exceptions escape). Need not be thread-safe: the DynamicBatcher calls it from its single
  // worker thread only.
  virtual absl::StatusOr<EmbedResult> EmbedBatch(const std::vector<const Sketch*>& sketches) = 0;

  // Constant after construction; thread-safe.
  virtual int num_classes() const = 0;
  virtual const std::vector<std::string>& class_names() const = 0;  // [num_classes], label order
  virtual int dimension() const = 0;   // feature length (1024 for skNet / skResNet)
  virtual int input_size() const = 0;  // side of the square image the network sees
};

}  // namespace sketch

#endif  // SKETCH_SERVER_EMBEDDER_H_
