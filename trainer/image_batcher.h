// Turns dataset examples into network input, one batch at a time, on background threads: for
// training (seeded shuffle and augmentation) or for one fixed-order pass over a split
// (evaluation, feature extraction). Each image is models/preprocessing.h's RenderInput, the
// one the server's RasterizeBatch makes for a request.
#ifndef SKETCH_TRAINER_IMAGE_BATCHER_H_
#define SKETCH_TRAINER_IMAGE_BATCHER_H_

#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dataset.h"
#include "core/rasterizer.h"
#include "core/sketch.h"
#include "models/preprocessing.h"
#include "trainer/augment.h"

namespace sketch {

// The per-pixel mean of the examples' rasters in [0, 1] units: float32 [size * size]. Rendered
// without augmentation. InvalidArgument for no examples or a sketch that does not rasterize.
absl::StatusOr<std::vector<float>> ComputeMeanImage(const std::vector<DatasetExample>& examples,
                                                    const RasterOptions& raster);

// ceil(num_examples / batch_size): the last batch of an epoch may be smaller.
int64_t StepsPerEpoch(int64_t num_examples, int batch_size);

struct ImageBatcherOptions {
  int batch_size = 32;
  // false: examples in their stored order. true: epoch e visits the permutation drawn by
  // Rng(DeriveSeed(seed, "epoch<e>")).Shuffle.
  bool shuffle = false;
  // Example i of step s gets SampleAffine(augment_options, Rng(DeriveSeed(seed,
  // "augment/<s>/<i>"))); bitmap sketches only with augment_options.bitmaps.
  bool augment = false;
  AugmentOptions augment_options;
  uint64_t seed = 0;
  // Global steps [first_step, end_step); end_step < 0 means one epoch from first_step.
  int64_t first_step = 0;
  int64_t end_step = -1;
  // Worker threads; 0 makes each batch inside Next() on the caller's thread.
  int loader_threads = 1;
  // Batches made ahead of the consumer, at most (raised to loader_threads when lower).
  int queue_capacity = 4;
  // Renderings of each example per batch (1 or 2): view 0 is the one above; view 1 draws its own
  // augmentation from Rng(DeriveSeed(seed, "augment/<s>/<i>/view1")). A batch of B examples then
  // holds 2B images, all of view 0 first (instance-contrastive training pairs the two views).
  int views = 1;
  // Batches in page-locked memory, which a GPU copies from asynchronously (--device cuda). Needs
  // a CUDA build: elsewhere Create refuses it.
  bool pin_memory = false;
};

struct Batch {
  int64_t step = 0;              // global step
  int64_t epoch = 0;             // step / steps_per_epoch
  torch::Tensor images;          // float32 [V*B, C, S, S], contiguous (NCHW), C: raster channels
  torch::Tensor labels;          // int64 [V*B]
  std::vector<int64_t> indices;  // [V*B] positions in the example list (V: views)
};

// Produces batches for a step range in step order. Batch contents depend only on the examples,
// the preprocessing, the options and the step, never on thread count or scheduling. Each worker
// reuses one uint8 image buffer. Next() must be called from one thread at a time.
class ImageBatcher {
 public:
  // `examples` must outlive the batcher and stay unchanged. InvalidArgument for no examples,
  // batch_size < 1, loader_threads < 0, views other than 1 or 2, a bad preprocessing or
  // augmentation.
  static absl::StatusOr<std::unique_ptr<ImageBatcher>> Create(
      const std::vector<DatasetExample>* examples, Preprocessing preprocessing,
      ImageBatcherOptions options);
  ~ImageBatcher();  // stops the workers (batches in flight are dropped)

  ImageBatcher(const ImageBatcher&) = delete;
  ImageBatcher& operator=(const ImageBatcher&) = delete;

  // The next step's batch; OutOfRange after the last step. A rasterization error is returned
  // for its step, after which the batcher is done (every later call returns OutOfRange).
  absl::StatusOr<Batch> Next();

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t end_step() const { return end_step_; }
  // Seconds Next() spent blocked waiting for workers: near 0 when the loader keeps up.
  double wait_seconds() const { return wait_seconds_; }

 private:
  // One worker's reusable state: the cached epoch order and the image and sketch buffers.
  struct Scratch {
    int64_t epoch = -1;
    std::vector<int64_t> order;
    std::vector<uint8_t> image;
    Sketch augmented;
  };

  ImageBatcher(const std::vector<DatasetExample>* examples, Preprocessing preprocessing,
               ImageBatcherOptions options);
  absl::StatusOr<Batch> MakeBatch(int64_t step, Scratch* scratch) const;
  absl::Status FillBatch(int64_t step, Scratch* scratch, Batch* batch) const;
  void WorkerLoop();

  const std::vector<DatasetExample>* examples_;
  const Preprocessing preprocessing_;
  const ImageBatcherOptions options_;
  const int64_t steps_per_epoch_;
  const int64_t end_step_;
  const int64_t capacity_;

  std::mutex mu_;
  std::condition_variable produced_;                // a batch landed in ready_, or stop
  std::condition_variable consumed_;                // next_deliver_ advanced, or stop
  int64_t next_claim_;                              // guarded by mu_
  int64_t next_deliver_;                            // guarded by mu_
  bool stop_ = false;                               // guarded by mu_
  std::map<int64_t, absl::StatusOr<Batch>> ready_;  // guarded by mu_
  std::vector<std::thread> workers_;
  Scratch inline_scratch_;  // loader_threads == 0
  double wait_seconds_ = 0.0;
};

}  // namespace sketch

#endif  // SKETCH_TRAINER_IMAGE_BATCHER_H_
