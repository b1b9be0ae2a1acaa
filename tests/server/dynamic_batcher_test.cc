#include "server/dynamic_batcher.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_fakes.h"

namespace sketch {
namespace {

using ::sketch::testing::FakeEmbedder;
using ::sketch::testing::MakeSketch;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<std::string> kClasses = {"cat", "dog", "fish"};

// Collects results of Submit calls and lets a test wait for them.
class Results {
 public:
  explicit Results(int n) : pending_(n), statuses_(n) {}
  DynamicBatcher::Callback At(int i) {
    return [this, i](absl::StatusOr<Embedding> result) {
      statuses_[i] = result.status();
      pending_.DecrementCount();
    };
  }
  void Wait() { pending_.Wait(); }
  const absl::Status& status(int i) const { return statuses_[i]; }

 private:
  absl::BlockingCounter pending_;
  std::vector<absl::Status> statuses_;
};

class CountingObserver : public BatcherObserver {
 public:
  void OnQueueLength(int64_t length) override {
    max_length = std::max<int64_t>(max_length, length);
  }
  void OnDequeue(absl::Duration) override { ++dequeued; }
  void OnSkipped(absl::StatusCode code) override {
    ++skipped;
    last_skip = code;
  }
  void OnBatch(int size, absl::Duration) override { batched += size; }
  void OnRefused(absl::string_view reason, int drawings) override {
    absl::MutexLock lock(&mu);
    refused.push_back(absl::StrCat(reason, ":", drawings));
  }
  std::vector<std::string> Refused() {
    absl::MutexLock lock(&mu);
    return refused;
  }
  absl::Mutex mu;
  std::vector<std::string> refused;
  std::atomic<int> dequeued{0}, skipped{0}, batched{0};
  std::atomic<int64_t> max_length{0};  // set on the submitting and the worker thread
  std::atomic<absl::StatusCode> last_skip{absl::StatusCode::kOk};
};

std::unique_ptr<DynamicBatcher> MakeBatcher(Embedder* embedder, int max_batch, absl::Duration delay,
                                            BatcherObserver* observer = nullptr,
                                            int max_queue = 4096) {
  BatcherOptions options;
  options.max_batch_size = max_batch;
  options.max_queue_delay = delay;
  options.max_queue_size = max_queue;
  auto batcher = DynamicBatcher::Create(embedder, options, observer);
  EXPECT_TRUE(batcher.ok()) << batcher.status();
  return *std::move(batcher);
}

TEST(BatcherOptionsTest, RejectsOutOfRangeValues) {
  BatcherOptions options;
  EXPECT_TRUE(ValidateBatcherOptions(options).ok());
  options.max_batch_size = 0;
  EXPECT_THAT(ValidateBatcherOptions(options).message(), HasSubstr("max_batch_size"));
  options = {};
  options.max_queue_delay = absl::Seconds(5);
  EXPECT_THAT(ValidateBatcherOptions(options).message(), HasSubstr("max_queue_delay"));
  options = {};
  options.max_queue_size = 0;
  EXPECT_EQ(ValidateBatcherOptions(options).code(), absl::StatusCode::kInvalidArgument);
  options = {};
  options.max_queue_wait = absl::ZeroDuration();
  EXPECT_THAT(ValidateBatcherOptions(options).message(), HasSubstr("max_queue_wait"));
  FakeEmbedder embedder(kClasses, 8);
  EXPECT_FALSE(DynamicBatcher::Create(nullptr, {}, nullptr).ok());
}

TEST(DynamicBatcherTest, EmbedsOneRequest) {
  FakeEmbedder embedder(kClasses, 8);
  auto batcher = MakeBatcher(&embedder, 4, absl::Milliseconds(1));
  std::vector<Sketch> sketches = {MakeSketch(7, "dog")};
  auto result = batcher->EmbedAll(std::move(sketches), {});
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->size(), 1u);
  EXPECT_EQ((*result)[0].feature.size(), 8u);
  EXPECT_FLOAT_EQ((*result)[0].probabilities[1], 4.0f / 6);
}

TEST(DynamicBatcherTest, ConcurrentRequestsFormBatches) {
  FakeEmbedder embedder(kClasses, 8);
  absl::Notification gate;
  embedder.set_gate(&gate);
  // No delay: the first request runs alone and holds the worker while eight more queue up.
  auto batcher = MakeBatcher(&embedder, 8, absl::ZeroDuration());
  Results results(9);
  batcher->Submit(MakeSketch(0, "cat"), {}, results.At(0));
  embedder.entered().WaitForNotification();
  std::vector<std::thread> threads;
  for (int i = 1; i <= 8; ++i) {
    threads.emplace_back([&, i] { batcher->Submit(MakeSketch(i, "cat"), {}, results.At(i)); });
  }
  for (auto& t : threads) t.join();
  gate.Notify();
  results.Wait();
  for (int i = 0; i < 9; ++i) EXPECT_TRUE(results.status(i).ok()) << results.status(i);
  EXPECT_THAT(embedder.batch_sizes(), ElementsAre(1, 8));
}

TEST(DynamicBatcherTest, BatchSizeOneTurnsBatchingOff) {
  FakeEmbedder embedder(kClasses, 8);
  auto batcher = MakeBatcher(&embedder, 1, absl::Seconds(1));
  std::vector<Sketch> sketches;
  for (int i = 0; i < 5; ++i) sketches.push_back(MakeSketch(i, "cat"));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(batcher->EmbedAll(std::move(sketches), {}).ok());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(900));  // never waits for company
  EXPECT_THAT(embedder.batch_sizes(), ElementsAre(1, 1, 1, 1, 1));
}

