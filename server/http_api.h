// HttpApi: sketchsearch.v1 as HTTP/JSON beside gRPC, for browsers and for back ends that do not
// speak gRPC. Every RPC is `POST /v1/<method>` (GetInfo: `GET /v1/info`) whose bodies are the
// proto3 JSON mapping of the same messages (protobuf's json_util); `GET /healthz` (live), `GET
// /readyz` (a bundle is loaded), `GET /v1/openapi.json` (generated from the proto descriptors,
// server/openapi.h) and, with a web root, its static files at `/` (the drawing page, web/).
//
// The same checks as gRPC, through the same ApiCalls and the same batcher: the bearer token; the
// body against the method's receive limit scaled by kJsonBytesPerWireByte (413); the JSON parse
// (400 naming the field); the re-encoded request against the method's wire limits
// (ApiCalls::CheckEncodedRequest: 413 when too large, 400 naming the field); the deadline
// (`X-Request-Timeout-Ms` header or `?timeout_ms=`); then ApiCalls::Start. Errors are
// {"error": {"code": "INVALID_ARGUMENT", "message": "...", "http_status": 400}} (HttpStatusFor).
//
// Threads: cpp-httplib serves each connection on one of `threads` workers, which blocks while its
// call waits for the model (AwaitResult): unlike gRPC's callback service, a waiting HTTP call
// holds a thread, and at most `threads` connections are served at once (more wait for a worker).
#ifndef SKETCH_SERVER_HTTP_API_H_
#define SKETCH_SERVER_HTTP_API_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/api_calls.h"
#include "server/metrics.h"

namespace google::protobuf {
class Descriptor;
}  // namespace google::protobuf

namespace httplib {
class Server;
}  // namespace httplib

namespace sketch {

// A JSON body may be this many times the method's protobuf receive limit (MaxRequestBytes): a
// float is 4 bytes on the wire and up to ~12 characters in JSON ("-12345.678,"), a stroke's
// framing {"x":[],"y":[],"t":[]} ~20 bytes against ~6. The re-encoded request then meets the
// wire limits exactly.
inline constexpr int kJsonBytesPerWireByte = 4;

// One route of the API: what the OpenAPI document describes and what the server answers.
struct HttpRoute {
  const char* http_method;  // "GET" or "POST"
  const char* path;         // "/v1/classify"
  const char* rpc;          // the sketchsearch.v1.SketchSearch method, e.g. "Classify"
  const google::protobuf::Descriptor* request;
  const google::protobuf::Descriptor* response;
};

// The RPC routes, in the proto's method order.
std::vector<HttpRoute> HttpRpcRoutes();

// The HTTP status of a call that ended with `code` (google.rpc.Code's mapping, except
// FAILED_PRECONDITION: 409 Conflict, since the request is well-formed but the loaded bundle
// cannot serve it, e.g. include_drawings on a bundle without drawings). A body over the size
// limit is 413, which the handler decides, not this mapping.
int HttpStatusFor(absl::StatusCode code);

struct HttpApiOptions {
  std::string host = "127.0.0.1";
  // 0 picks a free port (HttpApi::port()).
  int port = 0;
  // PEM certificate chain and key: serve HTTPS (Debian's cpp-httplib is built with OpenSSL);
  // with a client CA, clients must present a certificate it signed (mutual TLS).
  std::string tls_cert, tls_key, tls_client_ca;
  // Workers serving connections; each blocks while its call waits for the model.
  int threads = 32;
  // Directory of the static page served at "/" (index.html); empty: none.
  std::string web_root;
  // An idle keep-alive connection holds its worker this long (and delays Stop as much).
  absl::Duration keep_alive_timeout = absl::Seconds(2);
};

class HttpApi {
 public:
  // Binds and starts serving in the background. `calls` and `metrics` (may be null) must outlive
  // the HttpApi. InvalidArgument for bad options (threads < 1, a web_root that is not a
  // directory, unreadable TLS files), Unavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpApi>> Start(const HttpApiOptions& options,
                                                        const ApiCalls* calls,
                                                        ServerMetrics* metrics);
  // Stop().
  ~HttpApi();

  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  int port() const { return port_; }

  // Closes the listening socket and waits for the requests in flight to be answered (idle
  // keep-alive connections are closed within keep_alive_timeout). Idempotent; thread-safe.
  void Stop();

 private:
  HttpApi(const ApiCalls* calls, ServerMetrics* metrics);

  // Registers every route on server_.
  void AddRoutes();

  const ApiCalls* const calls_;
  ServerMetrics* const metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  int port_ = 0;
  std::string openapi_;  // the document, generated once
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_HTTP_API_H_
