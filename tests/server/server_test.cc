#include "server/server.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/test_fakes.h"
#include "tests/testing/loopback.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::sketch::testing::FakeEmbedder;
using ::sketch::testing::MakeFakeIndex;
using ::sketch::testing::MakeSketch;
using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<std::string> kClasses = {"cat", "dog"};

ServerOptions LocalOptions() {
  ServerOptions options;
  options.address = "127.0.0.1:0";
  options.backend.batcher.max_queue_delay = absl::ZeroDuration();
  return options;
}

absl::Status ServeFakes(SketchServer* server, FakeEmbedder** embedder_out = nullptr) {
  auto embedder = std::make_unique<FakeEmbedder>(kClasses, 8);
  if (embedder_out != nullptr) *embedder_out = embedder.get();
  std::vector<Sketch> indexed = {MakeSketch(1, "cat"), MakeSketch(2, "dog", 2, 50)};
  return server->Serve(std::move(embedder), MakeFakeIndex(indexed, kClasses, 8), {});
}

HealthCheckResponse::ServingStatus Health(const std::shared_ptr<grpc::Channel>& channel,
                                          const std::string& service = "") {
  auto stub = Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.status();
}

// Asks the reflection service to list services (ServerReflectionRequest{list_services: ""},
// hand-encoded: Debian ships no reflection .proto) and returns the raw response bytes.
std::string ListServicesViaReflection(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::CompletionQueue cq;
  void* tag;
  bool ok = false;
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  const char request_bytes[] = {0x3a, 0x00};  // field 7 (list_services), empty string
  grpc::Slice slice(request_bytes, sizeof(request_bytes));
  grpc::ByteBuffer request(&slice, 1);
  call->WriteLast(request, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  std::string text;
  std::vector<grpc::Slice> slices;
  if (ok && response.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices)
      text.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return text;
}

TEST(ServerOptionsTest, RejectsBadOptions) {
  ServerOptions options = LocalOptions();
  options.max_threads = 1;
  EXPECT_THAT(SketchServer::Start(options).status().message(), HasSubstr("max_threads"));
  options = LocalOptions();
  options.max_connection_age = absl::ZeroDuration();
  EXPECT_THAT(SketchServer::Start(options).status().message(), HasSubstr("max_connection_age"));
  options = LocalOptions();
  options.backend.batcher.max_batch_size = 0;
  EXPECT_EQ(SketchServer::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = LocalOptions();
  options.limits.max_batch_requests = 0;
  EXPECT_EQ(SketchServer::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SketchServerTest, PortZeroPicksAPortAndHealthFollowsLoading) {
  auto server = SketchServer::Start(LocalOptions());
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                                     grpc::InsecureChannelCredentials());
  EXPECT_EQ(Health(channel), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Health(channel, kSketchSearchServiceName), HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(ServeFakes(server->get()).ok());
  EXPECT_EQ(Health(channel), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health(channel, kSketchSearchServiceName), HealthCheckResponse::SERVING);

  // One end-to-end call over TCP.
  auto stub = v1::SketchSearch::NewStub(channel);
  grpc::ClientContext context;
  v1::GetInfoResponse info;
  ASSERT_TRUE(stub->GetInfo(&context, {}, &info).ok());
  EXPECT_EQ(info.index_size(), 2);
}

TEST(SketchServerTest, HealthTurnsNotServingWhenShutdownStarts) {
  auto server = SketchServer::Start(LocalOptions());
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(ServeFakes(server->get()).ok());
  // Over TCP: a watch in flight survives the start of shutdown (an in-process one may not).
  auto stub = Health::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                                                  grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto watch = stub->Watch(&context, HealthCheckRequest());
  HealthCheckResponse first, second;
  ASSERT_TRUE(watch->Read(&first));
  std::thread shutdown([&] { (*server)->Shutdown(absl::Seconds(2)); });
  const bool got_second = watch->Read(&second);
  context.TryCancel();
  shutdown.join();
  EXPECT_EQ(first.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(got_second);
  EXPECT_EQ(second.status(), HealthCheckResponse::NOT_SERVING);
}

TEST(SketchServerTest, ShutdownLetsCallsInFlightFinish) {
  auto server = SketchServer::Start(LocalOptions());
  ASSERT_TRUE(server.ok());
  FakeEmbedder* embedder = nullptr;
  ASSERT_TRUE(ServeFakes(server->get(), &embedder).ok());
  absl::Notification gate;
  embedder->set_gate(&gate);
  // Over TCP: draining is about network clients (an in-process transport closes at shutdown).
  auto stub = v1::SketchSearch::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*server)->port()), grpc::InsecureChannelCredentials()));
  grpc::Status call_status;
  v1::ClassifyResponse response;
  std::thread call([&] {
    grpc::ClientContext context;
    v1::ClassifyRequest request;
    request.set_k(1);
    v1::Stroke* stroke = request.mutable_drawing()->mutable_ink()->add_strokes();
    request.mutable_drawing()->mutable_ink()->set_frame(v1::FRAME_SIMPLIFIED);
    stroke->add_x(1);
    stroke->add_y(2);
    call_status = stub->Classify(&context, request, &response);
  });
  embedder->entered().WaitForNotification();
  std::thread shutdown([&] { (*server)->Shutdown(absl::Seconds(10)); });
  absl::SleepFor(absl::Milliseconds(100));
  gate.Notify();
  call.join();
  shutdown.join();
  EXPECT_TRUE(call_status.ok()) << call_status.error_message();
  EXPECT_EQ(response.classes_size(), 1);
  (*server)->Shutdown(absl::Seconds(1));  // idempotent
  EXPECT_EQ(ServeFakes(server->get()).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SketchServerTest, ServesOnlyOnce) {
  auto server = SketchServer::Start(LocalOptions());
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(ServeFakes(server->get()).ok());
  EXPECT_EQ(ServeFakes(server->get()).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SketchServerTest, InconsistentBundleIsRejectedAndStaysNotServing) {
  auto server = SketchServer::Start(LocalOptions());
  ASSERT_TRUE(server.ok());
  auto embedder = std::make_unique<FakeEmbedder>(kClasses, 16);  // index is 8-d
  const absl::Status status =
      (*server)->Serve(std::move(embedder), MakeFakeIndex({MakeSketch(1, "cat")}, kClasses, 8), {});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Health((*server)->InProcessChannel()), HealthCheckResponse::NOT_SERVING);
}

TEST(SketchServerTest, BusyPortIsUnavailable) {
  auto first = SketchServer::Start(LocalOptions());
  ASSERT_TRUE(first.ok());
  ServerOptions options = LocalOptions();
  options.address = absl::StrCat("127.0.0.1:", (*first)->port());
  EXPECT_EQ(SketchServer::Start(options).status().code(), absl::StatusCode::kUnavailable);
}

TEST(SketchServerTest, ReflectionListsTheService) {
  auto server = SketchServer::Start(LocalOptions());
  ASSERT_TRUE(server.ok());
  EXPECT_THAT(ListServicesViaReflection((*server)->InProcessChannel()),
              HasSubstr("sketchsearch.v1.SketchSearch"));
}

TEST(SketchServerTest, ReflectionCanBeSwitchedOff) {
  ServerOptions options = LocalOptions();
  options.reflection = false;
  auto server = SketchServer::Start(options);
  ASSERT_TRUE(server.ok());
  EXPECT_THAT(ListServicesViaReflection((*server)->InProcessChannel()),
              Not(HasSubstr("sketchsearch.v1.SketchSearch")));
  // Another server of the same process keeps it.
  auto other = SketchServer::Start(LocalOptions());
  ASSERT_TRUE(other.ok());
  EXPECT_THAT(ListServicesViaReflection((*other)->InProcessChannel()),
              HasSubstr("sketchsearch.v1.SketchSearch"));
}

TEST(SketchServerTest, ExposesMetricsOverHttp) {
  ServerOptions options = LocalOptions();
  options.metrics_address = "127.0.0.1:0";
  auto server = SketchServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->metrics_port(), 0);
  ASSERT_TRUE(ServeFakes(server->get()).ok());
  const std::string page = testing::HttpGetLoopback((*server)->metrics_port(), "/metrics");
  EXPECT_THAT(page, HasSubstr("200 OK"));
  EXPECT_THAT(page, HasSubstr("sketchsearch_serving 1"));
  EXPECT_THAT(page, HasSubstr("sketchsearch_index_size 2"));
}

