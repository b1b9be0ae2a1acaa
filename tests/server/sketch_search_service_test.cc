#include "server/sketch_search_service.h"

#include <grpcpp/client_context.h>
#include <grpcpp/server_builder.h>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/drawing_convert.h"
#include "server/server.h"
#include "tests/server/test_fakes.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using ::sketch::testing::FakeEmbedder;
using ::sketch::testing::MakeFakeIndex;
using ::sketch::testing::MakeSketch;
using ::sketch::testing::ServedSketches;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<std::string> kClasses = {"cat", "dog", "fish"};
constexpr int kDim = 8;

BundleInfo Bundle() {
  BundleInfo bundle{"sknet", "hash-1", "recipe", {{"test_map", 0.5}}, {}};
  bundle.test_time_views = 6;  // a mirror and two turns: reported as the bundle says
  return bundle;
}

// A server reachable only through in-process channels, serving fakes.
class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.address = "";
    options.backend.batcher.max_queue_delay = absl::ZeroDuration();
    auto server = SketchServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::SketchSearch::NewStub(server_->InProcessChannel());
  }

  FakeEmbedder* Serve() {
    auto embedder = std::make_unique<FakeEmbedder>(kClasses, kDim);
    FakeEmbedder* raw = embedder.get();
    auto index = MakeFakeIndex(ServedSketches(), kClasses, kDim);
    EXPECT_TRUE(server_->Serve(std::move(embedder), std::move(index), Bundle()).ok());
    return raw;
  }

  static void SetDeadline(grpc::ClientContext* context, absl::Duration timeout) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }

  std::unique_ptr<SketchServer> server_;
  std::unique_ptr<v1::SketchSearch::Stub> stub_;
};

