// SketchClient: the SketchSearch stub behind a small synchronous API — every call carries a
// deadline and failures come back as absl::Status with the server's code and message. Also the
// health check client and the channel the programs use.
#ifndef SKETCH_CLIENT_SKETCH_CLIENT_H_
#define SKETCH_CLIENT_SKETCH_CLIENT_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch {

// Insecure channel to `target` ("host:port", or any gRPC name such as "dns:///name:port"; TLS, if
// any, terminates in front of the server) that accepts responses up to `max_receive_bytes`
// (full-index rankings are large) and balances calls round-robin over every resolved address.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           int max_receive_bytes = 256 << 20);

// The absl::Status of a finished call: same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

class SketchClient {
 public:
  // `stub` must outlive the client. Each call gets `deadline` from the moment it starts.
  SketchClient(sketchsearch::v1::SketchSearch::StubInterface* stub, absl::Duration deadline);

  // The RPCs of sketchsearch.v1.SketchSearch. Errors: the server's status (INVALID_ARGUMENT
  // naming the field, UNAVAILABLE while loading, ...), or UNAVAILABLE / DEADLINE_EXCEEDED from
  // the channel. Thread-safe (gRPC stubs are).
  absl::StatusOr<sketchsearch::v1::ClassifyResponse> Classify(
      const sketchsearch::v1::ClassifyRequest& request) const;
  absl::StatusOr<sketchsearch::v1::SearchResponse> Search(
      const sketchsearch::v1::SearchRequest& request) const;
  absl::StatusOr<sketchsearch::v1::EmbedResponse> Embed(
      const sketchsearch::v1::EmbedRequest& request) const;
  absl::StatusOr<sketchsearch::v1::GetInfoResponse> GetInfo() const;
  absl::StatusOr<sketchsearch::v1::ClassifyBatchResponse> ClassifyBatch(
      const sketchsearch::v1::ClassifyBatchRequest& request) const;
  absl::StatusOr<sketchsearch::v1::SearchBatchResponse> SearchBatch(
      const sketchsearch::v1::SearchBatchRequest& request) const;

  absl::Duration deadline() const { return deadline_; }

 private:
  sketchsearch::v1::SketchSearch::StubInterface* const stub_;
  const absl::Duration deadline_;
};

class HealthClient {
 public:
  // `stub` must outlive the client.
  HealthClient(grpc::health::v1::Health::StubInterface* stub, absl::Duration deadline);

  // The serving status of `service` ("" = the whole server). NOT_FOUND for a service the server
  // does not know; channel errors as for SketchClient. Thread-safe.
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Check(
      const std::string& service) const;

 private:
  grpc::health::v1::Health::StubInterface* const stub_;
  const absl::Duration deadline_;
};

}  // namespace sketch

#endif  // SKETCH_CLIENT_SKETCH_CLIENT_H_
