// ThreadPool: a fixed set of threads running queued tasks in FIFO order — where the service does
// the work that follows a model run (index search, building the answer), so neither the model's
// batcher worker nor gRPC's event threads do it.
#ifndef SKETCH_SERVER_THREAD_POOL_H_
#define SKETCH_SERVER_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sketch {

class ThreadPool {
 public:
  // Starts `num_threads` threads; values below 1 start one.
  explicit ThreadPool(int num_threads);
  // Shutdown().
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs `task` on a pool thread, after every task scheduled before it has started. After
  // Shutdown has begun the task runs inline on the caller, so no task is ever dropped.
  // Thread-safe.
  void Schedule(std::function<void()> task);

  // Runs every task already queued, then joins the threads. Idempotent; thread-safe; must not
  // be called from a pool thread.
  void Shutdown();

  int num_threads() const { return static_cast<int>(threads_.size()); }

 private:
  void WorkerLoop();
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex join_mu_;  // serializes Shutdown's joins
  std::vector<std::thread> threads_;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_THREAD_POOL_H_