// Hot swaps (SwapBundle): two bundles told apart by their hash and their index size.
BundleInfo Bundle(const std::string& hash) {
  BundleInfo info;
  info.bundle_hash = hash;
  return info;
}

absl::Status ServeBundle(SketchServer* server, const std::string& hash, int indexed,
                         FakeEmbedder** embedder_out = nullptr, bool swap = false) {
  auto embedder = std::make_unique<FakeEmbedder>(kClasses, 8);
  if (embedder_out != nullptr) *embedder_out = embedder.get();
  std::vector<Sketch> sketches;
  for (int i = 0; i < indexed; ++i) sketches.push_back(MakeSketch(i + 1, kClasses[i % 2], 1, i));
  auto index = MakeFakeIndex(sketches, kClasses, 8);
  return swap ? server->SwapBundle(std::move(embedder), std::move(index), Bundle(hash))
              : server->Serve(std::move(embedder), std::move(index), Bundle(hash));
}

// One Classify call: its status and the bundle hash trailer it came back with.
struct Answered {
  grpc::Status status;
  std::string bundle_hash;
};

Answered ClassifyOnce(v1::SketchSearch::Stub* stub) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  v1::ClassifyRequest request;
  request.set_k(1);
  request.mutable_drawing()->mutable_ink()->set_frame(v1::FRAME_SIMPLIFIED);
  v1::Stroke* stroke = request.mutable_drawing()->mutable_ink()->add_strokes();
  stroke->add_x(1);
  stroke->add_y(2);
  v1::ClassifyResponse response;
  Answered answered;
  answered.status = stub->Classify(&context, request, &response);
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto hash = trailers.find(kBundleHashTrailer);
  if (hash != trailers.end()) answered.bundle_hash.assign(hash->second.data(), hash->second.size());
  return answered;
}

