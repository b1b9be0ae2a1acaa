#include "server/http_api.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/client_context.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/drawing_convert.h"
#include "server/server.h"
#include "tests/server/test_fakes.h"
#include "tests/testing/temp_files.h"
#include "tests/testing/test_pki.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using ::google::protobuf::util::JsonStringToMessage;
using ::google::protobuf::util::MessageDifferencer;
using ::google::protobuf::util::MessageToJsonString;
using ::sketch::testing::FakeEmbedder;
using ::sketch::testing::MakeFakeIndex;
using ::sketch::testing::MakeSketch;
using ::sketch::testing::ServedSketches;
using ::testing::HasSubstr;

const std::vector<std::string> kClasses = {"cat", "dog", "fish"};
constexpr int kDim = 8;

std::string Json(const google::protobuf::Message& message) {
  std::string json;
  EXPECT_TRUE(MessageToJsonString(message, &json).ok());
  return json;
}

// The parts of an error body {"error": {"code", "message", "http_status"}}.
struct ErrorBody {
  std::string code, message;
  int http_status = 0;
};

ErrorBody ParseError(const std::string& body) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(JsonStringToMessage(body, &parsed).ok()) << body;
  const auto& error = parsed.fields().at("error").struct_value().fields();
  return {error.at("code").string_value(), error.at("message").string_value(),
          static_cast<int>(error.at("http_status").number_value())};
}

