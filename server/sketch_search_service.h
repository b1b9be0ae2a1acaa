// SketchSearchService: the gRPC face of the domain, on gRPC's callback (reactor) API. Each method
// receives its request as bytes, checks the caller's token, bounds what decoding it can cost
// (ApiCalls::CheckEncodedRequest) before decoding it, and hands the decoded request to the
// transport-neutral ApiCalls (server/api_calls.h), which validates and converts it on the calling
// gRPC thread and starts the Classifier or Searcher; the answer is encoded and the call finished
// (ToGrpcStatus) from the callback the domain calls when the model (and, for a search, the index)
// has run. No model or index code here; the HTTP/JSON API (server/http_api.h) is the same
// adapter for another protocol.
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

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/api_calls.h"
#include "server/call_context.h"
#include "server/metrics.h"
#include "server/wire_check.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch {

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
  // `calls` holds the backend, the limits and the tokens; it and `metrics` (may be null) must
  // outlive the service.
  SketchSearchService(const ApiCalls* calls, ServerMetrics* metrics);

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

  // Checks the token and the encoded request of `kind` (ApiCalls::CheckEncodedRequest), decodes
  // it and starts it (ApiCalls::Start) on the installed backend; the domain's `done`, or the
  // error, encodes the response into `wire_response` and finishes the call. The decoded request
  // and response live until then.
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Handle(grpc::CallbackServerContext* context, const char* method,
                                   RequestKind kind, const grpc::ByteBuffer* wire_request,
                                   grpc::ByteBuffer* wire_response);

  const ApiCalls* const calls_;
  ServerMetrics* const metrics_;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_SKETCH_SEARCH_SERVICE_H_
