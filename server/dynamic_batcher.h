// DynamicBatcher: gathers concurrent single-drawing requests into batches for the one model
// worker, so a CPU model runs a few large forward passes instead of many small ones.
//
// Thread policy (deliberate): exactly one worker thread calls Embedder::EmbedBatch, and the model
// uses all cores through its intra-op thread pool. N request threads each running the model with
// all cores would oversubscribe the CPU (N x cores threads fighting for cores), and a batch of B
// drawings costs far less than B single ones because the convolutions become larger GEMMs.
// Request threads only queue work and wait; the index search after embedding runs on them.
#ifndef SKETCH_SERVER_DYNAMIC_BATCHER_H_
#define SKETCH_SERVER_DYNAMIC_BATCHER_H_

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/sketch.h"
#include "server/call_context.h"
#include "server/embedder.h"

namespace sketch {

struct BatcherOptions {
  // Largest batch handed to the embedder; 1 turns batching off (every request runs alone, at
  // once). 1..4096.
  int max_batch_size = 32;
  // How long the oldest queued request may wait for others to fill its batch. Adds at most this
  // much latency under light load; under heavy load batches fill before it expires. 0..1 s.
  absl::Duration max_queue_delay = absl::Microseconds(2000);
  // Requests queued beyond this are refused with ResourceExhausted (back-pressure instead of an
  // unbounded queue whose requests would all time out). >= 1.
  int max_queue_size = 4096;
  // The queue is also bounded by time: a call whose drawings would wait longer than this before
  // the model is done with them, estimated from the model's measured rate, is refused at once
  // with ResourceExhausted, and so is one whose estimated wait passes its own deadline: under
  // overload callers learn it immediately instead of timing out later. Positive.
  absl::Duration max_queue_wait = absl::Seconds(10);
};

// InvalidArgument naming the field when an option is out of its range.
absl::Status ValidateBatcherOptions(const BatcherOptions& options);

// Receives what the batcher does, for metrics. Called on the worker thread; must be cheap and
// thread-safe.
class BatcherObserver {
 public:
  virtual ~BatcherObserver() = default;
  // The queue now holds `length` requests (after each enqueue, and after each batch is taken).
  virtual void OnQueueLength(int64_t length) = 0;
  // A request left the queue after `queue_time` (whether it then ran or was skipped).
  virtual void OnDequeue(absl::Duration queue_time) = 0;
  // A request was dropped without running: `code` is DeadlineExceeded or Cancelled.
  virtual void OnSkipped(absl::StatusCode code) = 0;
  // A call of `drawings` drawings was turned away whole at admission: `reason` is "queue_full"
  // (max_queue_size), "queue_wait" (max_queue_wait) or "deadline" (its own deadline).
  virtual void OnRefused(absl::string_view reason, int drawings) = 0;
  // A batch of `size` requests ran through the embedder in `compute_time`.
  virtual void OnBatch(int size, absl::Duration compute_time) = 0;
};

class DynamicBatcher {
 public:
  // Receives the result of one request, exactly once.
  using Callback = std::function<void(absl::StatusOr<Embedding>)>;

  // Starts the worker thread. `embedder` (and `observer`, which may be null) must outlive the
  // batcher. InvalidArgument for bad options.
  static absl::StatusOr<std::unique_ptr<DynamicBatcher>> Create(Embedder* embedder,
                                                                const BatcherOptions& options,
                                                                BatcherObserver* observer);
  // Shutdown(), then joins the worker.
  ~DynamicBatcher();

  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Queues `sketch` (valid; simplified frame or bitmap, see Embedder::EmbedBatch). `done` gets
  // the embedding, or: DeadlineExceeded / Cancelled when `context` expired before its batch ran
  // (the model never sees it), the embedder's error, Internal when the embedder returned
  // malformed output. `done` runs on the worker thread and must be quick (hand the result over,
  // do not compute); it runs inline, before Submit returns, with Unavailable after Shutdown and
  // ResourceExhausted when the queue is full. `context.is_cancelled` must stay callable until
  // `done` has run. Thread-safe.
  void Submit(Sketch sketch, CallContext context, Callback done);

  // Receives the results of a SubmitAll, exactly once.
  using AllCallback = std::function<void(absl::StatusOr<std::vector<Embedding>>)>;

  // Admits the call whole or not at all: Unavailable after Shutdown, DeadlineExceeded when the
  // context's deadline has already passed, ResourceExhausted when its
  // sketches do not all fit in the queue, or when their estimated wait (the queue ahead and
  // themselves, at the model's measured seconds per drawing) exceeds max_queue_wait or passes
  // the context's deadline; then `done` gets the error inline and nothing was queued. Otherwise
  // queues every sketch (as Submit does, sharing `context`) and calls `done` once all of them
  // have completed: with the embeddings in input order, or the first error in input order. Each
  // sketch completes by running, by being skipped when it leaves the queue (deadline passed or
  // call cancelled: the model never sees it) or by being refused, so `done` always runs, once
  // the last of them has left the queue. `done` runs on the worker thread (or inline, when every
  // sketch was refused) and must be quick; `context.is_cancelled` is never called after `done` has
  // run (it may point into a call that ends there). A call that waits here holds no thread.
  // Thread-safe.
  void SubmitAll(std::vector<Sketch> sketches, CallContext context, AllCallback done);

  // SubmitAll, blocking the calling thread until `done` would run (tools and tests; the service
  // uses SubmitAll). Thread-safe.
  absl::StatusOr<std::vector<Embedding>> EmbedAll(std::vector<Sketch> sketches,
                                                  const CallContext& context);

  // Refuses new requests (Unavailable), lets the worker run everything already queued without
  // waiting for batches to fill, and joins it. Idempotent; thread-safe.
  void Shutdown();

  const BatcherOptions& options() const { return options_; }

  // The model's measured seconds per drawing (a moving average over recent batches), or zero
  // before the first batch has run. Thread-safe.
  absl::Duration SecondsPerDrawing() const;

 private:
  struct Item {
    Sketch sketch;
    CallContext context;
    Callback done;
    absl::Time enqueued;
  };

  DynamicBatcher(Embedder* embedder, const BatcherOptions& options, BatcherObserver* observer);

  void WorkerLoop();
  // Waits for work and takes the next batch (up to max_batch_size items) into `batch`.
  // False when shut down with nothing left to do.
  bool TakeBatch(std::vector<Item>* batch);
  void RunBatch(std::vector<Item>* batch);

  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK, or why a call of `n` drawings with `deadline` is not admitted now (see SubmitAll); sets
  // `*reason` for the observer.
  // Admits `items` whole (AdmitLocked) and queues them, stamped with the time; otherwise tells
  // the observer and returns why, with nothing queued. The one way into the queue.
  absl::Status Enqueue(std::vector<Item> items, absl::Time deadline);
  absl::Status AdmitLocked(size_t n, absl::Time deadline, absl::Time now,
                           absl::string_view* reason) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool BatchReadyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Embedder* const embedder_;
  const BatcherOptions options_;
  BatcherObserver* const observer_;

  mutable absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // Moving average of a batch's compute time per drawing; zero until the first batch.
  absl::Duration per_drawing_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();

  absl::Mutex join_mu_;  // serializes Shutdown's join
  std::thread worker_;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_DYNAMIC_BATCHER_H_
