#include "trainer/image_batcher.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/random.h"
#include "models/torch_runtime.h"

namespace sketch {
namespace {

// The example order of one epoch: stored order, or the seeded permutation for that epoch.
void EpochOrder(int64_t num_examples, const ImageBatcherOptions& options, int64_t epoch,
                std::vector<int64_t>* order) {
  order->resize(num_examples);
  std::iota(order->begin(), order->end(), int64_t{0});
  if (!options.shuffle) return;
  Rng rng(DeriveSeed(options.seed, absl::StrCat("epoch", epoch)));
  rng.Shuffle(order);
}

}  // namespace

absl::StatusOr<std::vector<float>> ComputeMeanImage(const std::vector<DatasetExample>& examples,
                                                    const RasterOptions& raster) {
  if (examples.empty()) return absl::InvalidArgumentError("mean image of no examples");
  std::vector<double> sum;
  std::vector<uint8_t> image;
  for (size_t i = 0; i < examples.size(); ++i) {
    if (auto status = Rasterize(examples[i].sketch, raster, &image); !status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("example ", i, ": ", status.message()));
    }
    sum.resize(image.size(), 0.0);
    for (size_t p = 0; p < image.size(); ++p) sum[p] += image[p];
  }
  std::vector<float> mean(sum.size());
  const double scale = 1.0 / (255.0 * static_cast<double>(examples.size()));
  for (size_t p = 0; p < sum.size(); ++p) mean[p] = static_cast<float>(sum[p] * scale);
  return mean;
}

int64_t StepsPerEpoch(int64_t num_examples, int batch_size) {
  if (num_examples <= 0 || batch_size <= 0) return 0;
  return (num_examples + batch_size - 1) / batch_size;
}

absl::StatusOr<std::unique_ptr<ImageBatcher>> ImageBatcher::Create(
    const std::vector<DatasetExample>* examples, Preprocessing preprocessing,
    ImageBatcherOptions options) {
  if (examples == nullptr || examples->empty()) {
    return absl::InvalidArgumentError("batcher: no examples");
  }
  if (options.batch_size < 1 || options.loader_threads < 0 || options.first_step < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("batcher: need batch_size >= 1, loader_threads >= 0, first_step >= 0; got ",
                     options.batch_size, ", ", options.loader_threads, ", ", options.first_step));
  }
  if (options.views != 1 && options.views != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("batcher: views must be 1 or 2, got ", options.views));
  }
  if (options.pin_memory && !CudaBuild()) {
    return absl::InvalidArgumentError("batcher: pinned memory needs a build with CUDA");
  }
  if (auto status = ValidatePreprocessing(preprocessing); !status.ok()) return status;
  if (options.augment) {
    if (auto status = ValidateAugmentOptions(options.augment_options); !status.ok()) return status;
  }
  auto batcher = std::unique_ptr<ImageBatcher>(
      new ImageBatcher(examples, std::move(preprocessing), std::move(options)));
  for (int t = 0; t < batcher->options_.loader_threads; ++t) {
    batcher->workers_.emplace_back(&ImageBatcher::WorkerLoop, batcher.get());
  }
  return batcher;
}

ImageBatcher::ImageBatcher(const std::vector<DatasetExample>* examples, Preprocessing preprocessing,
                           ImageBatcherOptions options)
    : examples_(examples),
      preprocessing_(std::move(preprocessing)),
      options_(std::move(options)),
      steps_per_epoch_(StepsPerEpoch(static_cast<int64_t>(examples->size()), options_.batch_size)),
      end_step_(options_.end_step >= 0 ? std::max(options_.end_step, options_.first_step)
                                       : options_.first_step + steps_per_epoch_),
      capacity_(std::max(options_.queue_capacity, std::max(options_.loader_threads, 1))),
      next_claim_(options_.first_step),
      next_deliver_(options_.first_step) {}

