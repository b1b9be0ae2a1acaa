// SketchClient: the SketchSearch stub behind a small synchronous API — every call carries a
// deadline, is re-sent with backoff when the server is briefly unavailable, and failures come back
// as absl::Status with the server's code and message. Also the health check client and the channel
// the programs use.
#ifndef SKETCH_CLIENT_SKETCH_CLIENT_H_
#define SKETCH_CLIENT_SKETCH_CLIENT_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch {

// Plaintext channel to `target` ("host:port", or any gRPC name such as "dns:///name:port") that
// accepts responses up to `max_receive_bytes` (full-index rankings are large), balances calls
// round-robin over every resolved address and re-dials a lost server at least every 2 s (first
// after 0.25 s).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           int max_receive_bytes = 256 << 20);

// How a client proves the server's identity and its own.
struct ChannelSecurity {
  bool tls = false;         // TLS to the server (plaintext otherwise)
  std::string ca;           // PEM CA bundle that signed the server's certificate; empty: the
                            // system's roots
  std::string cert, key;    // PEM client certificate and key, for servers that require them
  std::string server_name;  // the name the server's certificate must carry; empty: the target's
};

// MakeChannel's channel over TLS as `security` says (plaintext when !security.tls).
// InvalidArgument naming the file when one cannot be read or is not PEM, or when a client
// certificate comes without its key (or the reverse).
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target,
                                                           const ChannelSecurity& security,
                                                           int max_receive_bytes = 256 << 20);

// The bearer token in `path`: its first line that is neither blank nor a '#' comment, trimmed.
// InvalidArgument naming the file when it cannot be read or holds none.
absl::StatusOr<std::string> ReadBearerToken(const std::string& path);

// The absl::Status of a finished call: same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

// How SketchClient re-sends a call that failed with a code IsRetryable accepts. Every SketchSearch
// RPC only reads, so sending one again is always safe.
struct RetryOptions {
  int max_retries = 4;  // re-sends after the first attempt; 0: none
  // The wait before the n-th re-send is random in [b/2, b] (jitter: clients that failed together
  // do not come back together), b = min(initial_backoff * multiplier^(n-1), max_backoff).
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
  double multiplier = 2.0;

  // No re-sends: every failure is returned at once.
  static RetryOptions None() {
    RetryOptions none;
    none.max_retries = 0;
    return none;
  }
};

// The codes after which the server (or another replica) may answer the same call a moment later:
// UNAVAILABLE (no connection; the server loading or draining), RESOURCE_EXHAUSTED (its model queue
// is full) and CANCELLED (this client never cancels its calls; a server that stops cancels those
// that reach it as it shuts down or outlive its drain). Not DEADLINE_EXCEEDED: the call's time is
// spent.
bool IsRetryable(absl::StatusCode code);

// The wait before re-send number `retry` (1-based) for `unit` in [0, 1): the jitter's draw.
absl::Duration RetryBackoff(const RetryOptions& options, int retry, double unit);

class SketchClient {
 public:
  // `stub` must outlive the client. Each call gets `deadline` from the moment it starts, for all
  // its attempts and the waits between them together; `retry` says when to send it again. Callers
  // opt in (the `sketch` CLI does, --retries): by default nothing is re-sent, so that a caller
  // counting failures (bench/serving_bench.cc under overload) sees every one.
  // With `bearer_token`, every call carries "authorization: Bearer <token>" (servers started with
  // --auth-tokens-file require it).
  SketchClient(sketchsearch::v1::SketchSearch::StubInterface* stub, absl::Duration deadline,
               RetryOptions retry = RetryOptions::None(), std::string bearer_token = "");

  // The RPCs of sketchsearch.v1.SketchSearch. A call failing with a code IsRetryable accepts is
  // sent again (RetryOptions) while its deadline allows, each re-send waiting for the channel to
  // reconnect if it has to (gRPC's wait_for_ready); `retries`, when not null, receives how many
  // times it was (0: the first attempt answered). Errors: the server's status (INVALID_ARGUMENT
  // naming the field, UNAVAILABLE while loading, ...), or UNAVAILABLE / DEADLINE_EXCEEDED from
  // the channel; after re-sends the message says how many attempts were made, and the first
  // error when the last differs. Thread-safe (gRPC stubs are); a call waiting to be re-sent
  // blocks its thread.
  absl::StatusOr<sketchsearch::v1::ClassifyResponse> Classify(
      const sketchsearch::v1::ClassifyRequest& request, int* retries = nullptr) const;
  absl::StatusOr<sketchsearch::v1::SearchResponse> Search(
      const sketchsearch::v1::SearchRequest& request, int* retries = nullptr) const;
  absl::StatusOr<sketchsearch::v1::EmbedResponse> Embed(
      const sketchsearch::v1::EmbedRequest& request, int* retries = nullptr) const;
  absl::StatusOr<sketchsearch::v1::GetInfoResponse> GetInfo(int* retries = nullptr) const;
  absl::StatusOr<sketchsearch::v1::ClassifyBatchResponse> ClassifyBatch(
      const sketchsearch::v1::ClassifyBatchRequest& request, int* retries = nullptr) const;
  absl::StatusOr<sketchsearch::v1::SearchBatchResponse> SearchBatch(
      const sketchsearch::v1::SearchBatchRequest& request, int* retries = nullptr) const;

  // Waits until the server serves — the channel connects (gRPC's wait_for_ready holds the call
  // until then instead of failing it) and GetInfo answers (UNAVAILABLE while it loads is asked
  // again with the RetryOptions backoff, without their max_retries) — or `timeout` has passed:
  // then the last error (UNAVAILABLE or DEADLINE_EXCEEDED). For a replica that is still starting.
  absl::Status WaitUntilServing(absl::Duration timeout) const;

  absl::Duration deadline() const { return deadline_; }
  const RetryOptions& retry_options() const { return retry_; }

 private:
  sketchsearch::v1::SketchSearch::StubInterface* const stub_;
  const absl::Duration deadline_;
  const RetryOptions retry_;
  const std::string bearer_token_;
};

class HealthClient {
 public:
  // `stub` must outlive the client.
  HealthClient(grpc::health::v1::Health::StubInterface* stub, absl::Duration deadline);

  // The serving status of `service` ("" = the whole server). NOT_FOUND for a service the server
  // does not know; channel errors as for SketchClient, but never re-sent: a probe answers at once.
  // Thread-safe.
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Check(
      const std::string& service) const;

 private:
  grpc::health::v1::Health::StubInterface* const stub_;
  const absl::Duration deadline_;
};

}  // namespace sketch

#endif  // SKETCH_CLIENT_SKETCH_CLIENT_H_
