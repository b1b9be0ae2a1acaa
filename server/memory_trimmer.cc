#include "server/memory_trimmer.h"

#include <malloc.h>

namespace sketch {

MemoryTrimmer::MemoryTrimmer(absl::Duration interval) {
  if (interval <= absl::ZeroDuration()) return;
  thread_ = std::thread([this, interval] {
    while (!stop_.WaitForNotificationWithTimeout(interval)) TrimNow();
  });
}

MemoryTrimmer::~MemoryTrimmer() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void MemoryTrimmer::TrimNow() { malloc_trim(0); }

}  // namespace sketch