// A server with gRPC in process only and the HTTP API on 127.0.0.1, port 0, serving fakes.
class HttpApiTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = {}) {
    options.address = "";
    options.backend.batcher.max_queue_delay = absl::ZeroDuration();
    options.serve_http = true;
    options.http.host = "127.0.0.1";
    options.http.port = 0;
    auto server = SketchServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::SketchSearch::NewStub(server_->InProcessChannel());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->http_port());
    client_->set_read_timeout(10, 0);
  }

  FakeEmbedder* Serve() {
    auto embedder = std::make_unique<FakeEmbedder>(kClasses, kDim);
    FakeEmbedder* raw = embedder.get();
    EXPECT_TRUE(server_
                    ->Serve(std::move(embedder), MakeFakeIndex(ServedSketches(), kClasses, kDim),
                            {"sknet", "hash-1", "recipe", {{"test_map", 0.5}}})
                    .ok());
    return raw;
  }

  httplib::Result Post(const std::string& path, const std::string& body,
                       const httplib::Headers& headers = {}) {
    return client_->Post(path.c_str(), headers, body, "application/json");
  }

  // POSTs `request` as JSON to `path`, and asserts the answer equals gRPC's (`rpc`) exactly.
  template <typename Request, typename Response>
  void ExpectSameAnswer(const std::string& path, const Request& request,
                        grpc::Status (v1::SketchSearch::Stub::*rpc)(grpc::ClientContext*,
                                                                    const Request&, Response*)) {
    grpc::ClientContext context;
    Response from_grpc;
    const grpc::Status status = ((*stub_).*rpc)(&context, request, &from_grpc);
    ASSERT_TRUE(status.ok()) << status.error_message();
    auto http = Post(path, Json(request));
    ASSERT_TRUE(http) << path;
    ASSERT_EQ(http->status, 200) << http->body;
    EXPECT_EQ(http->get_header_value("Content-Type"), "application/json");
    EXPECT_EQ(http->get_header_value("sketchsearch-bundle-hash"), "hash-1");
    Response from_http;
    ASSERT_TRUE(JsonStringToMessage(http->body, &from_http).ok()) << http->body;
    EXPECT_TRUE(MessageDifferencer::Equals(from_grpc, from_http))
        << path << "\ngRPC: " << from_grpc.DebugString() << "\nHTTP: " << from_http.DebugString();
  }

  // The error an HTTP call ended with; checks the status line matches the body.
  ErrorBody ExpectError(const httplib::Result& result, int http_status) {
    EXPECT_TRUE(result);
    if (!result) return {};
    EXPECT_EQ(result->status, http_status) << result->body;
    const ErrorBody error = ParseError(result->body);
    EXPECT_EQ(error.http_status, http_status);
    return error;
  }

  static v1::ClassifyRequest ClassifyOf(uint64_t key_id, const std::string& word, int k = 1) {
    v1::ClassifyRequest request;
    *request.mutable_drawing() = SketchToDrawing(MakeSketch(key_id, word));
    request.set_k(k);
    return request;
  }

  std::unique_ptr<SketchServer> server_;
  std::unique_ptr<v1::SketchSearch::Stub> stub_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpApiTest, HealthIsLiveAtOnceAndReadyOnceABundleIsLoaded) {
  StartServer();
  auto live = client_->Get("/healthz");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  EXPECT_EQ(ExpectError(client_->Get("/readyz"), 503).code, "UNAVAILABLE");
  EXPECT_EQ(ExpectError(client_->Get("/v1/info"), 503).code, "UNAVAILABLE");
  EXPECT_EQ(ExpectError(Post("/v1/classify", Json(ClassifyOf(1, "cat"))), 503).code, "UNAVAILABLE");
  Serve();
  auto ready = client_->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

TEST_F(HttpApiTest, EveryRpcAnswersAsGrpcDoes) {
  StartServer();
  Serve();
  ExpectSameAnswer("/v1/classify", ClassifyOf(1, "fish", 3), &v1::SketchSearch::Stub::Classify);

  v1::SearchRequest search;
  *search.mutable_drawing() = SketchToDrawing(ServedSketches()[0]);
  search.set_k(4);
  search.add_exclude_key_ids(100);
  search.set_include_top_class(true);
  ExpectSameAnswer("/v1/search", search, &v1::SketchSearch::Stub::Search);
  search.add_classes("dog");
  ExpectSameAnswer("/v1/search", search, &v1::SketchSearch::Stub::Search);

  v1::EmbedRequest embed;
  *embed.mutable_drawing() = SketchToDrawing(MakeSketch(1, "dog", 2));
  ExpectSameAnswer("/v1/embed", embed, &v1::SketchSearch::Stub::Embed);

  v1::ClassifyBatchRequest classify_batch;
  *classify_batch.add_requests() = ClassifyOf(1, "cat", 2);
  *classify_batch.add_requests() = ClassifyOf(2, "dog", 3);
  ExpectSameAnswer("/v1/classify:batch", classify_batch, &v1::SketchSearch::Stub::ClassifyBatch);

  v1::SearchBatchRequest search_batch;
  *search_batch.add_requests() = search;
  search.clear_classes();
  search.set_k(2);
  *search_batch.add_requests() = search;
  ExpectSameAnswer("/v1/search:batch", search_batch, &v1::SketchSearch::Stub::SearchBatch);

  grpc::ClientContext context;
  v1::GetInfoResponse from_grpc, from_http;
  ASSERT_TRUE(stub_->GetInfo(&context, {}, &from_grpc).ok());
  auto info = client_->Get("/v1/info");
  ASSERT_TRUE(info);
  ASSERT_EQ(info->status, 200) << info->body;
  ASSERT_TRUE(JsonStringToMessage(info->body, &from_http).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(from_grpc, from_http)) << info->body;
  // Every field is printed, defaults included (a browser needs no table of proto3 defaults).
  EXPECT_THAT(info->body, HasSubstr("\"hasDrawings\":false"));
}

TEST_F(HttpApiTest, MalformedJsonUnknownFieldsAndWrongTypesAre400NamingTheField) {
  StartServer();
  Serve();
  EXPECT_EQ(ExpectError(Post("/v1/classify", "{\"k\": 1,"), 400).code, "INVALID_ARGUMENT");
  EXPECT_THAT(ExpectError(Post("/v1/classify", "{\"k\": 1, \"colour\": \"red\"}"), 400).message,
              HasSubstr("colour"));
  EXPECT_THAT(
      ExpectError(Post("/v1/classify", "{\"k\": 1, \"drawing\": {\"ink\": {\"strokez\": []}}}"),
                  400)
          .message,
      HasSubstr("strokez"));
  EXPECT_THAT(ExpectError(Post("/v1/classify", "{\"k\": \"many\"}"), 400).message, HasSubstr("k"));
  EXPECT_THAT(ExpectError(Post("/v1/search", "{\"k\": 1, \"classes\": 7}"), 400).message,
              HasSubstr("classes"));
  // Valid JSON, invalid request: the same field paths as gRPC.
  v1::ClassifyRequest no_k = ClassifyOf(1, "cat");
  no_k.set_k(0);
  EXPECT_THAT(ExpectError(Post("/v1/classify", Json(no_k)), 400).message, HasSubstr("k: 0"));
}

TEST_F(HttpApiTest, OverLimitRequestsAreRefusedAsGrpcRefusesThem) {
  ServerOptions options;
  options.limits.sketch.max_strokes = 4;
  StartServer(options);
  Serve();
  // Too many strokes: the wire check on the re-encoded request names the field.
  v1::ClassifyRequest many = ClassifyOf(1, "cat");
  for (int i = 0; i < 5; ++i)
    *many.mutable_drawing()->mutable_ink()->add_strokes() = many.drawing().ink().strokes(0);
  EXPECT_THAT(ExpectError(Post("/v1/classify", Json(many)), 400).message,
              HasSubstr("drawing.ink.strokes"));
  // A search filter on a word the index does not hold.
  v1::SearchRequest search;
  *search.mutable_drawing() = SketchToDrawing(MakeSketch(1, "cat"));
  search.set_k(1);
  search.add_classes("unicorn");
  EXPECT_THAT(ExpectError(Post("/v1/search", Json(search)), 400).message, HasSubstr("classes[0]"));
  // A body over the method's limit (scaled for JSON) is 413 before it is parsed.
  const int64_t limit = MaxRequestBytes(RequestKind::kClassify, options.limits);
  const std::string padded =
      absl::StrCat("{\"k\": 1", std::string(limit * kJsonBytesPerWireByte, ' '), "}");
  EXPECT_EQ(ExpectError(Post("/v1/classify", padded), 413).code, "RESOURCE_EXHAUSTED");
  // Larger than any method accepts: cpp-httplib refuses it before any handler, same body shape.
  const std::string huge(16 * (16 << 20) + 1, ' ');
  EXPECT_EQ(ExpectError(Post("/v1/search:batch", huge), 413).code, "RESOURCE_EXHAUSTED");
}

TEST_F(HttpApiTest, DeadlineFromHeaderOrQuery) {
  StartServer();
  FakeEmbedder* embedder = Serve();
  absl::Notification gate;
  embedder->set_gate(&gate);
  // The first call takes the model and holds it; the second waits behind it past its deadline
  // and is dropped unrun (504).
  std::thread first([&] {
    httplib::Client client("127.0.0.1", server_->http_port());
    auto result = client.Post("/v1/classify", Json(ClassifyOf(1, "cat")), "application/json");
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 200) << result->body;
  });
  embedder->entered().WaitForNotification();
  std::thread release([&] {
    absl::SleepFor(absl::Milliseconds(300));
    gate.Notify();
  });
  EXPECT_EQ(
      ExpectError(
          Post("/v1/classify", Json(ClassifyOf(2, "cat")), {{"X-Request-Timeout-Ms", "100"}}), 504)
          .code,
      "DEADLINE_EXCEEDED");
  release.join();
  first.join();
  EXPECT_THAT(embedder->seen_key_ids(), ::testing::ElementsAre(1));
  // ?timeout_ms= works the same; a malformed timeout is 400 naming where it came from.
  auto quick = Post("/v1/classify?timeout_ms=5000", Json(ClassifyOf(3, "cat")));
  ASSERT_TRUE(quick);
  EXPECT_EQ(quick->status, 200);
  EXPECT_THAT(
      ExpectError(
          Post("/v1/classify", Json(ClassifyOf(4, "cat")), {{"X-Request-Timeout-Ms", "soon"}}), 400)
          .message,
      HasSubstr("X-Request-Timeout-Ms"));
  EXPECT_THAT(
      ExpectError(Post("/v1/classify?timeout_ms=0", Json(ClassifyOf(4, "cat"))), 400).message,
      HasSubstr("timeout_ms"));
}

