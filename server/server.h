// SketchServer: the assembled gRPC server — the SketchSearch service, gRPC's health service,
// server reflection and the metrics endpoint — in the two phases a real start-up has: listen
// first (health NOT_SERVING, calls UNAVAILABLE), then serve once the model and index are loaded.
//
// A server main is then:
//   BlockTerminationSignals();                       // server/termination.h, before any thread
//   auto server = SketchServer::Start(options);      // listening, NOT_SERVING
//   ... load the bundle ...; server->Serve(std::move(embedder), std::move(index), bundle);
//   WaitForTerminationSignal(reload);                // SIGTERM / SIGINT (SIGHUP: reload)
//   server->Shutdown(drain);                         // NOT_SERVING, drain, stop; then exit 0
// and, to take another bundle while serving, SwapBundle (BundleReloader in server/bundle_reloader.h
// calls it on SIGHUP or when the watched bundle changes).
#ifndef SKETCH_SERVER_SERVER_H_
#define SKETCH_SERVER_SERVER_H_

#include <grpcpp/channel.h>
#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "index/feature_index.h"
#include "server/api_calls.h"
#include "server/credentials.h"
#include "server/embedder.h"
#include "server/http_api.h"
#include "server/memory_trimmer.h"
#include "server/metrics.h"
#include "server/request_limits.h"
#include "server/search_backend.h"
#include "server/sketch_search_service.h"

namespace sketch {

// The name health checks ask about besides "" (the whole server).
inline constexpr char kSketchSearchServiceName[] = "sketchsearch.v1.SketchSearch";

struct ServerOptions {
  // host:port to listen on. Port 0 picks a free port (SketchServer::port()). Empty: in-process
  // channels only (tests).
  std::string address = "127.0.0.1:50051";
  // TLS for `address` (mutual TLS with a client CA); plaintext when no certificate is given.
  TlsFiles tls;
  // When not empty, every SketchSearch call must carry "authorization: Bearer <one of them>"
  // (UNAUTHENTICATED otherwise); health answers everyone. See ReadTokenFile.
  std::vector<std::string> auth_tokens;
  // gRPC server reflection (what grpcurl lists); it describes the public API, nothing else.
  bool reflection = true;
  // Largest request accepted (RESOURCE_EXHAUSTED above it). The drawing limits keep valid
  // requests far below; the default leaves room for a full SearchBatch of drawings.
  int max_message_bytes = 16 << 20;
  // Threads gRPC may use for synchronous services (its ResourceQuota): server reflection.
  // SketchSearch is a callback service whose calls hold no thread while the model works; the
  // calls in flight are bounded by the batcher's queue (BatcherOptions::max_queue_size).
  int max_threads = 64;
  // Connections older than this are closed gracefully (GOAWAY; calls in flight finish), so that
  // clients balancing over a DNS name re-resolve it and reach replicas added since they
  // connected. Infinite: never.
  absl::Duration max_connection_age = absl::InfiniteDuration();
  // How often freed memory is given back to the system (MemoryTrimmer); zero: never.
  absl::Duration memory_trim_interval = absl::Seconds(5);
  // Metrics endpoint, e.g. "127.0.0.1:9464" (port 0 picks); empty for none.
  std::string metrics_address;
  RequestLimits limits;
  BackendOptions backend;
  // The HTTP/JSON API and the web page beside gRPC (server/http_api.h), with the same tokens,
  // limits and batcher; off unless serve_http.
  bool serve_http = false;
  HttpApiOptions http;
};

// InvalidArgument naming the first bad option.
absl::Status ValidateServerOptions(const ServerOptions& options);

class SketchServer {
 public:
  // Builds and starts the server: listening, health NOT_SERVING, every SketchSearch call
  // UNAVAILABLE until Serve. InvalidArgument for bad options, Unavailable when the address or the
  // metrics address cannot be bound.
  static absl::StatusOr<std::unique_ptr<SketchServer>> Start(const ServerOptions& options);
  // Shutdown with no drain time.
  ~SketchServer();