TEST_F(ServiceTest, EveryCallIsUnavailableUntilTheModelIsLoaded) {
  grpc::ClientContext c1, c2;
  v1::ClassifyRequest request;
  v1::ClassifyResponse response;
  EXPECT_EQ(stub_->Classify(&c1, request, &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  v1::GetInfoResponse info;
  EXPECT_EQ(stub_->GetInfo(&c2, {}, &info).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ServiceTest, Classifies) {
  Serve();
  grpc::ClientContext context;
  v1::ClassifyRequest request;
  *request.mutable_drawing() = SketchToDrawing(MakeSketch(1, "fish"));
  request.set_k(2);
  v1::ClassifyResponse response;
  const grpc::Status status = stub_->Classify(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.classes_size(), 2);
  EXPECT_EQ(response.classes(0).word(), "fish");
  EXPECT_EQ(response.classes(0).label(), 2);
  EXPECT_FLOAT_EQ(response.classes(0).probability(), 4.0f / 6);
}

TEST_F(ServiceTest, SearchesExcludingTheQueryItself) {
  Serve();
  grpc::ClientContext context;
  v1::SearchRequest request;
  *request.mutable_drawing() = SketchToDrawing(ServedSketches()[0]);
  request.set_k(4);
  request.add_exclude_key_ids(100);
  request.set_include_top_class(true);
  v1::SearchResponse response;
  ASSERT_TRUE(stub_->Search(&context, request, &response).ok());
  ASSERT_EQ(response.hits_size(), 3);
  EXPECT_EQ(response.hits(0).key_id(), 101u);
  EXPECT_EQ(response.hits(0).id(), 1);
  EXPECT_EQ(response.hits(0).word(), "cat");
  EXPECT_EQ(response.top_class().word(), "cat");
}

TEST_F(ServiceTest, EmbedsAndReportsInfo) {
  Serve();
  grpc::ClientContext c1, c2;
  v1::EmbedRequest request;
  *request.mutable_drawing() = SketchToDrawing(MakeSketch(1, "dog", 2));
  v1::EmbedResponse response;
  ASSERT_TRUE(stub_->Embed(&c1, request, &response).ok());
  EXPECT_EQ(response.feature_size(), kDim);
  EXPECT_FLOAT_EQ(response.feature(2), 0.2f);

  v1::GetInfoResponse info;
  ASSERT_TRUE(stub_->GetInfo(&c2, {}, &info).ok());
  EXPECT_EQ(info.architecture(), "sknet");
  EXPECT_THAT(info.classes(), ElementsAre("cat", "dog", "fish"));
  EXPECT_EQ(info.index_size(), 4);
  EXPECT_EQ(info.dimension(), kDim);
  EXPECT_EQ(info.input_size(), 128);
  EXPECT_EQ(info.bundle_hash(), "hash-1");
  EXPECT_EQ(info.test_time_views(), 6);
  EXPECT_EQ(info.limits().max_batch_requests(), 256);
  EXPECT_EQ(info.limits().max_message_bytes(), 16 << 20);
}

TEST_F(ServiceTest, BatchesAnswerInOrder) {
  Serve();
  grpc::ClientContext c1, c2;
  v1::ClassifyBatchRequest classify;
  for (const char* word : {"dog", "cat", "fish"}) {
    v1::ClassifyRequest* r = classify.add_requests();
    *r->mutable_drawing() = SketchToDrawing(MakeSketch(1, word));
    r->set_k(1);
  }
  v1::ClassifyBatchResponse classified;
  ASSERT_TRUE(stub_->ClassifyBatch(&c1, classify, &classified).ok());
  ASSERT_EQ(classified.responses_size(), 3);
  EXPECT_EQ(classified.responses(0).classes(0).word(), "dog");
  EXPECT_EQ(classified.responses(2).classes(0).word(), "fish");

  v1::SearchBatchRequest search;
  for (const Sketch& s : ServedSketches()) {
    v1::SearchRequest* r = search.add_requests();
    *r->mutable_drawing() = SketchToDrawing(s);
    r->set_k(1);
  }
  v1::SearchBatchResponse found;
  ASSERT_TRUE(stub_->SearchBatch(&c2, search, &found).ok());
  ASSERT_EQ(found.responses_size(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(found.responses(i).hits(0).id(), i);
}

TEST_F(ServiceTest, BadRequestsAreInvalidArgumentNamingTheField) {
  Serve();
  const auto search_error = [&](const v1::SearchRequest& request) {
    grpc::ClientContext context;
    v1::SearchResponse response;
    const grpc::Status status = stub_->Search(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    return status.error_message();
  };
  v1::SearchRequest request;
  request.set_k(1);
  EXPECT_EQ(search_error(request), "drawing: has neither ink nor bitmap");
  *request.mutable_drawing() = SketchToDrawing(MakeSketch(1, "cat"));
  request.set_k(0);
  EXPECT_EQ(search_error(request), "k: 0 is outside 1..100000");
  request.set_k(5);
  EXPECT_EQ(search_error(request), "k: 5 is outside 1..4 (the index size)");
  request.set_k(1);
  request.add_classes("unicorn");
  EXPECT_EQ(search_error(request), "classes[0]: unknown class \"unicorn\"");

  grpc::ClientContext context;
  v1::ClassifyBatchRequest batch;
  batch.add_requests()->set_k(1);
  *batch.mutable_requests(0)->mutable_drawing() = SketchToDrawing(MakeSketch(1, "cat"));
  batch.mutable_requests(0)->set_k(7);
  v1::ClassifyBatchResponse response;
  const grpc::Status status = stub_->ClassifyBatch(&context, batch, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "requests[0].k: 7 is outside 1..3 (the number of classes)");
}

TEST_F(ServiceTest, RequestsThatWouldBeCostlyToDecodeAreRefusedBeforeDecoding) {
  FakeEmbedder* embedder = Serve();
  {
    // 100,000 empty strokes: 200 KB on the wire, several MB once decoded.
    grpc::ClientContext context;
    v1::ClassifyRequest request;
    for (int i = 0; i < 100000; ++i) request.mutable_drawing()->mutable_ink()->add_strokes();
    request.set_k(1);
    v1::ClassifyResponse response;
    const grpc::Status status = stub_->Classify(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), "drawing.ink.strokes: more than 1024 strokes");
  }
  {
    // More bytes than any valid single drawing can need (the batches' limit is larger).
    grpc::ClientContext context;
    v1::EmbedRequest request;
    request.mutable_drawing()->mutable_bitmap()->set_size(4000);
    request.mutable_drawing()->mutable_bitmap()->set_pixels(std::string(6 << 20, '\x7f'));
    v1::EmbedResponse response;
    const grpc::Status status = stub_->Embed(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(status.error_message(), HasSubstr("exceed the limit of"));
    EXPECT_THAT(status.error_message(), HasSubstr("for Embed"));
  }
  EXPECT_THAT(embedder->batch_sizes(), ::testing::IsEmpty());
  // A healthy request still gets its answer.
  grpc::ClientContext context;
  v1::ClassifyRequest request;
  *request.mutable_drawing() = SketchToDrawing(MakeSketch(1, "fish"));
  request.set_k(1);
  v1::ClassifyResponse response;
  ASSERT_TRUE(stub_->Classify(&context, request, &response).ok());
  EXPECT_EQ(response.classes(0).word(), "fish");
}

TEST_F(ServiceTest, CallThatOutlivesItsDeadlineIsDroppedUnrun) {
  FakeEmbedder* embedder = Serve();
  absl::Notification gate;
  embedder->set_gate(&gate);
  {
    // The first call takes the model and holds it.
    grpc::ClientContext context;
    SetDeadline(&context, absl::Milliseconds(200));
    v1::ClassifyRequest request;
    *request.mutable_drawing() = SketchToDrawing(MakeSketch(1, "cat"));
    request.set_k(1);
    v1::ClassifyResponse response;
    EXPECT_EQ(stub_->Classify(&context, request, &response).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  {
    // The second waits behind it past its deadline, then is skipped without a model run.
    grpc::ClientContext context;
    SetDeadline(&context, absl::Milliseconds(100));
    v1::ClassifyRequest request;
    *request.mutable_drawing() = SketchToDrawing(MakeSketch(2, "cat"));
    request.set_k(1);
    v1::ClassifyResponse response;
    EXPECT_EQ(stub_->Classify(&context, request, &response).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  gate.Notify();
  server_->Shutdown(absl::Seconds(5));  // drains the batcher
  EXPECT_THAT(embedder->seen_key_ids(), ElementsAre(1));
  EXPECT_THAT(server_->metrics().Serialize(),
              HasSubstr("sketchsearch_model_skipped_requests_total{code=\"DEADLINE_EXCEEDED\"} 1"));
}

TEST_F(ServiceTest, CallCancelledByItsClientIsDroppedUnrun) {
  FakeEmbedder* embedder = Serve();
  absl::Notification gate;
  embedder->set_gate(&gate);
  grpc::ClientContext first_context, second_context;
  v1::ClassifyRequest first, second;
  *first.mutable_drawing() = SketchToDrawing(MakeSketch(1, "cat"));
  *second.mutable_drawing() = SketchToDrawing(MakeSketch(2, "cat"));
  first.set_k(1);
  second.set_k(1);
  v1::ClassifyResponse first_response, second_response;
  absl::Notification first_done, second_done;
  grpc::Status first_status, second_status;
  stub_->async()->Classify(&first_context, &first, &first_response, [&](grpc::Status s) {
    first_status = std::move(s);
    first_done.Notify();
  });
  embedder->entered().WaitForNotification();  // the model holds the first call
  stub_->async()->Classify(&second_context, &second, &second_response, [&](grpc::Status s) {
    second_status = std::move(s);
    second_done.Notify();
  });
  // Wait until the second call is queued, then its client gives up.
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (absl::Now() < give_up && server_->metrics().Serialize().find(
                                      "sketchsearch_model_queue_length 1") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  second_context.TryCancel();
  second_done.WaitForNotification();
  EXPECT_EQ(second_status.error_code(), grpc::StatusCode::CANCELLED);
  gate.Notify();
  first_done.WaitForNotification();
  EXPECT_TRUE(first_status.ok()) << first_status.error_message();
  server_->Shutdown(absl::Seconds(5));  // drains the batcher
  EXPECT_THAT(embedder->seen_key_ids(), ElementsAre(1));
  EXPECT_THAT(server_->metrics().Serialize(),
              HasSubstr("sketchsearch_model_skipped_requests_total{code=\"CANCELLED\"} 1"));
}

TEST_F(ServiceTest, RecordsMetricsPerMethodAndCode) {
  Serve();
  grpc::ClientContext c1, c2;
  v1::GetInfoResponse info;
  ASSERT_TRUE(stub_->GetInfo(&c1, {}, &info).ok());
  v1::SearchRequest bad;
  v1::SearchResponse response;
  EXPECT_FALSE(stub_->Search(&c2, bad, &response).ok());
  const std::string text = server_->metrics().Serialize();
  EXPECT_THAT(
      text,
      HasSubstr("sketchsearch_requests_total{code=\"OK\",method=\"GetInfo\",protocol=\"grpc\"} 1"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_request_errors_total{code=\"INVALID_ARGUMENT\","
                              "method=\"Search\",protocol=\"grpc\"} 1"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_index_size 4"));
}

TEST_F(ServiceTest, CallsWaitingForTheModelHoldNoThread) {
  // gRPC gets 4 threads for synchronous services; 40 calls still wait for the busy model at
  // once, each a queued batcher item, and then run together in one batch.
  server_->Shutdown(absl::ZeroDuration());
  ServerOptions options;
  options.address = "";
  options.max_threads = 4;
  options.backend.batcher.max_batch_size = 64;
  options.backend.batcher.max_queue_delay = absl::Milliseconds(1);
  auto server = SketchServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  stub_ = v1::SketchSearch::NewStub(server_->InProcessChannel());
  FakeEmbedder* embedder = Serve();
  absl::Notification gate;
  embedder->set_gate(&gate);

  constexpr int kCalls = 41;
  struct Pending {
    grpc::ClientContext context;
    v1::ClassifyRequest request;
    v1::ClassifyResponse response;
    grpc::Status status;
  };
  std::vector<Pending> calls(kCalls);
  absl::BlockingCounter finished(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    *calls[i].request.mutable_drawing() = SketchToDrawing(MakeSketch(i, "dog"));
    calls[i].request.set_k(1);
    stub_->async()->Classify(&calls[i].context, &calls[i].request, &calls[i].response,
                             [&, i](grpc::Status status) {
                               calls[i].status = std::move(status);
                               finished.DecrementCount();
                             });
    if (i == 0) embedder->entered().WaitForNotification();  // the model holds the first call
  }
  // Every other call reaches the batcher's queue while the model is still held.
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (absl::Now() < give_up && server_->metrics().Serialize().find(
                                      "sketchsearch_model_queue_length 40") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  gate.Notify();
  finished.Wait();
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(calls[i].status.ok()) << i << ": " << calls[i].status.error_message();
    EXPECT_EQ(calls[i].response.classes(0).word(), "dog");
  }
  EXPECT_THAT(embedder->batch_sizes(), ElementsAre(1, 40));
}

TEST(SketchSearchServiceBareTest, ServesInAPlainGrpcServer) {
  // The service alone, registered in a plain grpc::Server (no SketchServer around it).
  ApiCalls calls({}, 1 << 20);
  SketchSearchService service(&calls, nullptr);
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = v1::SketchSearch::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  v1::ClassifyRequest request;
  *request.mutable_drawing() = SketchToDrawing(MakeSketch(1, "dog"));
  request.set_k(1);
  {
    grpc::ClientContext context;
    v1::ClassifyResponse response;
    EXPECT_EQ(stub->Classify(&context, request, &response).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  auto backend =
      SearchBackend::Create(std::make_unique<FakeEmbedder>(kClasses, kDim),
                            MakeFakeIndex(ServedSketches(), kClasses, kDim), Bundle(), {}, nullptr);
  ASSERT_TRUE(backend.ok()) << backend.status();
  std::shared_ptr<SearchBackend> installed = *std::move(backend);
  calls.SetBackend(installed);
  {
    grpc::ClientContext context;
    v1::ClassifyResponse response;
    const grpc::Status status = stub->Classify(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.classes(0).word(), "dog");
  }
  server->Shutdown();
  installed->Shutdown();
}

}  // namespace
}  // namespace sketch
