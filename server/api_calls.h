// ApiCalls: the transport-neutral part of every sketchsearch.v1 method — the installed backend,
// the bearer-token check, each method's receive limit and wire check, and the Start functions that
// validate and convert a decoded request and hand it to the Classifier or Searcher. The gRPC
// service (server/sketch_search_service.h) and the HTTP/JSON API (server/http_api.h) are thin
// adapters over one ApiCalls, so both protocols run the same checks on the same batcher.
#ifndef SKETCH_SERVER_API_CALLS_H_
#define SKETCH_SERVER_API_CALLS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/call_context.h"
#include "server/request_limits.h"
#include "server/search_backend.h"
#include "server/wire_check.h"
#include "sketchsearch/v1/sketch_search.pb.h"

namespace google::protobuf::io {
class ZeroCopyInputStream;
}  // namespace google::protobuf::io

namespace sketch {

// Names the bundle that answered a call: trailing metadata on every gRPC call, and a response
// header on every HTTP call, that reached a loaded bundle — its hash (GetInfo.bundle_hash). A hot
// swap (BundleReloader) changes the bundle between calls, never within one.
inline constexpr char kBundleHashTrailer[] = "sketchsearch-bundle-hash";

class ApiCalls {
 public:
  // Called exactly once when a started call's response is complete (or failed).
  using Done = std::function<void(absl::Status)>;

  // `max_message_bytes` is the server's receive limit: reported by GetInfo, and the batches'
  // limit (single-drawing methods have a smaller one, MaxRequestBytes). With `auth_tokens`, every
  // call must be authorized (Authorize).
  ApiCalls(const RequestLimits& limits, int max_message_bytes,
           std::vector<std::string> auth_tokens = {});

  ApiCalls(const ApiCalls&) = delete;
  ApiCalls& operator=(const ApiCalls&) = delete;

  // Installs (or, with null, removes) the loaded model and index. Calls in flight finish on the
  // backend they started with (its Shutdown drains them). Thread-safe.
  void SetBackend(std::shared_ptr<const SearchBackend> backend);
  // The installed backend, or Unavailable while none is. A call takes it once, at its start, and
  // passes it to Start. Thread-safe.
  absl::StatusOr<std::shared_ptr<const SearchBackend>> Backend() const;

  // OK when no tokens are configured or `authorization` (the header's value; null when the call
  // has none) is "Bearer <one of them>"; Unauthenticated otherwise. Thread-safe.
  absl::Status Authorize(const std::string* authorization) const;

  // The largest encoded request of `kind` accepted (the server's receive limit for batches).
  int64_t MaxRequestBytes(RequestKind kind) const;
  // What decoding the encoded request of `kind` (`size` bytes, read from `input`) may cost,
  // before it is decoded: ResourceExhausted naming `method` when it is over MaxRequestBytes,
  // else CheckRequestWire's verdict. Thread-safe.
  absl::Status CheckEncodedRequest(RequestKind kind, const char* method, int64_t size,
                                   google::protobuf::io::ZeroCopyInputStream* input) const;

  // Each checks the call's deadline, validates and converts the request and starts the domain's
  // work on `backend`, which fills `response` (it must live until then) and calls `done`. An
  // error returned means nothing was started and `done` will not be called. Thread-safe.
  absl::Status Start(const SearchBackend& backend, const CallContext& context,
                     const sketchsearch::v1::ClassifyRequest& request,
                     sketchsearch::v1::ClassifyResponse* response, Done done) const;
  absl::Status Start(const SearchBackend& backend, const CallContext& context,
                     const sketchsearch::v1::SearchRequest& request,
                     sketchsearch::v1::SearchResponse* response, Done done) const;
  absl::Status Start(const SearchBackend& backend, const CallContext& context,
                     const sketchsearch::v1::EmbedRequest& request,
                     sketchsearch::v1::EmbedResponse* response, Done done) const;
  absl::Status Start(const SearchBackend& backend, const CallContext& context,
                     const sketchsearch::v1::GetInfoRequest& request,
                     sketchsearch::v1::GetInfoResponse* response, Done done) const;
  absl::Status Start(const SearchBackend& backend, const CallContext& context,
                     const sketchsearch::v1::ClassifyBatchRequest& request,
                     sketchsearch::v1::ClassifyBatchResponse* response, Done done) const;
  absl::Status Start(const SearchBackend& backend, const CallContext& context,
                     const sketchsearch::v1::SearchBatchRequest& request,
                     sketchsearch::v1::SearchBatchResponse* response, Done done) const;

  const RequestLimits& limits() const { return limits_; }

 private:
  const RequestLimits limits_;
  const int max_message_bytes_;
  const std::vector<std::string> auth_tokens_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const SearchBackend> backend_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sketch

#endif  // SKETCH_SERVER_API_CALLS_H_
