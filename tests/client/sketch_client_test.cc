#include "client/sketch_client.h"

#include <thread>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/drawing_convert.h"
#include "tests/client/fake_server.h"
#include "tests/client/flaky_server.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using ::sketch::testing::Flakiness;
using ::sketch::testing::FlakyServer;
using ::sketch::testing::QuickRetries;
using ::sketch::testing::Refuse;
using ::sketch::testing::ServeFakes;
using ::sketch::testing::StartFakeServer;
using ::sketch::testing::TestData;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<std::string> kClasses = {"cat", "eye"};

std::vector<Sketch> Indexed() {
  std::vector<Sketch> indexed;
  for (const std::string& c : kClasses) {
    std::vector<Sketch> all = ReadAll(TestData("simplified/" + c + ".ndjson"));
    indexed.insert(indexed.end(), all.begin(), all.begin() + 10);
  }
  return indexed;
}

TEST(RetryBackoffTest, DoublesUpToTheCapWithJitterInTheUpperHalf) {
  RetryOptions options;
  options.initial_backoff = absl::Milliseconds(100);
  options.max_backoff = absl::Seconds(1);
  options.multiplier = 2;
  EXPECT_EQ(RetryBackoff(options, 1, 1.0), absl::Milliseconds(100));
  EXPECT_EQ(RetryBackoff(options, 1, 0.0), absl::Milliseconds(50));
  EXPECT_EQ(RetryBackoff(options, 2, 1.0), absl::Milliseconds(200));
  EXPECT_EQ(RetryBackoff(options, 4, 0.5), absl::Milliseconds(600));  // 800 ms, 3/4 of it
  EXPECT_EQ(RetryBackoff(options, 5, 1.0), absl::Seconds(1));         // 1.6 s, capped
  EXPECT_EQ(RetryBackoff(options, 1000, 1.0), absl::Seconds(1));
  EXPECT_EQ(RetryBackoff(options, 1000, 0.0), absl::Milliseconds(500));
}

