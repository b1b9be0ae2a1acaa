#include "server/http_api.h"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <functional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/status_macros.h"
#include "server/await.h"
#include "server/openapi.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using google::protobuf::util::JsonParseOptions;
using google::protobuf::util::JsonPrintOptions;

constexpr char kJson[] = "application/json";
constexpr char kTimeoutHeader[] = "X-Request-Timeout-Ms";
constexpr char kTimeoutParam[] = "timeout_ms";

// Every field printed, defaults included, so that a browser needs no proto3 defaults table.
std::string ToJson(const google::protobuf::Message& message) {
  JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) {
    return "{}";  // only for messages json_util cannot print; ours all print
  }
  return json;
}

void WriteError(const absl::Status& status, int http_status, httplib::Response& out) {
  google::protobuf::Struct body;
  auto& error = *(*body.mutable_fields())["error"].mutable_struct_value()->mutable_fields();
  error["code"].set_string_value(absl::StatusCodeToString(status.code()));
  error["message"].set_string_value(std::string(status.message()));
  error["http_status"].set_number_value(http_status);
  out.status = http_status;
  out.set_content(ToJson(body), kJson);
}

// The call's deadline from the X-Request-Timeout-Ms header or, failing that, ?timeout_ms=.
absl::StatusOr<absl::Time> DeadlineOf(const httplib::Request& http, absl::Time now) {
  std::string text, field;
  if (http.has_header(kTimeoutHeader)) {
    text = http.get_header_value(kTimeoutHeader);
    field = absl::StrCat(kTimeoutHeader, " header");
  } else if (http.has_param(kTimeoutParam)) {
    text = http.get_param_value(kTimeoutParam);
    field = absl::StrCat("?", kTimeoutParam);
  } else {
    return absl::InfiniteFuture();
  }
  int64_t ms = 0;
  if (!absl::SimpleAtoi(text, &ms) || ms < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", text, "\" is not a positive number of milliseconds"));
  }
  return now + absl::Milliseconds(ms);
}

// What a call of one RPC route did, for the HTTP answer.
struct RpcOutcome {
  absl::Status status;
  bool too_large = false;   // 413 rather than 429 for RESOURCE_EXHAUSTED
  std::string bundle_hash;  // of the backend that took the call
};

// The checks and the call itself; fills `response` when OK.
template <typename Request, typename Response>
RpcOutcome RunRpc(const ApiCalls& calls, const HttpRoute& route, RequestKind kind,
                  const httplib::Request& http, Response* response) {
  RpcOutcome outcome;
  const absl::Time start = absl::Now();
  auto fail = [&outcome](absl::Status status) {
    outcome.status = std::move(status);
    return outcome;
  };
  const std::string authorization = http.get_header_value("Authorization");
  if (absl::Status s = calls.Authorize(http.has_header("Authorization") ? &authorization : nullptr);
      !s.ok()) {
    return fail(s);
  }
  Request request;
  if (route.http_method == std::string("POST")) {
    const int64_t max_json_bytes = calls.MaxRequestBytes(kind) * kJsonBytesPerWireByte;
    if (static_cast<int64_t>(http.body.size()) > max_json_bytes) {
      outcome.too_large = true;
      return fail(absl::ResourceExhaustedError(absl::StrCat("request body: ", http.body.size(),
                                                            " bytes of JSON exceed the limit of ",
                                                            max_json_bytes, " for ", route.rpc)));
    }
    JsonParseOptions options;
    options.ignore_unknown_fields = false;
    const auto parsed = google::protobuf::util::JsonStringToMessage(http.body, &request, options);
    if (!parsed.ok()) {
      return fail(absl::InvalidArgumentError(
          absl::StrCat("request body: ", std::string(parsed.message()))));
    }
    // The same wire limits as gRPC, on the request as gRPC would have received it.
    const std::string wire = request.SerializeAsString();
    google::protobuf::io::ArrayInputStream input(wire.data(), static_cast<int>(wire.size()));
    absl::Status shape =
        calls.CheckEncodedRequest(kind, route.rpc, static_cast<int64_t>(wire.size()), &input);
    if (!shape.ok()) {
      outcome.too_large = shape.code() == absl::StatusCode::kResourceExhausted;
      return fail(std::move(shape));
    }
  }
  const absl::StatusOr<absl::Time> deadline = DeadlineOf(http, start);
  if (!deadline.ok()) return fail(deadline.status());
  absl::StatusOr<std::shared_ptr<const SearchBackend>> backend = calls.Backend();
  if (!backend.ok()) return fail(backend.status());
  outcome.bundle_hash = (*backend)->bundle().bundle_hash;
  CallContext context;
  context.deadline = *deadline;
  // cpp-httplib 0.11 cannot tell when the client has gone, so no is_cancelled: the deadline
  // bounds a forgotten call.
  const absl::StatusOr<bool> answered =
      AwaitResult<bool>([&](std::function<void(absl::StatusOr<bool>)> finished) {
        const absl::Status started =
            calls.Start(**backend, context, request, response, [finished](absl::Status status) {
              if (status.ok()) {
                finished(true);
              } else {
                finished(std::move(status));
              }
            });
        // Like a gRPC call, hold the backend only until the work is handed to it: a bundle swap
        // waits for the calls holding the old one, and the old one still answers this call.
        backend->reset();
        if (!started.ok()) finished(started);
      });
  return fail(answered.status());
}

