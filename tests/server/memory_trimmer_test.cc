#include "server/memory_trimmer.h"

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/process_memory.h"

namespace sketch {
namespace {

double RssMb() { return testing::ProcessStatusMb(0, "VmRSS"); }

// 160 MB in 64 KiB heap blocks (below glibc's mmap threshold), touched, then all freed but the
// last one, which pins the top of the heap: free() alone gives nothing back.
std::vector<char*> FillHeap() {
  std::vector<char*> blocks;
  for (int i = 0; i < 2560; ++i) {
    char* block = new char[64 << 10];
    std::memset(block, 1, 64 << 10);
    blocks.push_back(block);
  }
  return blocks;
}

void FreeAllButLast(std::vector<char*>* blocks) {
  for (size_t i = 0; i + 1 < blocks->size(); ++i) delete[](*blocks)[i];
}

TEST(MemoryTrimmerTest, TrimNowGivesFreedHeapMemoryBack) {
  std::vector<char*> blocks = FillHeap();
  FreeAllButLast(&blocks);
  const double before = RssMb();
  MemoryTrimmer::TrimNow();
  const double after = RssMb();
  delete[] blocks.back();
  EXPECT_GT(before - after, 100) << "RSS " << before << " MB -> " << after << " MB";
}

TEST(MemoryTrimmerTest, TheThreadTrimsEveryInterval) {
  MemoryTrimmer trimmer(absl::Milliseconds(50));
  std::vector<char*> blocks = FillHeap();
  FreeAllButLast(&blocks);
  const double before = RssMb();
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up && before - RssMb() < 100) absl::SleepFor(absl::Milliseconds(20));
  const double after = RssMb();
  delete[] blocks.back();
  EXPECT_GT(before - after, 100) << "RSS " << before << " MB -> " << after << " MB";
}

TEST(MemoryTrimmerTest, NonPositiveIntervalStartsNoThread) {
  MemoryTrimmer off(absl::ZeroDuration());  // constructs and destroys without a thread
  SUCCEED();
}

}  // namespace
}  // namespace sketch
