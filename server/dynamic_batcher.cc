#include "server/dynamic_batcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/await.h"

namespace sketch {
namespace {

// Checks the embedder kept its contract before results reach callers: a short or mis-sized
// result would otherwise be read out of bounds by the classifier or the index.
absl::Status CheckEmbedResult(const EmbedResult& result, size_t batch, const Embedder& embedder) {
  if (result.embeddings.size() != batch) {
    return absl::InternalError(absl::StrCat("embedder returned ", result.embeddings.size(),
                                            " embeddings for a batch of ", batch));
  }
  for (const Embedding& e : result.embeddings) {
    if (e.probabilities.size() != static_cast<size_t>(embedder.num_classes()) ||
        e.feature.size() != static_cast<size_t>(embedder.dimension())) {
      return absl::InternalError(absl::StrCat(
          "embedder returned ", e.probabilities.size(), " probabilities and a feature of ",
          e.feature.size(), ", expected ", embedder.num_classes(), " and ", embedder.dimension()));
    }
  }
  return absl::OkStatus();
}

// One SubmitAll's results as they arrive; the last callback hands them over.
struct Gather {
  Gather(size_t n, DynamicBatcher::AllCallback all_done)
      : results(n, absl::UnknownError("not run")), remaining(n), done(std::move(all_done)) {}
  absl::Mutex mu;
  std::vector<absl::StatusOr<Embedding>> results ABSL_GUARDED_BY(mu);
  size_t remaining ABSL_GUARDED_BY(mu);
  DynamicBatcher::AllCallback done;  // called once, by whoever brings `remaining` to 0
};

}  // namespace

absl::Status ValidateBatcherOptions(const BatcherOptions& options) {
  if (options.max_batch_size < 1 || options.max_batch_size > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_size: ", options.max_batch_size, " is outside 1..4096"));
  }
  if (options.max_queue_delay < absl::ZeroDuration() ||
      options.max_queue_delay > absl::Seconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_queue_delay: ", absl::FormatDuration(options.max_queue_delay), " is outside 0..1s"));
  }
  if (options.max_queue_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queue_size: ", options.max_queue_size, " is below 1"));
  }
  if (options.max_queue_wait <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_queue_wait: ", absl::FormatDuration(options.max_queue_wait), " is not positive"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DynamicBatcher>> DynamicBatcher::Create(
    Embedder* embedder, const BatcherOptions& options, BatcherObserver* observer) {
  if (embedder == nullptr) return absl::InvalidArgumentError("embedder: null");
  absl::Status status = ValidateBatcherOptions(options);
  if (!status.ok()) return status;
  return std::unique_ptr<DynamicBatcher>(new DynamicBatcher(embedder, options, observer));
}

DynamicBatcher::DynamicBatcher(Embedder* embedder, const BatcherOptions& options,
                               BatcherObserver* observer)
    : embedder_(embedder), options_(options), observer_(observer) {
  worker_ = std::thread([this] { WorkerLoop(); });
}

DynamicBatcher::~DynamicBatcher() { Shutdown(); }

absl::Status DynamicBatcher::Enqueue(std::vector<Item> items, absl::Time deadline) {
  absl::Status refused;
  absl::string_view reason;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    refused = AdmitLocked(items.size(), deadline, now, &reason);
    if (refused.ok()) {
      for (Item& item : items) {
        item.enqueued = now;
        queue_.push_back(std::move(item));
      }
      if (observer_ != nullptr) observer_->OnQueueLength(static_cast<int64_t>(queue_.size()));
      return absl::OkStatus();
    }
  }
  // Outside the lock: the observer may take its own locks.
  if (observer_ != nullptr && !reason.empty()) {
    observer_->OnRefused(reason, static_cast<int>(items.size()));
  }
  return refused;
}

void DynamicBatcher::Submit(Sketch sketch, CallContext context, Callback done) {
  const absl::Time deadline = context.deadline;
  std::vector<Item> items;
  items.push_back(Item{std::move(sketch), std::move(context), done, absl::Time()});
  const absl::Status refused = Enqueue(std::move(items), deadline);
  if (!refused.ok()) done(refused);  // outside the lock: the callback may take its own locks
}

absl::Duration DynamicBatcher::SecondsPerDrawing() const {
  absl::MutexLock lock(&mu_);
  return per_drawing_;
}

absl::Status DynamicBatcher::AdmitLocked(size_t n, absl::Time deadline, absl::Time now,
                                         absl::string_view* reason) const {
  if (shutting_down_) return absl::UnavailableError("the server is shutting down");
  if (now >= deadline) return absl::DeadlineExceededError("the call's deadline has passed");
  const size_t capacity = static_cast<size_t>(options_.max_queue_size);
  if (queue_.size() + n > capacity) {
    *reason = "queue_full";
    return absl::ResourceExhaustedError(absl::StrCat("the model queue is full: ", queue_.size(),
                                                     " drawings queued, ", n, " more asked, ",
                                                     capacity, " at most"));
  }
  // Before any batch has run nothing is known about the rate: admit.
  const absl::Duration wait = per_drawing_ * static_cast<double>(queue_.size() + n);
  if (wait > options_.max_queue_wait) {
    *reason = "queue_wait";
    return absl::ResourceExhaustedError(
        absl::StrCat("the server is overloaded: the ", n, " drawing(s) would be done in about ",
                     absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(1))),
                     ", over its limit of ", absl::FormatDuration(options_.max_queue_wait)));
  }
  if (now + wait > deadline) {
    *reason = "deadline";
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server is too busy to answer before the call's deadline: about ",
        absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(1))), " of model work ahead"));
  }
  return absl::OkStatus();
}

