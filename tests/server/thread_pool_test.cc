#include "server/thread_pool.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

using ::testing::ElementsAre;

TEST(ThreadPoolTest, RunsTasksOnItsThreadsConcurrently) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.num_threads(), 3);
  // Three tasks that each wait for the other two: they can only finish if all run at once.
  absl::Barrier arrived(3);
  absl::BlockingCounter finished(3);
  absl::Mutex mu;
  std::set<std::thread::id> threads;
  for (int i = 0; i < 3; ++i) {
    pool.Schedule([&] {
      {
        absl::MutexLock lock(&mu);
        threads.insert(std::this_thread::get_id());
      }
      arrived.Block();
      finished.DecrementCount();
    });
  }
  finished.Wait();
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST(ThreadPoolTest, OneThreadRunsTasksInOrder) {
  ThreadPool pool(1);
  std::vector<int> order;
  absl::Notification last;
  for (int i = 0; i < 5; ++i) {
    pool.Schedule([&, i] {
      order.push_back(i);  // one thread: no race
      if (i == 4) last.Notify();
    });
  }
  last.WaitForNotification();
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3, 4));
}

TEST(ThreadPoolTest, ShutdownRunsWhatIsQueuedAndLaterTasksRunInline) {
  ThreadPool pool(1);
  absl::Notification gate;
  std::atomic<int> ran{0};
  pool.Schedule([&] {
    gate.WaitForNotification();
    ++ran;
  });
  for (int i = 0; i < 10; ++i) pool.Schedule([&] { ++ran; });
  std::thread shutdown([&] { pool.Shutdown(); });
  gate.Notify();
  shutdown.join();
  EXPECT_EQ(ran, 11);
  // After Shutdown nothing is dropped: the task runs on the caller.
  std::thread::id where;
  pool.Schedule([&] { where = std::this_thread::get_id(); });
  EXPECT_EQ(where, std::this_thread::get_id());
  pool.Shutdown();  // idempotent
}

TEST(ThreadPoolTest, NonPositiveSizeStartsOneThread) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.num_threads(), 1);
  absl::Notification ran;
  pool.Schedule([&] { ran.Notify(); });
  ran.WaitForNotification();
}

}  // namespace
}  // namespace sketch
