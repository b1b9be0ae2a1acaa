// MemoryTrimmer: gives memory the process has freed back to the system now and then.
//
// The model runs faster when its large activations are reused from the heap instead of being
// mapped afresh for every batch, so the server keeps freed memory in the heap (models/
// torch_runtime.h, KeepLargeAllocationsInHeap: no mmap, no trimming). Without more, a burst of
// large requests would pin its peak for the life of the process. The trimmer calls glibc's
// malloc_trim(0) every `interval` on a thread of its own: the burst's memory goes back within one
// interval, and the model pays to fault its working set in again at most once per interval.
#ifndef SKETCH_SERVER_MEMORY_TRIMMER_H_
#define SKETCH_SERVER_MEMORY_TRIMMER_H_

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace sketch {

class MemoryTrimmer {
 public:
  // Starts the thread; an interval that is not positive starts nothing.
  explicit MemoryTrimmer(absl::Duration interval);
  // Stops and joins the thread.
  ~MemoryTrimmer();

  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  // Trims once, now, on the calling thread. Thread-safe.
  static void TrimNow();

 private:
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_MEMORY_TRIMMER_H_