template <typename Request, typename Response>
void ServeRpc(const ApiCalls& calls, ServerMetrics* metrics, const HttpRoute& route,
              RequestKind kind, const httplib::Request& http, httplib::Response& out) {
  const absl::Time start = absl::Now();
  Response response;
  const RpcOutcome outcome = RunRpc<Request, Response>(calls, route, kind, http, &response);
  if (!outcome.bundle_hash.empty()) out.set_header(kBundleHashTrailer, outcome.bundle_hash);
  if (outcome.status.ok()) {
    out.set_content(ToJson(response), kJson);
  } else {
    WriteError(outcome.status, outcome.too_large ? 413 : HttpStatusFor(outcome.status.code()), out);
  }
  if (metrics != nullptr) {
    metrics->RecordRpc("http", route.rpc, outcome.status.code(), absl::Now() - start);
  }
}

using RpcServer = std::function<void(const ApiCalls&, ServerMetrics*, const httplib::Request&,
                                     httplib::Response&)>;

struct RpcBinding {
  HttpRoute route;
  RpcServer serve;
};

template <typename Request, typename Response>
RpcBinding Bind(const char* http_method, const char* path, const char* rpc, RequestKind kind) {
  const HttpRoute route = {http_method, path, rpc, Request::descriptor(), Response::descriptor()};
  return {route, [route, kind](const ApiCalls& calls, ServerMetrics* metrics,
                               const httplib::Request& http, httplib::Response& out) {
            ServeRpc<Request, Response>(calls, metrics, route, kind, http, out);
          }};
}

// The one table of RPC routes: what is served and what the OpenAPI document says.
std::vector<RpcBinding> RpcBindings() {
  return {
      Bind<v1::ClassifyRequest, v1::ClassifyResponse>("POST", "/v1/classify", "Classify",
                                                      RequestKind::kClassify),
      Bind<v1::SearchRequest, v1::SearchResponse>("POST", "/v1/search", "Search",
                                                  RequestKind::kSearch),
      Bind<v1::EmbedRequest, v1::EmbedResponse>("POST", "/v1/embed", "Embed", RequestKind::kEmbed),
      Bind<v1::GetInfoRequest, v1::GetInfoResponse>("GET", "/v1/info", "GetInfo",
                                                    RequestKind::kGetInfo),
      Bind<v1::ClassifyBatchRequest, v1::ClassifyBatchResponse>(
          "POST", "/v1/classify:batch", "ClassifyBatch", RequestKind::kClassifyBatch),
      Bind<v1::SearchBatchRequest, v1::SearchBatchResponse>(
          "POST", "/v1/search:batch", "SearchBatch", RequestKind::kSearchBatch),
  };
}

// cpp-httplib 0.11 listens with a backlog of 5: a burst of new connections (16 clients starting
// at once) overflows it, and each dropped SYN costs its client a 1 s retransmission. Listening
// again on the bound socket raises the backlog (Linux updates it in place). The socket is a
// protected member; a pointer to it, formed in a derived class, reaches it in any Server.
struct ListeningSocket : httplib::Server {
  static constexpr auto kMember = &ListeningSocket::svr_sock_;
};

bool RaiseListenBacklog(httplib::Server& server) {
  return ::listen(server.*ListeningSocket::kMember, SOMAXCONN) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

}  // namespace