  SketchServer(const SketchServer&) = delete;
  SketchServer& operator=(const SketchServer&) = delete;

  // Installs the model and index (see SearchBackend::Create for the errors) and switches health
  // to SERVING. FailedPrecondition after Shutdown or when already serving. Thread-safe.
  absl::Status Serve(std::unique_ptr<Embedder> embedder, std::unique_ptr<const FeatureIndex> index,
                     BundleInfo bundle);

  // Replaces the serving model and index with new ones, without a failed call: the new backend
  // is built (see SearchBackend::Create), then installed atomically; calls that took the old one
  // finish on it, and once the last of them has handed its work over the old backend drains (its
  // queued drawings and searches still run) and is destroyed, before SwapBundle returns. Health
  // stays SERVING. On an error the old backend serves on: FailedPrecondition before Serve or
  // after Shutdown, InvalidArgument for an inconsistent model and index. One swap at a time (a
  // second waits); thread-safe.
  absl::Status SwapBundle(std::unique_ptr<Embedder> embedder,
                          std::unique_ptr<const FeatureIndex> index, BundleInfo bundle);

  // The hash of the bundle serving now; empty before Serve. Thread-safe.
  std::string bundle_hash() const;

  // Health NOT_SERVING (load balancers stop sending), the HTTP API stops accepting and answers
  // its calls in flight, no new gRPC calls accepted, gRPC calls in flight get until `drain` has
  // passed to finish (then they are cancelled), the model batcher drains, the metrics endpoint
  // closes. Idempotent; thread-safe; blocks until done.
  void Shutdown(absl::Duration drain);

  // The port chosen for `address` (0 when listening on none).
  int port() const { return port_; }
  // The HTTP/JSON API's port (0 when it is off).
  int http_port() const { return http_ == nullptr ? 0 : http_->port(); }
  // The metrics endpoint's port (0 when there is none).
  int metrics_port() const { return metrics_.port(); }
  // A channel to this server that skips the network (tests, embedded clients).
  std::shared_ptr<grpc::Channel> InProcessChannel();

  ServerMetrics& metrics() { return metrics_; }

 private:
  explicit SketchServer(const ServerOptions& options);

  // A backend installed in the service, and how to take it back once no call uses it.
  struct Installed {
    std::shared_ptr<SearchBackend> shared;         // what the service and its calls hold
    std::unique_ptr<SearchBackend> owned;          // the backend itself
    std::shared_ptr<absl::Notification> released;  // notified when `shared`'s last copy is gone
  };
  static Installed Install(std::unique_ptr<SearchBackend> backend);
  // Drops `installed.shared`, waits until no call holds the backend, then drains it and returns
  // it (null when there was none).
  static std::unique_ptr<SearchBackend> Retire(Installed installed);

  absl::StatusOr<std::unique_ptr<SearchBackend>> CreateBackend(
      std::unique_ptr<Embedder> embedder, std::unique_ptr<const FeatureIndex> index,
      BundleInfo bundle);
  // The service and the metrics take `installed` (mu_ held).
  void Publish(const Installed& installed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetServingStatus(bool serving);

  const ServerOptions options_;
  ServerMetrics metrics_;
  ApiCalls calls_;
  SketchSearchService service_;
  std::unique_ptr<MemoryTrimmer> trimmer_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpApi> http_;
  int port_ = 0;

  // Held through a whole SwapBundle or Shutdown: one swap at a time, and Shutdown returns only
  // once a swap's old backend is gone too (it reports to metrics_, which dies with the server).
  absl::Mutex swap_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  Installed backend_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // The last backend, drained by Shutdown and kept until the server goes (what it points to, the
  // embedder, stays valid for the caller that handed it over).
  std::unique_ptr<SearchBackend> drained_backend_ ABSL_GUARDED_BY(swap_mu_);
};

}  // namespace sketch

#endif  // SKETCH_SERVER_SERVER_H_