TEST(DynamicBatcherTest, LoneRequestWaitsAtMostTheQueueDelay) {
  FakeEmbedder embedder(kClasses, 8);
  auto batcher = MakeBatcher(&embedder, 8, absl::Milliseconds(50));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(batcher->EmbedAll({MakeSketch(1, "cat")}, {}).ok());
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(45));
  EXPECT_LT(took, absl::Seconds(2));
}

TEST(DynamicBatcherTest, FullBatchRunsWithoutWaitingForTheDelay) {
  FakeEmbedder embedder(kClasses, 8);
  auto batcher = MakeBatcher(&embedder, 4, absl::Seconds(1));
  std::vector<Sketch> sketches;
  for (int i = 0; i < 4; ++i) sketches.push_back(MakeSketch(i, "cat"));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(batcher->EmbedAll(std::move(sketches), {}).ok());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(900));
  EXPECT_THAT(embedder.batch_sizes(), ElementsAre(4));
}

TEST(DynamicBatcherTest, SkipsExpiredAndCancelledRequests) {
  FakeEmbedder embedder(kClasses, 8);
  absl::Notification gate;
  embedder.set_gate(&gate);
  CountingObserver observer;
  auto batcher = MakeBatcher(&embedder, 8, absl::ZeroDuration(), &observer);
  Results results(4);
  batcher->Submit(MakeSketch(0, "cat"), {}, results.At(0));
  embedder.entered().WaitForNotification();
  CallContext expired;
  expired.deadline = absl::Now() + absl::Milliseconds(1);
  CallContext cancelled;
  cancelled.is_cancelled = [] { return true; };
  batcher->Submit(MakeSketch(1, "cat"), expired, results.At(1));
  batcher->Submit(MakeSketch(2, "cat"), cancelled, results.At(2));
  batcher->Submit(MakeSketch(3, "cat"), {}, results.At(3));
  absl::SleepFor(absl::Milliseconds(5));  // let `expired` expire while queued
  gate.Notify();
  results.Wait();
  EXPECT_TRUE(results.status(0).ok());
  EXPECT_EQ(results.status(1).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(results.status(2).code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(results.status(3).ok());
  // The model never saw the two dead requests.
  EXPECT_THAT(embedder.seen_key_ids(), ElementsAre(0, 3));
  EXPECT_EQ(observer.dequeued, 4);
  EXPECT_EQ(observer.max_length, 3);  // 1, 2 and 3 waited while the model held 0
  EXPECT_EQ(observer.skipped, 2);
  EXPECT_EQ(observer.batched, 2);
}

TEST(DynamicBatcherTest, SubmitAllCallsBackOnceWithEveryEmbeddingInOrder) {
  FakeEmbedder embedder(kClasses, 8);
  auto batcher = MakeBatcher(&embedder, 2, absl::Milliseconds(1));
  absl::Notification done;
  std::atomic<int> calls{0};
  absl::StatusOr<std::vector<Embedding>> got;
  batcher->SubmitAll({MakeSketch(1, "fish"), MakeSketch(2, "cat"), MakeSketch(3, "dog")}, {},
                     [&](absl::StatusOr<std::vector<Embedding>> result) {
                       got = std::move(result);
                       if (++calls == 1) done.Notify();
                     });
  done.WaitForNotification();
  batcher->Shutdown();
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 3u);
  // FakeEmbedder puts the word's class first: the order of the answers is the order asked.
  EXPECT_EQ(std::max_element((*got)[0].probabilities.begin(), (*got)[0].probabilities.end()) -
                (*got)[0].probabilities.begin(),
            2);
  EXPECT_EQ(std::max_element((*got)[1].probabilities.begin(), (*got)[1].probabilities.end()) -
                (*got)[1].probabilities.begin(),
            0);
  // Nothing to embed: answered at once.
  bool empty_answered = false;
  batcher->SubmitAll({}, {}, [&](absl::StatusOr<std::vector<Embedding>> result) {
    empty_answered = result.ok() && result->empty();
  });
  EXPECT_TRUE(empty_answered);
}

TEST(DynamicBatcherTest, SubmitAllHoldsNoThreadWhileItWaits) {
  // Many calls queue behind a model that is busy, from a single thread that never blocks: each
  // is a queued item, not a waiting thread. Once the model is free they run in full batches.
  FakeEmbedder embedder(kClasses, 8);
  absl::Notification gate;
  embedder.set_gate(&gate);
  auto batcher = MakeBatcher(&embedder, 50, absl::Milliseconds(1));
  constexpr int kCalls = 101;
  absl::BlockingCounter pending(kCalls);
  std::atomic<int> ok{0};
  for (int i = 0; i < kCalls; ++i) {
    batcher->SubmitAll({MakeSketch(i, "cat")}, {},
                       [&](absl::StatusOr<std::vector<Embedding>> result) {
                         if (result.ok()) ++ok;
                         pending.DecrementCount();
                       });
    if (i == 0) embedder.entered().WaitForNotification();  // the model holds the first one
  }
  gate.Notify();
  pending.Wait();
  EXPECT_EQ(ok, kCalls);
  EXPECT_THAT(embedder.batch_sizes(), ElementsAre(1, 50, 50));
}

TEST(DynamicBatcherTest, RequestsThatExpireInTheQueueAreAnsweredWithoutTheModel) {
  FakeEmbedder embedder(kClasses, 8);
  absl::Notification gate;
  embedder.set_gate(&gate);
  auto batcher = MakeBatcher(&embedder, 8, absl::ZeroDuration());
  Results first(1);
  batcher->Submit(MakeSketch(1, "cat"), {}, first.At(0));
  embedder.entered().WaitForNotification();
  std::atomic<int> cancel_checks{0};
  CallContext context;
  context.deadline = absl::Now() + absl::Milliseconds(20);
  context.is_cancelled = [&] {
    ++cancel_checks;
    return false;
  };
  // Blocks until the request has left the queue: free the model after its deadline.
  std::thread release([&] {
    absl::SleepFor(absl::Milliseconds(60));
    gate.Notify();
  });
  auto result = batcher->EmbedAll({MakeSketch(2, "cat"), MakeSketch(3, "cat")}, context);
  release.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  first.Wait();
  batcher->Shutdown();
  // Past the deadline the cancellation is not even asked about; the model saw only the first.
  EXPECT_EQ(cancel_checks, 0);
  EXPECT_THAT(embedder.seen_key_ids(), ElementsAre(1));
}

TEST(DynamicBatcherTest, ShutdownDrainsQueuedRequestsThenRefuses) {
  FakeEmbedder embedder(kClasses, 8);
  absl::Notification gate;
  embedder.set_gate(&gate);
  auto batcher = MakeBatcher(&embedder, 4, absl::Seconds(1));
  Results results(7);
  for (int i = 0; i < 6; ++i) batcher->Submit(MakeSketch(i, "cat"), {}, results.At(i));
  embedder.entered().WaitForNotification();
  std::thread shutdown([&] { batcher->Shutdown(); });
  absl::SleepFor(absl::Milliseconds(20));
  gate.Notify();
  shutdown.join();
  batcher->Submit(MakeSketch(6, "cat"), {}, results.At(6));
  results.Wait();
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(results.status(i).ok()) << i << results.status(i);
  EXPECT_EQ(results.status(6).code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(embedder.batch_sizes(), ElementsAre(4, 2));
  batcher->Shutdown();  // idempotent
}

TEST(DynamicBatcherTest, FullQueueRefusesWithResourceExhausted) {
  FakeEmbedder embedder(kClasses, 8);
  absl::Notification gate;
  embedder.set_gate(&gate);
  auto batcher = MakeBatcher(&embedder, 1, absl::ZeroDuration(), nullptr, /*max_queue=*/2);
  Results results(4);
  batcher->Submit(MakeSketch(0, "cat"), {}, results.At(0));
  embedder.entered().WaitForNotification();
  batcher->Submit(MakeSketch(1, "cat"), {}, results.At(1));
  batcher->Submit(MakeSketch(2, "cat"), {}, results.At(2));
  batcher->Submit(MakeSketch(3, "cat"), {}, results.At(3));
  EXPECT_EQ(results.status(3).code(), absl::StatusCode::kResourceExhausted);
  gate.Notify();
  results.Wait();
  EXPECT_TRUE(results.status(1).ok());
}

TEST(DynamicBatcherTest, AdmitsACallWholeOrNotAtAll) {
  FakeEmbedder embedder(kClasses, 8);
  absl::Notification gate;
  embedder.set_gate(&gate);
  CountingObserver observer;
  auto batcher = MakeBatcher(&embedder, 1, absl::ZeroDuration(), &observer, /*max_queue=*/4);
  Results first(1);
  batcher->Submit(MakeSketch(0, "cat"), {}, first.At(0));
  embedder.entered().WaitForNotification();  // the model holds it; the queue is empty
  // Three drawings fit in the queue of four; a second call of two does not, and none of its
  // drawings is queued, so a later call of one still fits.
  absl::BlockingCounter pending(2);
  absl::Status fits, refused, still_fits;
  batcher->SubmitAll({MakeSketch(1, "cat"), MakeSketch(2, "cat"), MakeSketch(3, "cat")}, {},
                     [&](absl::StatusOr<std::vector<Embedding>> r) {
                       fits = r.status();
                       pending.DecrementCount();
                     });
  batcher->SubmitAll({MakeSketch(4, "cat"), MakeSketch(5, "cat")}, {},
                     [&](absl::StatusOr<std::vector<Embedding>> r) { refused = r.status(); });
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("3 drawings queued, 2 more asked, 4 at most"));
  batcher->SubmitAll({MakeSketch(6, "cat")}, {}, [&](absl::StatusOr<std::vector<Embedding>> r) {
    still_fits = r.status();
    pending.DecrementCount();
  });
  gate.Notify();
  pending.Wait();
  first.Wait();
  EXPECT_TRUE(fits.ok()) << fits;
  EXPECT_TRUE(still_fits.ok()) << still_fits;
  EXPECT_THAT(embedder.seen_key_ids(), ElementsAre(0, 1, 2, 3, 6));
  EXPECT_THAT(observer.Refused(), ElementsAre("queue_full:2"));
}

TEST(DynamicBatcherTest, TurnsAwayCallsWhoseEstimatedWaitIsTooLong) {
  // A model that takes ~20 ms per drawing, measured on the first batch.
  FakeEmbedder embedder(kClasses, 8);
  embedder.set_delay(absl::Milliseconds(20));
  CountingObserver observer;
  BatcherOptions options;
  options.max_batch_size = 1;
  options.max_queue_delay = absl::ZeroDuration();
  options.max_queue_wait = absl::Milliseconds(100);
  auto batcher = *DynamicBatcher::Create(&embedder, options, &observer);
  ASSERT_TRUE(batcher->EmbedAll({MakeSketch(0, "cat")}, {}).ok());
  EXPECT_GE(batcher->SecondsPerDrawing(), absl::Milliseconds(15));
  // Ten drawings: ~200 ms of work, over the server's 100 ms: refused at once, nothing queued.
  std::vector<Sketch> ten;
  for (int i = 1; i <= 10; ++i) ten.push_back(MakeSketch(i, "cat"));
  const absl::Time start = absl::Now();
  auto too_long = batcher->EmbedAll(ten, {});
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(15));
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(too_long.status().message(), HasSubstr("over its limit of 100ms"));
  // Two drawings fit the server's limit but not a 10 ms deadline.
  CallContext hurried;
  hurried.deadline = absl::Now() + absl::Milliseconds(10);
  auto late = batcher->EmbedAll({MakeSketch(11, "cat"), MakeSketch(12, "cat")}, hurried);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(late.status().message(), HasSubstr("before the call's deadline"));
  // Within both: admitted and run.
  EXPECT_TRUE(batcher->EmbedAll({MakeSketch(13, "cat"), MakeSketch(14, "cat")}, {}).ok());
  EXPECT_THAT(embedder.seen_key_ids(), ElementsAre(0, 13, 14));
  EXPECT_THAT(observer.Refused(), ElementsAre("queue_wait:10", "deadline:2"));
}

TEST(DynamicBatcherTest, EmbedderErrorsReachEveryRequestOfTheBatch) {
  FakeEmbedder embedder(kClasses, 8);
  embedder.set_fail_with(absl::InternalError("model exploded"));
  auto batcher = MakeBatcher(&embedder, 4, absl::Milliseconds(1));
  auto result = batcher->EmbedAll({MakeSketch(1, "cat"), MakeSketch(2, "dog")}, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(result.status().message(), HasSubstr("model exploded"));
}

TEST(DynamicBatcherTest, MalformedEmbedderOutputIsInternal) {
  FakeEmbedder embedder(kClasses, 8);
  embedder.set_malformed(true);
  auto batcher = MakeBatcher(&embedder, 4, absl::Milliseconds(1));
  auto result = batcher->EmbedAll({MakeSketch(1, "cat")}, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(result.status().message(), HasSubstr("0 embeddings for a batch of 1"));
}

}  // namespace
}  // namespace sketch