std::vector<HttpRoute> HttpRpcRoutes() {
  std::vector<HttpRoute> routes;
  for (const RpcBinding& binding : RpcBindings()) routes.push_back(binding.route);
  return routes;
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

HttpApi::HttpApi(const ApiCalls* calls, ServerMetrics* metrics)
    : calls_(calls), metrics_(metrics) {}

HttpApi::~HttpApi() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpApi>> HttpApi::Start(const HttpApiOptions& options,
                                                        const ApiCalls* calls,
                                                        ServerMetrics* metrics) {
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("http threads: ", options.threads, " is below 1"));
  }
  if (!options.web_root.empty() && !IsDirectory(options.web_root)) {
    return absl::InvalidArgumentError(
        absl::StrCat("web_root: ", options.web_root, " is not a directory"));
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("http TLS needs both a certificate and a key");
  }
  auto api = std::unique_ptr<HttpApi>(new HttpApi(calls, metrics));
  if (options.tls_cert.empty()) {
    api->server_ = std::make_unique<httplib::Server>();
  } else {
    api->server_ = std::make_unique<httplib::SSLServer>(
        options.tls_cert.c_str(), options.tls_key.c_str(),
        options.tls_client_ca.empty() ? nullptr : options.tls_client_ca.c_str());
  }
  if (!api->server_->is_valid()) {
    return absl::InvalidArgumentError(absl::StrCat("http TLS: cannot use the certificate ",
                                                   options.tls_cert, " with the key ",
                                                   options.tls_key));
  }
  const int threads = options.threads;
  api->server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  api->server_->set_keep_alive_timeout(
      std::max<time_t>(1, absl::ToInt64Seconds(options.keep_alive_timeout)));
  // Enough requests a connection for a client's session; a worker is handed to the next waiting
  // connection when a connection closes or idles out.
  api->server_->set_keep_alive_max_count(1000);
  api->server_->set_tcp_nodelay(true);
  // httplib's own cap (413 before any handler): the largest limit of any method.
  int64_t largest_body = 0;
  for (const RequestKind kind :
       {RequestKind::kClassify, RequestKind::kSearch, RequestKind::kEmbed, RequestKind::kGetInfo,
        RequestKind::kClassifyBatch, RequestKind::kSearchBatch}) {
    largest_body = std::max(largest_body, calls->MaxRequestBytes(kind));
  }
  api->server_->set_payload_max_length(static_cast<size_t>(largest_body * kJsonBytesPerWireByte));
  if (!options.web_root.empty()) {
    api->server_->set_mount_point("/", options.web_root, {{"Cache-Control", "no-cache"}});
  }
  api->openapi_ = OpenApiDocument(HttpRpcRoutes());
  api->AddRoutes();
  api->port_ = options.port == 0
                   ? api->server_->bind_to_any_port(options.host)
                   : (api->server_->bind_to_port(options.host, options.port) ? options.port : -1);
  if (api->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for HTTP on ", options.host, ":", options.port));
  }
  if (!RaiseListenBacklog(*api->server_)) {
    return absl::UnavailableError("cannot raise the HTTP listen backlog");
  }
  httplib::Server* server = api->server_.get();
  api->listener_ = std::thread([server] { server->listen_after_bind(); });
  return api;
}

void HttpApi::AddRoutes() {
  for (RpcBinding& binding : RpcBindings()) {
    const ApiCalls* calls = calls_;
    ServerMetrics* metrics = metrics_;
    httplib::Server::Handler handler = [calls, metrics, serve = std::move(binding.serve)](
                                           const httplib::Request& http, httplib::Response& out) {
      serve(*calls, metrics, http, out);
    };
    if (binding.route.http_method == std::string("GET")) {
      server_->Get(binding.route.path, std::move(handler));
    } else {
      server_->Post(binding.route.path, std::move(handler));
    }
  }
  // Liveness: the process answers. Readiness: a bundle is loaded. Neither needs a token.
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& out) {
    out.set_content("{\"status\":\"live\"}", kJson);
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& out) {
    const auto backend = calls_->Backend();
    if (!backend.ok()) {
      WriteError(backend.status(), HttpStatusFor(backend.status().code()), out);
      return;
    }
    out.set_content("{\"status\":\"ready\"}", kJson);
  });
  server_->Get("/v1/openapi.json", [this](const httplib::Request&, httplib::Response& out) {
    out.set_content(openapi_, kJson);
  });
  // Answers without a body (no route, a body over the largest limit, a malformed request line)
  // get the same JSON error body as the API's own errors.
  server_->set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& http,
                                                                     httplib::Response& out) {
    if (!out.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    absl::Status status;
    switch (out.status) {
      case 404:
        status = absl::NotFoundError(absl::StrCat("no route for ", http.method, " ", http.path));
        break;
      case 413:
        status = absl::ResourceExhaustedError("request body: larger than any method accepts");
        break;
      default:
        status = absl::InvalidArgumentError(
            absl::StrCat("the HTTP request was refused (status ", out.status, ")"));
    }
    WriteError(status, out.status, out);
    return httplib::Server::HandlerResponse::Handled;
  }));
  server_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& out, std::exception_ptr) {
        WriteError(absl::InternalError("the server failed on this request"), 500, out);
      });
}

void HttpApi::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (server_ != nullptr) server_->stop();
  if (listener_.joinable()) listener_.join();
}

}  // namespace sketch