void DynamicBatcher::SubmitAll(std::vector<Sketch> sketches, CallContext context,
                               AllCallback done) {
  if (sketches.empty()) {
    done(std::vector<Embedding>());
    return;
  }
  const size_t n = sketches.size();
  auto gather = std::make_shared<Gather>(n, std::move(done));
  auto finish_one = [gather](size_t i, absl::StatusOr<Embedding> result) {
    {
      absl::MutexLock lock(&gather->mu);
      gather->results[i] = std::move(result);
      if (--gather->remaining > 0) return;
    }
    // The last one: no other callback touches the results any more.
    std::vector<Embedding> embeddings;
    embeddings.reserve(gather->results.size());
    for (auto& r : gather->results) {
      if (!r.ok()) {
        gather->done(r.status());
        return;
      }
      embeddings.push_back(*std::move(r));
    }
    gather->done(std::move(embeddings));
  };
  std::vector<Item> items;
  items.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    items.push_back(Item{
        std::move(sketches[i]), context,
        [finish_one, i](absl::StatusOr<Embedding> result) { finish_one(i, std::move(result)); },
        absl::Time()});
  }
  const absl::Status refused = Enqueue(std::move(items), context.deadline);
  // Outside the lock: the callback may take its own locks. Nothing of the call was queued.
  if (!refused.ok()) gather->done(refused);
}

absl::StatusOr<std::vector<Embedding>> DynamicBatcher::EmbedAll(std::vector<Sketch> sketches,
                                                                const CallContext& context) {
  return AwaitResult<std::vector<Embedding>>(
      [&](AllCallback done) { SubmitAll(std::move(sketches), context, std::move(done)); });
}

void DynamicBatcher::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
  }
  absl::MutexLock join_lock(&join_mu_);
  if (worker_.joinable()) worker_.join();
}

bool DynamicBatcher::HasWorkLocked() const { return !queue_.empty() || shutting_down_; }

bool DynamicBatcher::BatchReadyLocked() const {
  return queue_.size() >= static_cast<size_t>(options_.max_batch_size) || shutting_down_;
}

void DynamicBatcher::WorkerLoop() {
  std::vector<Item> batch;
  while (TakeBatch(&batch)) RunBatch(&batch);
}

bool DynamicBatcher::TakeBatch(std::vector<Item>* batch) {
  batch->clear();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &DynamicBatcher::HasWorkLocked));
  if (queue_.empty()) return false;  // shutting down and drained
  if (options_.max_batch_size > 1) {
    // Wait for the batch to fill, but never keep the oldest request beyond its delay budget.
    mu_.AwaitWithDeadline(absl::Condition(this, &DynamicBatcher::BatchReadyLocked),
                          queue_.front().enqueued + options_.max_queue_delay);
  }
  const size_t n = std::min(queue_.size(), static_cast<size_t>(options_.max_batch_size));
  for (size_t i = 0; i < n; ++i) {
    batch->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  if (observer_ != nullptr) observer_->OnQueueLength(static_cast<int64_t>(queue_.size()));
  return true;
}

void DynamicBatcher::RunBatch(std::vector<Item>* batch) {
  const absl::Time now = absl::Now();
  std::vector<Item*> live;
  for (Item& item : *batch) {
    if (observer_ != nullptr) observer_->OnDequeue(now - item.enqueued);
    absl::Status status = item.context.Check(now);
    if (!status.ok()) {
      if (observer_ != nullptr) observer_->OnSkipped(status.code());
      item.done(std::move(status));
    } else {
      live.push_back(&item);
    }
  }
  if (live.empty()) return;

  std::vector<const Sketch*> sketches;
  sketches.reserve(live.size());
  for (Item* item : live) sketches.push_back(&item->sketch);
  const absl::Time start = absl::Now();
  absl::StatusOr<EmbedResult> result = embedder_->EmbedBatch(sketches);
  if (result.ok()) {
    absl::Status shape = CheckEmbedResult(*result, live.size(), *embedder_);
    if (!shape.ok()) result = shape;
  }
  const absl::Duration compute = absl::Now() - start;
  if (observer_ != nullptr) observer_->OnBatch(static_cast<int>(live.size()), compute);
  if (result.ok()) {
    // What admission estimates waits with. Small batches (light load) cost more per drawing, so
    // the estimate errs on the long side exactly when the queue is short.
    const absl::Duration per_drawing = compute / static_cast<double>(live.size());
    absl::MutexLock lock(&mu_);
    per_drawing_ =
        per_drawing_ == absl::ZeroDuration() ? per_drawing : 0.8 * per_drawing_ + 0.2 * per_drawing;
  }
  for (size_t i = 0; i < live.size(); ++i) {
    if (result.ok()) {
      live[i]->done(std::move(result->embeddings[i]));
    } else {
      live[i]->done(result.status());
    }
  }
}

}  // namespace sketch