int64_t IndexSize(v1::SketchSearch::Stub* stub) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::GetInfoResponse info;
  EXPECT_TRUE(stub->GetInfo(&context, {}, &info).ok());
  return info.index_size();
}

TEST(SketchServerSwapTest, CallsInFlightFinishOnTheOldBundleAndNewCallsGetTheNewOne) {
  ServerOptions options = LocalOptions();
  options.metrics_address = "127.0.0.1:0";
  auto server = SketchServer::Start(options);
  ASSERT_TRUE(server.ok());
  FakeEmbedder* old_embedder = nullptr;
  ASSERT_TRUE(ServeBundle(server->get(), "old", 2, &old_embedder).ok());
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::SketchSearch::NewStub(channel);
  EXPECT_EQ(ClassifyOnce(stub.get()).bundle_hash, "old");

  // A call held inside the old model while the swap happens.
  absl::Notification gate;
  old_embedder->set_gate(&gate);
  // entered() fired with the first call already: wait for this call's own batch instead.
  const size_t batches_before = old_embedder->batch_sizes().size();
  Answered in_flight;
  std::thread call([&] { in_flight = ClassifyOnce(stub.get()); });
  for (int i = 0; i < 2000 && old_embedder->batch_sizes().size() == batches_before; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GT(old_embedder->batch_sizes().size(), batches_before)
      << "the call never reached the model";
  absl::Notification swapped;
  absl::Status swap_status;
  std::thread swap([&] {
    swap_status = ServeBundle(server->get(), "new", 3, nullptr, /*swap=*/true);
    swapped.Notify();
  });
  // The new bundle answers new calls at once; the swap waits for the old one's last call.
  for (int i = 0; i < 200 && (*server)->bundle_hash() != "new"; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ((*server)->bundle_hash(), "new");
  const Answered fresh = ClassifyOnce(stub.get());
  EXPECT_TRUE(fresh.status.ok()) << fresh.status.error_message();
  EXPECT_EQ(fresh.bundle_hash, "new");
  EXPECT_EQ(IndexSize(stub.get()), 3);
  EXPECT_EQ(Health(channel), HealthCheckResponse::SERVING);
  EXPECT_FALSE(swapped.HasBeenNotified());

  gate.Notify();
  call.join();
  swap.join();
  EXPECT_TRUE(in_flight.status.ok()) << in_flight.status.error_message();
  EXPECT_EQ(in_flight.bundle_hash, "old");
  EXPECT_TRUE(swap_status.ok()) << swap_status;
  const std::string page = testing::HttpGetLoopback((*server)->metrics_port(), "/metrics");
  EXPECT_THAT(page, HasSubstr("sketchsearch_bundle_info{bundle_hash=\"new\"} 1"));
  EXPECT_THAT(page, Not(HasSubstr("bundle_hash=\"old\"")));
  EXPECT_THAT(page, HasSubstr("sketchsearch_index_size 3"));
}

TEST(SketchServerSwapTest, AnInconsistentBundleIsRefusedAndTheOldOneServesOn) {
  auto server = SketchServer::Start(LocalOptions());
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(ServeBundle(server->get(), "old", 2).ok());
  auto embedder = std::make_unique<FakeEmbedder>(kClasses, 16);  // the index is 8-d
  const absl::Status status = (*server)->SwapBundle(
      std::move(embedder), MakeFakeIndex({MakeSketch(1, "cat")}, kClasses, 8), Bundle("bad"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*server)->bundle_hash(), "old");
  auto stub = v1::SketchSearch::NewStub((*server)->InProcessChannel());
  const Answered answered = ClassifyOnce(stub.get());
  EXPECT_TRUE(answered.status.ok()) << answered.status.error_message();
  EXPECT_EQ(answered.bundle_hash, "old");
  EXPECT_EQ(Health((*server)->InProcessChannel()), HealthCheckResponse::SERVING);
}

TEST(SketchServerSwapTest, SwapNeedsAServingServer) {
  auto server = SketchServer::Start(LocalOptions());
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(ServeBundle(server->get(), "new", 2, nullptr, /*swap=*/true).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*server)->bundle_hash(), "");
  ASSERT_TRUE(ServeBundle(server->get(), "old", 2).ok());
  (*server)->Shutdown(absl::Seconds(1));
  EXPECT_EQ(ServeBundle(server->get(), "new", 2, nullptr, /*swap=*/true).code(),
            absl::StatusCode::kFailedPrecondition);
}

// Many swaps under a steady load: no call fails, each names a bundle that was serving.
TEST(SketchServerSwapTest, NoCallFailsAcrossRepeatedSwaps) {
  auto server = SketchServer::Start(LocalOptions());
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(ServeBundle(server->get(), "b0", 2).ok());
  auto stub = v1::SketchSearch::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*server)->port()), grpc::InsecureChannelCredentials()));
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failed{0}, unnamed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!stop) {
        const Answered answered = ClassifyOnce(stub.get());
        ++calls;
        if (!answered.status.ok()) ++failed;
        if (answered.bundle_hash.size() != 2 || answered.bundle_hash[0] != 'b') ++unnamed;
      }
    });
  }
  for (int swap = 1; swap <= 10; ++swap) {
    absl::SleepFor(absl::Milliseconds(20));
    ASSERT_TRUE(ServeBundle(server->get(), absl::StrCat("b", swap % 10), 2 + swap % 3, nullptr,
                            /*swap=*/true)
                    .ok());
  }
  absl::SleepFor(absl::Milliseconds(20));
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_GT(calls, 0);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(unnamed, 0);
}

}  // namespace
}  // namespace sketch
