// SketchSearchService: the gRPC face of the domain. Each method checks the call is still wanted,
// converts the request (validating it), calls the Classifier or Searcher, converts the answer
// and finishes with ToGrpcStatus. No model or index code here.
//
// A synchronous service on purpose: handlers block while the model batcher works, and the sync
// server runs each call on its own thread from a bounded pool (ServerOptions::max_threads).
// Blocking inside callback-API reactors would stall gRPC's shared event threads instead.
#ifndef SKETCH_SERVER_SKETCH_SEARCH_SERVICE_H_
#define SKETCH_SERVER_SKETCH_SEARCH_SERVICE_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/call_context.h"
#include "server/metrics.h"
#include "server/request_limits.h"
#include "server/search_backend.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch {

// The deadline and cancellation of a server call, for the domain.
CallContext MakeCallContext(const grpc::ServerContext& context);

class SketchSearchService final : public sketchsearch::v1::SketchSearch::Service {
 public:
  // `metrics` (may be null) must outlive the service. `max_message_bytes` is only reported.
  SketchSearchService(const RequestLimits& limits, int max_message_bytes, ServerMetrics* metrics);

  // Installs (or, with null, removes) the loaded model and index. Until one is installed every
  // method answers UNAVAILABLE. Calls in flight keep the backend they started with alive.
  // Thread-safe.
  void SetBackend(std::shared_ptr<const SearchBackend> backend);

  grpc::Status Classify(grpc::ServerContext* context,
                        const sketchsearch::v1::ClassifyRequest* request,
                        sketchsearch::v1::ClassifyResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context, const sketchsearch::v1::SearchRequest* request,
                      sketchsearch::v1::SearchResponse* response) override;
  grpc::Status Embed(grpc::ServerContext* context, const sketchsearch::v1::EmbedRequest* request,
                     sketchsearch::v1::EmbedResponse* response) override;
  grpc::Status GetInfo(grpc::ServerContext* context,
                       const sketchsearch::v1::GetInfoRequest* request,
                       sketchsearch::v1::GetInfoResponse* response) override;
  grpc::Status ClassifyBatch(grpc::ServerContext* context,
                             const sketchsearch::v1::ClassifyBatchRequest* request,
                             sketchsearch::v1::ClassifyBatchResponse* response) override;
  grpc::Status SearchBatch(grpc::ServerContext* context,
                           const sketchsearch::v1::SearchBatchRequest* request,
                           sketchsearch::v1::SearchBatchResponse* response) override;

 private:
  // The installed backend, or Unavailable.
  absl::StatusOr<std::shared_ptr<const SearchBackend>> Backend() const;
  // Records the call's metrics and maps its status.
  grpc::Status Finish(const char* method, absl::Time start, const absl::Status& status);

  absl::Status DoClassify(const CallContext& call, const sketchsearch::v1::ClassifyRequest& request,
                          sketchsearch::v1::ClassifyResponse* response);
  absl::Status DoSearch(const CallContext& call, const sketchsearch::v1::SearchRequest& request,
                        sketchsearch::v1::SearchResponse* response);
  absl::Status DoEmbed(const CallContext& call, const sketchsearch::v1::EmbedRequest& request,
                       sketchsearch::v1::EmbedResponse* response);
  absl::Status DoGetInfo(sketchsearch::v1::GetInfoResponse* response);
  absl::Status DoClassifyBatch(const CallContext& call,
                               const sketchsearch::v1::ClassifyBatchRequest& request,
                               sketchsearch::v1::ClassifyBatchResponse* response);
  absl::Status DoSearchBatch(const CallContext& call,
                             const sketchsearch::v1::SearchBatchRequest& request,
                             sketchsearch::v1::SearchBatchResponse* response);

  const RequestLimits limits_;
  const int max_message_bytes_;
  ServerMetrics* const metrics_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const SearchBackend> backend_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sketch

#endif  // SKETCH_SERVER_SKETCH_SEARCH_SERVICE_H_
