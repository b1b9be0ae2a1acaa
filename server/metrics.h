// ServerMetrics: the server's Prometheus metrics (requests and errors by method and code, call
// latency, model batch sizes, queue time, index size, bundle reloads and the bundle served) and
// the HTTP endpoint that serves them.
// Names follow Prometheus conventions: prefix sketchsearch_, base units, _total for counters,
// labels of low cardinality only (protocol, method, code).
#ifndef SKETCH_SERVER_METRICS_H_
#define SKETCH_SERVER_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/dynamic_batcher.h"

namespace sketch {

class ServerMetrics final : public BatcherObserver {
 public:
  ServerMetrics();
  ~ServerMetrics() override;

  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // Serves GET /metrics over HTTP on `address` ("0.0.0.0:9464"; port 0 picks a free port, see
  // port()). Unavailable when it cannot bind, FailedPrecondition when already started.
  absl::Status StartExposer(const std::string& address);
  // The exposer's port; 0 when not started.
  int port() const;

  // One finished call: counts it (and, if not OK, an error) under {protocol, method, code} and
  // observes its latency under {protocol, method}. `protocol` is "grpc" or "http" (the HTTP/JSON
  // API); `method` is the RPC's name either way. Thread-safe, like everything below.
  void RecordRpc(absl::string_view protocol, absl::string_view method, absl::StatusCode code,
                 absl::Duration latency);
  void SetIndexSize(int64_t size);
  // 1 while the health status is SERVING.
  void SetServing(bool serving);
  // One reload attempt (BundleReloader): counted under {result}, "ok" (a new bundle is serving),
  // "failed" (it did not load, verify or install; the old one serves on) or "unchanged" (the
  // bundle found is the one serving: nothing loaded).
  void RecordBundleReload(absl::string_view result);
  // The bundle now serving: sketchsearch_bundle_info{bundle_hash="<hash>"} is 1 for it alone.
  void SetBundleHash(const std::string& bundle_hash);

  // BatcherObserver.
  void OnQueueLength(int64_t length) override;
  void OnDequeue(absl::Duration queue_time) override;
  void OnSkipped(absl::StatusCode code) override;
  void OnRefused(absl::string_view reason, int drawings) override;
  void OnBatch(int size, absl::Duration compute_time) override;

  // The current values in the Prometheus text format (what /metrics answers).
  std::string Serialize() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_METRICS_H_