ImageBatcher::~ImageBatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  consumed_.notify_all();
  produced_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ImageBatcher::WorkerLoop() {
  Scratch scratch;
  for (;;) {
    int64_t step;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Claim the next step only while it is within capacity of the consumer: bounded memory.
      consumed_.wait(lock, [&] {
        return stop_ || next_claim_ >= end_step_ || next_claim_ < next_deliver_ + capacity_;
      });
      if (stop_ || next_claim_ >= end_step_) return;
      step = next_claim_++;
    }
    absl::StatusOr<Batch> batch = MakeBatch(step, &scratch);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(step, std::move(batch));
    }
    produced_.notify_all();
  }
}

absl::StatusOr<Batch> ImageBatcher::Next() {
  if (workers_.empty()) {  // inline mode
    if (next_deliver_ >= end_step_) return absl::OutOfRangeError("batcher: no more steps");
    absl::StatusOr<Batch> batch = MakeBatch(next_deliver_, &inline_scratch_);
    next_deliver_ = batch.ok() ? next_deliver_ + 1 : end_step_;
    return batch;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_ || next_deliver_ >= end_step_) return absl::OutOfRangeError("batcher: no more steps");
  const auto start = std::chrono::steady_clock::now();
  produced_.wait(lock, [&] { return stop_ || ready_.count(next_deliver_) > 0; });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (stop_) return absl::OutOfRangeError("batcher: stopped");
  auto it = ready_.find(next_deliver_);
  absl::StatusOr<Batch> batch = std::move(it->second);
  ready_.erase(it);
  ++next_deliver_;
  if (!batch.ok()) stop_ = true;  // workers exit; later calls answer OutOfRange
  lock.unlock();
  consumed_.notify_all();
  return batch;
}

absl::StatusOr<Batch> ImageBatcher::MakeBatch(int64_t step, Scratch* scratch) const {
  Batch batch;
  try {
    if (auto status = FillBatch(step, scratch, &batch); !status.ok()) return status;
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("batch for step ", step, ": ", e.what_without_backtrace()));
  }
  return batch;
}

absl::Status ImageBatcher::FillBatch(int64_t step, Scratch* scratch, Batch* batch) const {
  const int64_t n = static_cast<int64_t>(examples_->size());
  batch->step = step;
  batch->epoch = step / steps_per_epoch_;
  if (batch->epoch != scratch->epoch) {
    EpochOrder(n, options_, batch->epoch, &scratch->order);
    scratch->epoch = batch->epoch;
  }
  const int64_t offset = (step % steps_per_epoch_) * options_.batch_size;
  const int64_t count = std::min<int64_t>(options_.batch_size, n - offset);
  const int64_t s = preprocessing_.raster.size;
  const int64_t c = InputPlaneCount(preprocessing_);  // planes per drawing
  const int64_t total = count * options_.views;
  batch->images = torch::empty(
      {total, c, s, s}, torch::TensorOptions(torch::kFloat).pinned_memory(options_.pin_memory));
  batch->labels =
      torch::empty({total}, torch::TensorOptions(torch::kLong).pinned_memory(options_.pin_memory));
  batch->indices.resize(total);
  float* images = batch->images.data_ptr<float>();
  int64_t* labels = batch->labels.data_ptr<int64_t>();
  for (int64_t j = 0; j < total; ++j) {
    const int64_t i = j % count, view = j / count;
    const int64_t index = scratch->order[offset + i];
    const DatasetExample& example = (*examples_)[index];
    const Sketch* sketch = &example.sketch;
    if (options_.augment && (!sketch->is_bitmap() || options_.augment_options.bitmaps)) {
      // View 0 keeps the single-view stream, so one-view runs are unchanged.
      Rng rng(DeriveSeed(options_.seed,
                         view == 0 ? absl::StrCat("augment/", step, "/", i)
                                   : absl::StrCat("augment/", step, "/", i, "/view", view)));
      const Affine affine = SampleAffine(options_.augment_options, &rng);
      if (auto status = ApplyAffine(*sketch, affine, &scratch->augmented); !status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("example ", index, ": ", status.message()));
      }
      sketch = &scratch->augmented;
    }
    absl::Status status =
        RenderInput(*sketch, preprocessing_, &scratch->image, images + j * c * s * s);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("example ", index, ": ", status.message()));
    }
    batch->indices[j] = index;
    labels[j] = example.label;
  }
  return absl::OkStatus();
}

}  // namespace sketch