TEST(IsRetryableTest, UnavailableOverloadedOrCancelledByTheServer) {
  EXPECT_TRUE(IsRetryable(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(IsRetryable(absl::StatusCode::kResourceExhausted));
  EXPECT_TRUE(IsRetryable(absl::StatusCode::kCancelled));
  EXPECT_FALSE(IsRetryable(absl::StatusCode::kDeadlineExceeded));
  EXPECT_FALSE(IsRetryable(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(IsRetryable(absl::StatusCode::kInternal));
  EXPECT_FALSE(IsRetryable(absl::StatusCode::kFailedPrecondition));
}

// A fake server behind a FlakySketchSearch, reached over loopback TCP (a real client channel:
// MakeChannel) or in-process.
class SketchClientRetryTest : public ::testing::TestWithParam<bool /*loopback*/> {
 protected:
  void SetUp() override { backend_ = StartFakeServer(Indexed(), kClasses, 8, 10.0f); }

  // A client of a flaky front with `flakiness`.
  SketchClient Client(Flakiness flakiness, RetryOptions retry,
                      absl::Duration deadline = absl::Seconds(10)) {
    flaky_ = std::make_unique<FlakyServer>(backend_->InProcessChannel(), flakiness);
    channel_ = GetParam() ? MakeChannel(flaky_->address()) : flaky_->InProcessChannel();
    stub_ = v1::SketchSearch::NewStub(channel_);
    return SketchClient(stub_.get(), deadline, retry);
  }

  static v1::SearchBatchRequest Batch() {
    v1::SearchBatchRequest batch;
    const std::vector<Sketch> sketches = Indexed();
    for (size_t i = 0; i < 4; ++i) {
      v1::SearchRequest* request = batch.add_requests();
      *request->mutable_drawing() = SketchToDrawing(sketches[i * 5]);
      request->set_k(3);
    }
    return batch;
  }

  std::unique_ptr<SketchServer> backend_;
  std::unique_ptr<FlakyServer> flaky_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SketchSearch::Stub> stub_;
};

TEST_P(SketchClientRetryTest, ResendsUnavailableResourceExhaustedAndCancelledUntilAnswered) {
  for (grpc::StatusCode code : {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::RESOURCE_EXHAUSTED,
                                grpc::StatusCode::CANCELLED}) {
    SCOPED_TRACE(code);
    SketchClient client = Client(Refuse(3, code), QuickRetries(4));
    int retries = -1;
    auto answer = client.SearchBatch(Batch(), &retries);
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->responses_size(), 4);
    EXPECT_EQ(answer->responses(0).hits_size(), 3);
    EXPECT_EQ(retries, 3);
    EXPECT_EQ(flaky_->service().calls(), 4);
  }
}

TEST_P(SketchClientRetryTest, GivesUpAfterMaxRetriesWithTheServersCode) {
  for (grpc::StatusCode code :
       {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::RESOURCE_EXHAUSTED}) {
    SCOPED_TRACE(code);
    SketchClient client = Client(Refuse(-1, code), QuickRetries(2));
    int retries = -1;
    auto answer = client.SearchBatch(Batch(), &retries);
    EXPECT_EQ(static_cast<int>(answer.status().code()), static_cast<int>(code));
    EXPECT_THAT(answer.status().message(), HasSubstr("flaky: call 3 refused"));
    EXPECT_THAT(answer.status().message(), HasSubstr("(after 3 attempts of SearchBatch)"));
    EXPECT_EQ(retries, 2);
    EXPECT_EQ(flaky_->service().calls(), 3);
  }
}

TEST_P(SketchClientRetryTest, OtherErrorsAndZeroRetriesAreNotResent) {
  SketchClient client = Client(Refuse(-1, grpc::StatusCode::INTERNAL), QuickRetries(5));
  auto answer = client.SearchBatch(Batch());
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(answer.status().message(), "flaky: call 1 refused");
  EXPECT_EQ(flaky_->service().calls(), 1);

  SketchClient once = Client(Refuse(-1), QuickRetries(0));
  EXPECT_EQ(once.SearchBatch(Batch()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(flaky_->service().calls(), 1);
}

TEST_P(SketchClientRetryTest, TheDeadlineCoversEveryAttempt) {
  // Every attempt takes 150 ms to be refused: a 500 ms deadline leaves room for 3 or 4 of the
  // 21 allowed, never more time (each with its own deadline, they would take 3.5 s).
  SketchClient client = Client(Refuse(-1, grpc::StatusCode::UNAVAILABLE, absl::Milliseconds(150)),
                               QuickRetries(20), absl::Milliseconds(500));
  absl::Time start = absl::Now();
  auto answer = client.SearchBatch(Batch());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500 + 250));
  EXPECT_THAT(answer.status().code(),
              AnyOf(absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded));
  EXPECT_GE(flaky_->service().calls(), 2);
  EXPECT_LE(flaky_->service().calls(), 4);

  // A backoff that would end past the deadline is not waited for.
  RetryOptions slow = QuickRetries(2);
  slow.initial_backoff = slow.max_backoff = absl::Seconds(2);
  SketchClient impatient = Client(Refuse(-1), slow, absl::Milliseconds(500));
  start = absl::Now();
  answer = impatient.SearchBatch(Batch());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(400));
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(answer.status().message(),
              HasSubstr("(after 1 attempt of SearchBatch; another would pass its deadline)"));
  EXPECT_EQ(flaky_->service().calls(), 1);
}

INSTANTIATE_TEST_SUITE_P(Channels, SketchClientRetryTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Loopback" : "InProcess"; });

// A loopback port that nothing listens on (for now).
int FreePort() {
  auto probe = StartFakeServer({}, kClasses, 8, 0, /*serve=*/false, {}, "127.0.0.1:0");
  return probe->port();
}

TEST(SketchClientTest, AReSendWaitsForTheServerToComeBack) {
  // Nothing listens for 600 ms. The first attempt fails at once (UNAVAILABLE); the re-send, with
  // gRPC's wait_for_ready, is held until the channel connects rather than failing 1 or 2 more
  // times within a few ms.
  const int port = FreePort();
  auto stub = v1::SketchSearch::NewStub(MakeChannel("127.0.0.1:" + std::to_string(port)));
  SketchClient client(stub.get(), absl::Seconds(10), QuickRetries(2));
  std::unique_ptr<SketchServer> server;
  std::thread replica([&] {
    absl::SleepFor(absl::Milliseconds(600));
    server = StartFakeServer(Indexed(), kClasses, 8, 0, /*serve=*/true, {},
                             "127.0.0.1:" + std::to_string(port));
  });
  int retries = -1;
  const absl::StatusOr<v1::GetInfoResponse> info = client.GetInfo(&retries);
  replica.join();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->index_size(), 20);
  EXPECT_EQ(retries, 1);

  // Down for good: the re-send waits until the deadline, and the error keeps the first cause.
  SketchClient impatient(stub.get(), absl::Milliseconds(300), QuickRetries(2));
  server.reset();
  const absl::Status down = impatient.GetInfo().status();
  EXPECT_EQ(down.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(down.message(), HasSubstr("(after 2 attempts of GetInfo; the first failed with "
                                        "UNAVAILABLE: "));
}

TEST(WaitUntilServingTest, WaitsForAReplicaToListenThenLoad) {
  const int port = FreePort();
  auto channel = MakeChannel("127.0.0.1:" + std::to_string(port));
  auto stub = v1::SketchSearch::NewStub(channel);
  SketchClient client(stub.get(), absl::Seconds(1), QuickRetries(0));
  // Nothing listens for 300 ms (gRPC's wait_for_ready holds the call while the channel re-dials,
  // about 1 s after its first refusal), then the replica loads until 1.5 s (UNAVAILABLE, asked
  // again), then serves.
  std::unique_ptr<SketchServer> server;
  std::thread replica([&] {
    absl::SleepFor(absl::Milliseconds(300));
    server = StartFakeServer(Indexed(), kClasses, 8, 0, /*serve=*/false, {},
                             "127.0.0.1:" + std::to_string(port));
    absl::SleepFor(absl::Milliseconds(1200));
    ServeFakes(server.get(), Indexed(), kClasses, 8, 0);
  });
  const absl::Time start = absl::Now();
  const absl::Status status = client.WaitUntilServing(absl::Seconds(20));
  const absl::Duration waited = absl::Now() - start;
  replica.join();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_GE(waited, absl::Milliseconds(1450));
  EXPECT_TRUE(client.GetInfo().ok());
}

TEST(WaitUntilServingTest, GivesUpAfterTheTimeout) {
  auto channel = MakeChannel("127.0.0.1:" + std::to_string(FreePort()));
  auto stub = v1::SketchSearch::NewStub(channel);
  SketchClient client(stub.get(), absl::Seconds(1));
  const absl::Time start = absl::Now();
  const absl::Status nobody = client.WaitUntilServing(absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(300 + 300));
  EXPECT_THAT(nobody.code(),
              AnyOf(absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kUnavailable));
  EXPECT_THAT(nobody.message(), HasSubstr("the server is not serving after 300ms"));

  auto loading = StartFakeServer(Indexed(), kClasses, 8, 0, /*serve=*/false);
  auto loading_stub = v1::SketchSearch::NewStub(loading->InProcessChannel());
  SketchClient loading_client(loading_stub.get(), absl::Seconds(1), QuickRetries(0));
  const absl::Status still_loading = loading_client.WaitUntilServing(absl::Milliseconds(200));
  EXPECT_EQ(still_loading.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(still_loading.message(), HasSubstr("another would pass its deadline"));
}

TEST(HealthClientTest, ProbesAreNotResent) {
  auto channel = MakeChannel("127.0.0.1:" + std::to_string(FreePort()));
  auto stub = grpc::health::v1::Health::NewStub(channel);
  HealthClient health(stub.get(), absl::Seconds(5));
  const absl::Time start = absl::Now();
  auto status = health.Check("");
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(150));  // a first re-send waits 100-200 ms
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.status().message(), Not(HasSubstr("attempt")));
}

}  // namespace
}  // namespace sketch
