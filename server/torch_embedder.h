// TorchEmbedder: the Embedder of a trained skNet / skResNet — each batch goes through the
// models' InferenceEngine (rasterized with the model's own preprocessing, one forward pass of a
// BatchNorm-folded inference copy); softmax gives the probabilities, fc_1 (after ReLU) the
// feature.
//
// Precision: fp32 (the default) runs exactly what `sketch-trainer bundle` ran to compute the
// bundle's figures and its index (the same InferenceEngine), so live features equal the indexed
// ones and the live mAP is the manifest's. bf16 (autocast + channels-last) is faster on CPUs with
// native bf16 but its features differ slightly from the indexed fp32 ones; auto picks bf16 only
// there.
#ifndef SKETCH_SERVER_TORCH_EMBEDDER_H_
#define SKETCH_SERVER_TORCH_EMBEDDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/inference_engine.h"
#include "models/torch_runtime.h"
#include "models/trained_model.h"
#include "server/embedder.h"

namespace sketch {

struct TorchEmbedderOptions {
  Precision precision = Precision::kFp32;  // resolved by Create (kAuto: bf16 iff native)
  std::string device = "cpu";              // cpu | cuda | cuda:N (ParseDevice)
  // Create runs one dummy batch of every size from 1 to this, because oneDNN sets up (creates,
  // JIT-compiles and caches) its primitives per input shape: warmed up to the largest batch the
  // server forms, no request pays that set-up for its batch size, and the memory the cache takes
  // is taken before serving rather than during it. 0 skips the warm-up.
  int warmup_max_batch_size = 1;
};

class TorchEmbedder : public Embedder {
 public:
  // Builds the InferenceEngine (a copy of `model`'s weights, so `model` may be dropped or changed
  // afterwards) and runs the warm-up batches. InvalidArgument when the model's parts do not fit
  // (ValidateTrainedModel); Internal when torch fails (the warm-up included).
  static absl::StatusOr<std::unique_ptr<TorchEmbedder>> Create(
      const TrainedModel& model, const TorchEmbedderOptions& options = {});

  // probabilities: softmax of the logits, float [num_classes]; feature: fc_1, float [1024].
  // InvalidArgument (naming the position) for an empty batch, a null entry or a sketch that does
  // not rasterize: the whole batch fails. Internal when torch fails. Runs under InferenceMode
  // (and bf16 autocast) on the calling thread, using torch's intra-op pool (SetTorchThreads).
  // Safe to call from several threads, though the server calls it from its batcher only.
  absl::StatusOr<EmbedResult> EmbedBatch(const std::vector<const Sketch*>& sketches) override;

  int num_classes() const override { return static_cast<int>(class_names_.size()); }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  int dimension() const override { return static_cast<int>(kFeatureSize); }
  int input_size() const override { return engine_->input_size(); }

  // The precision the forward pass runs in: kFp32 or kBf16, never kAuto.
  Precision precision() const { return engine_->precision(); }

 private:
  TorchEmbedder(std::unique_ptr<InferenceEngine> engine, std::vector<std::string> class_names);

  // EmbedBatch's body; may throw c10::Error (softmax), which EmbedBatch turns into Internal.
  absl::StatusOr<EmbedResult> Run(const std::vector<const Sketch*>& sketches);

  const std::unique_ptr<const InferenceEngine> engine_;
  const std::vector<std::string> class_names_;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_TORCH_EMBEDDER_H_