TEST_F(HttpApiTest, TokensGuardTheApiButNotHealthOrTheDocument) {
  ServerOptions options;
  options.auth_tokens = {"0123456789abcdef-token"};
  StartServer(options);
  Serve();
  EXPECT_EQ(ExpectError(Post("/v1/classify", Json(ClassifyOf(1, "cat"))), 401).code,
            "UNAUTHENTICATED");
  EXPECT_EQ(ExpectError(client_->Get("/v1/info", {{"Authorization", "Bearer wrong"}}), 401).code,
            "UNAUTHENTICATED");
  auto authorized = Post("/v1/classify", Json(ClassifyOf(1, "cat")),
                         {{"Authorization", "Bearer 0123456789abcdef-token"}});
  ASSERT_TRUE(authorized);
  EXPECT_EQ(authorized->status, 200) << authorized->body;
  for (const char* open : {"/healthz", "/readyz", "/v1/openapi.json"}) {
    auto result = client_->Get(open);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 200) << open;
  }
}

TEST_F(HttpApiTest, UnknownRoutesAnswerAJsonErrorAndMetricsCountHttpCalls) {
  StartServer();
  Serve();
  EXPECT_EQ(ExpectError(client_->Get("/v1/nothing"), 404).code, "NOT_FOUND");
  EXPECT_EQ(ExpectError(client_->Get("/v1/classify"), 404).code, "NOT_FOUND");
  ASSERT_TRUE(Post("/v1/classify", Json(ClassifyOf(1, "cat"))));
  ASSERT_TRUE(Post("/v1/classify", "{"));
  const std::string metrics = server_->metrics().Serialize();
  EXPECT_THAT(metrics, HasSubstr("sketchsearch_requests_total{code=\"OK\",method=\"Classify\","
                                 "protocol=\"http\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("sketchsearch_request_errors_total{code=\"INVALID_ARGUMENT\","
                                 "method=\"Classify\",protocol=\"http\"} 1"));
}

TEST_F(HttpApiTest, ServesTheWebRootAtSlash) {
  const std::string root = TempPath("web_root");
  std::filesystem::create_directories(root);
  std::ofstream(root + "/index.html") << "<!doctype html><title>sketchsearch</title>";
  ServerOptions options;
  options.http.web_root = root;
  StartServer(options);
  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("<title>sketchsearch</title>"));
  EXPECT_THAT(page->get_header_value("Content-Type"), HasSubstr("text/html"));
  std::filesystem::remove_all(root);

  options.serve_http = true;
  options.http.web_root = root + "/missing";
  EXPECT_THAT(SketchServer::Start(options).status().message(), HasSubstr("web_root"));
}

