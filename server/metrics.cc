#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace sketch {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Functions, not globals: no static objects with destructors.
// 0.5 ms .. 10 s: a small Classify up to a full-index ranking under load.
Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
// 50 us .. 1 s: queueing is bounded by the batch delay unless the model falls behind.
Histogram::BucketBoundaries QueueBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}
Histogram::BucketBoundaries BatchSizeBuckets() { return {1, 2, 4, 8, 16, 32, 64, 128, 256}; }

}  // namespace

struct ServerMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& requests =
      BuildCounter()
          .Name("sketchsearch_requests_total")
          .Help("Calls finished, by protocol (grpc, http), method and status code.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& errors =
      BuildCounter()
          .Name("sketchsearch_request_errors_total")
          .Help(
              "Calls finished with a status other than OK, by protocol, method and status "
              "code.")
          .Register(*registry);
  prometheus::Family<Histogram>& latency =
      BuildHistogram()
          .Name("sketchsearch_request_duration_seconds")
          .Help("Time from receiving a call to finishing it, by protocol and method.")
          .Register(*registry);
  Histogram& queue_time = BuildHistogram()
                              .Name("sketchsearch_model_queue_duration_seconds")
                              .Help("Time a drawing waited in the model batcher's queue.")
                              .Register(*registry)
                              .Add({}, QueueBuckets());
  Histogram& batch_size = BuildHistogram()
                              .Name("sketchsearch_model_batch_size")
                              .Help("Drawings per model run.")
                              .Register(*registry)
                              .Add({}, BatchSizeBuckets());
  Histogram& batch_time = BuildHistogram()
                              .Name("sketchsearch_model_batch_duration_seconds")
                              .Help("Time the model took for one batch.")
                              .Register(*registry)
                              .Add({}, LatencyBuckets());
  prometheus::Family<prometheus::Counter>& skipped =
      BuildCounter()
          .Name("sketchsearch_model_skipped_requests_total")
          .Help(
              "Queued drawings dropped unrun because the caller's deadline passed or it "
              "cancelled, by status code.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& refused =
      BuildCounter()
          .Name("sketchsearch_model_refused_calls_total")
          .Help(
              "Calls turned away whole at the model queue (RESOURCE_EXHAUSTED), by reason: "
              "queue_full, queue_wait (estimated wait over the server's limit), deadline "
              "(estimated wait past the call's deadline).")
          .Register(*registry);
  prometheus::Gauge& queue_length =
      BuildGauge()
          .Name("sketchsearch_model_queue_length")
          .Help(
              "Drawings waiting in the model batcher's queue: the calls in flight that wait "
              "for the model (they hold no thread).")
          .Register(*registry)
          .Add({});
  prometheus::Gauge& index_size = BuildGauge()
                                      .Name("sketchsearch_index_size")
                                      .Help("Sketches in the loaded feature index.")
                                      .Register(*registry)
                                      .Add({});
  prometheus::Family<prometheus::Counter>& reloads =
      BuildCounter()
          .Name("sketchsearch_bundle_reloads_total")
          .Help(
              "Bundle reloads (SIGHUP, --watch), by result: ok (swapped in), failed (did not "
              "load, verify or install; the old bundle serves on), unchanged (already serving).")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& bundle_info =
      BuildGauge()
          .Name("sketchsearch_bundle_info")
          .Help("1 for the bundle now serving, labelled with its hash (GetInfo.bundle_hash).")
          .Register(*registry);
  prometheus::Gauge& serving = BuildGauge()
                                   .Name("sketchsearch_serving")
                                   .Help("1 while the server reports SERVING, else 0.")
                                   .Register(*registry)
                                   .Add({});

  absl::Mutex bundle_mu;
  prometheus::Gauge* bundle ABSL_GUARDED_BY(bundle_mu) = nullptr;

  absl::Mutex exposer_mu;
  std::unique_ptr<prometheus::Exposer> exposer ABSL_GUARDED_BY(exposer_mu);
  int port ABSL_GUARDED_BY(exposer_mu) = 0;
};

ServerMetrics::ServerMetrics() : impl_(std::make_unique<Impl>()) {
  // Every result from the start, so that a rate or an alert on "failed" sees its first one.
  for (const char* result : {"ok", "failed", "unchanged"}) {
    impl_->reloads.Add({{"result", result}});
  }
}
ServerMetrics::~ServerMetrics() = default;

absl::Status ServerMetrics::StartExposer(const std::string& address) {
  absl::MutexLock lock(&impl_->exposer_mu);
  if (impl_->exposer != nullptr) {
    return absl::FailedPreconditionError("the metrics endpoint is already running");
  }
  // prometheus-cpp reports bind failures by throwing; nothing else here calls it fallibly.
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(address);
    exposer->RegisterCollectable(impl_->registry);
    const std::vector<int> ports = exposer->GetListeningPorts();
    impl_->port = ports.empty() ? 0 : ports[0];
    impl_->exposer = std::move(exposer);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  return absl::OkStatus();
}

int ServerMetrics::port() const {
  absl::MutexLock lock(&impl_->exposer_mu);
  return impl_->port;
}

void ServerMetrics::RecordRpc(absl::string_view protocol, absl::string_view method,
                              absl::StatusCode code, absl::Duration latency) {
  const prometheus::Labels labels = {{"protocol", std::string(protocol)},
                                     {"method", std::string(method)},
                                     {"code", absl::StatusCodeToString(code)}};
  impl_->requests.Add(labels).Increment();
  if (code != absl::StatusCode::kOk) impl_->errors.Add(labels).Increment();
  impl_->latency
      .Add({{"protocol", std::string(protocol)}, {"method", std::string(method)}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(latency));
}

void ServerMetrics::SetIndexSize(int64_t size) { impl_->index_size.Set(static_cast<double>(size)); }

void ServerMetrics::SetServing(bool serving) { impl_->serving.Set(serving ? 1 : 0); }

void ServerMetrics::RecordBundleReload(absl::string_view result) {
  impl_->reloads.Add({{"result", std::string(result)}}).Increment();
}

void ServerMetrics::SetBundleHash(const std::string& bundle_hash) {
  absl::MutexLock lock(&impl_->bundle_mu);
  if (impl_->bundle != nullptr) impl_->bundle_info.Remove(impl_->bundle);
  impl_->bundle = &impl_->bundle_info.Add({{"bundle_hash", bundle_hash}});
  impl_->bundle->Set(1);
}

void ServerMetrics::OnQueueLength(int64_t length) {
  impl_->queue_length.Set(static_cast<double>(length));
}

void ServerMetrics::OnDequeue(absl::Duration queue_time) {
  impl_->queue_time.Observe(absl::ToDoubleSeconds(queue_time));
}

void ServerMetrics::OnSkipped(absl::StatusCode code) {
  impl_->skipped.Add({{"code", absl::StatusCodeToString(code)}}).Increment();
}

void ServerMetrics::OnRefused(absl::string_view reason, int /*drawings*/) {
  impl_->refused.Add({{"reason", std::string(reason)}}).Increment();
}

void ServerMetrics::OnBatch(int size, absl::Duration compute_time) {
  impl_->batch_size.Observe(size);
  impl_->batch_time.Observe(absl::ToDoubleSeconds(compute_time));
}

std::string ServerMetrics::Serialize() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace sketch
