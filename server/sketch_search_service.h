// SketchSearchService: the gRPC face of the domain, on gRPC's callback (reactor) API. Each method
// receives its request as bytes, bounds what decoding it can cost (per-method size limit,
// CheckRequestWire) before decoding it, checks that the call is still wanted, converts the request
// (validating it) on the calling gRPC thread, hands it to the Classifier or Searcher and returns;
// the answer is converted, encoded and the call finished (ToGrpcStatus) from the callback the
// domain calls when the model (and, for a search, the index) has run. No model or index code here.
//
// A call waiting for the model holds no thread: it is a queued item of the DynamicBatcher, so the
// number of calls in flight is bounded by the batcher's queue, not by a thread pool. The work
// after the model runs on the batcher's worker (a classification's top-k: cheap) or on the
// backend's search pool (index searches), never blocking gRPC's event threads.
#ifndef SKETCH_SERVER_SKETCH_SEARCH_SERVICE_H_
#define SKETCH_SERVER_SKETCH_SEARCH_SERVICE_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/call_context.h"
#include "server/metrics.h"
#include "server/request_limits.h"
#include "server/search_backend.h"
#include "server/wire_check.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch {

// Trailing metadata on every SketchSearch call that reached a loaded bundle: the hash
// (GetInfo.bundle_hash) of the bundle that answered it. A hot swap (BundleReloader) changes the
// bundle between calls, never within one.
inline constexpr char kBundleHashTrailer[] = "sketchsearch-bundle-hash";

// The deadline and cancellation of a server call, for the domain. `context` must outlive every
// use of the result (a callback call's context lives until the call is finished).
CallContext MakeCallContext(const grpc::ServerContextBase& context);

// Every method of sketchsearch.v1.SketchSearch as a callback method on encoded messages: the
// service decodes requests itself, after checking what decoding them would cost.
using RawSketchSearchService = sketchsearch::v1::SketchSearch::WithRawCallbackMethod_Classify<
    sketchsearch::v1::SketchSearch::WithRawCallbackMethod_Search<
        sketchsearch::v1::SketchSearch::WithRawCallbackMethod_Embed<
            sketchsearch::v1::SketchSearch::WithRawCallbackMethod_GetInfo<
                sketchsearch::v1::SketchSearch::WithRawCallbackMethod_ClassifyBatch<
                    sketchsearch::v1::SketchSearch::WithRawCallbackMethod_SearchBatch<
                        sketchsearch::v1::SketchSearch::Service>>>>>>;

class SketchSearchService final : public RawSketchSearchService {
 public:
  // `metrics` (may be null) must outlive the service. `max_message_bytes` is the server's receive
  // limit: reported, and the batches' limit (single-drawing methods have a smaller one derived
  // from `limits`, MaxRequestBytes).
  // With `auth_tokens`, every call must carry "authorization: Bearer <one of them>"
  // (UNAUTHENTICATED, before anything else is looked at).
  SketchSearchService(const RequestLimits& limits, int max_message_bytes, ServerMetrics* metrics,
                      std::vector<std::string> auth_tokens = {});

  // Installs (or, with null, removes) the loaded model and index. Until one is installed every
  // method answers UNAVAILABLE. A call holds the backend it started with (a shared reference)
  // until its work is handed to that backend, which answers it and names itself in the
  // kBundleHashTrailer; calls in flight therefore finish on the old backend (its Shutdown, once
  // the last reference is gone, drains them). Thread-safe.
  void SetBackend(std::shared_ptr<const SearchBackend> backend);

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Embed(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetInfo(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ClassifyBatch(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* SearchBatch(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;

 private:
  // One call on its way: finishing it records its metrics and maps its status. Copyable, so the
  // domain's callbacks can carry it; Finish must be called exactly once over all copies.
  class Call {
   public:
    Call(grpc::CallbackServerContext* context, const char* method, ServerMetrics* metrics);
    void Finish(const absl::Status& status) const;
    grpc::ServerUnaryReactor* reactor() const { return reactor_; }

   private:
    grpc::ServerUnaryReactor* reactor_;
    const char* method_;
    absl::Time start_;
    ServerMetrics* metrics_;
  };

  // The installed backend, or Unavailable.
  absl::StatusOr<std::shared_ptr<const SearchBackend>> Backend() const;

  // Called exactly once when a started call's response is complete (or failed).
  using Done = std::function<void(absl::Status)>;

  // Checks the encoded request of `kind` (size, CheckRequestWire), decodes it and runs `start`
  // on it; `start`'s `done`, or its error, encodes the response into `wire_response` and
  // finishes the call. The decoded request and response live until then.
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Handle(
      grpc::CallbackServerContext* context, const char* method, RequestKind kind,
      const grpc::ByteBuffer* wire_request, grpc::ByteBuffer* wire_response,
      absl::Status (SketchSearchService::*start)(const SearchBackend&, const CallContext&,
                                                 const Request&, Response*, Done));

  // Each checks and converts the request and starts the domain's work on `backend`, which calls
  // `done`. An error returned means nothing was started (and `done` is not called).
  absl::Status StartClassify(const SearchBackend& backend, const CallContext& context,
                             const sketchsearch::v1::ClassifyRequest& request,
                             sketchsearch::v1::ClassifyResponse* response, Done done);
  absl::Status StartSearch(const SearchBackend& backend, const CallContext& context,
                           const sketchsearch::v1::SearchRequest& request,
                           sketchsearch::v1::SearchResponse* response, Done done);
  absl::Status StartEmbed(const SearchBackend& backend, const CallContext& context,
                          const sketchsearch::v1::EmbedRequest& request,
                          sketchsearch::v1::EmbedResponse* response, Done done);
  absl::Status StartGetInfo(const SearchBackend& backend, const CallContext& context,
                            const sketchsearch::v1::GetInfoRequest& request,
                            sketchsearch::v1::GetInfoResponse* response, Done done);
  absl::Status StartClassifyBatch(const SearchBackend& backend, const CallContext& context,
                                  const sketchsearch::v1::ClassifyBatchRequest& request,
                                  sketchsearch::v1::ClassifyBatchResponse* response, Done done);
  absl::Status StartSearchBatch(const SearchBackend& backend, const CallContext& context,
                                const sketchsearch::v1::SearchBatchRequest& request,
                                sketchsearch::v1::SearchBatchResponse* response, Done done);

  const RequestLimits limits_;
  const int max_message_bytes_;
  const std::vector<std::string> auth_tokens_;
  ServerMetrics* const metrics_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const SearchBackend> backend_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sketch

#endif  // SKETCH_SERVER_SKETCH_SEARCH_SERVICE_H_