TEST_F(HttpApiTest, ShutdownAnswersHttpCallsInFlight) {
  StartServer();
  FakeEmbedder* embedder = Serve();
  absl::Notification gate;
  embedder->set_gate(&gate);
  int status = 0;
  std::string body;
  std::thread call([&] {
    httplib::Client client("127.0.0.1", server_->http_port());
    client.set_read_timeout(10, 0);
    auto result = client.Post("/v1/classify", Json(ClassifyOf(1, "cat")), "application/json");
    if (result) status = result->status, body = result->body;
  });
  embedder->entered().WaitForNotification();
  std::thread shutdown([&] { server_->Shutdown(absl::Seconds(10)); });
  absl::SleepFor(absl::Milliseconds(100));
  gate.Notify();
  call.join();
  shutdown.join();
  EXPECT_EQ(status, 200) << body;
  EXPECT_THAT(body, HasSubstr("\"word\":\"cat\""));
  // The port is closed afterwards.
  auto after = client_->Get("/healthz");
  EXPECT_FALSE(after);
}

TEST_F(HttpApiTest, ServesHttpsWithTheServersCertificate) {
  ::sketch::testing::TestPki pki;
  ASSERT_TRUE(pki.ok()) << "openssl could not make the test certificates";
  ServerOptions options;
  options.http.tls_cert = pki.path("server.pem");
  options.http.tls_key = pki.path("server.key");
  StartServer(options);
  Serve();
  httplib::SSLClient client("127.0.0.1", server_->http_port());
  client.set_ca_cert_path(pki.path("ca.pem").c_str());
  client.enable_server_certificate_verification(true);
  auto result = client.Post("/v1/classify", Json(ClassifyOf(1, "dog")), "application/json");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200) << result->body;
  // Plain HTTP gets no answer from a TLS port.
  EXPECT_FALSE(client_->Get("/healthz"));

  options.http.tls_key = pki.path("missing.key");
  options.serve_http = true;
  EXPECT_EQ(SketchServer::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpStatusForTest, MapsEveryCodeTheServiceReturns) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kCancelled), 499);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDeadlineExceeded), 504);
}

}  // namespace
}  // namespace sketch
