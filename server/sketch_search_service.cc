#include "server/sketch_search_service.h"

#include <utility>

#include "absl/time/clock.h"
#include "core/status_macros.h"
#include "server/proto_convert.h"
#include "server/status_conversion.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

}  // namespace

CallContext MakeCallContext(const grpc::ServerContext& context) {
  CallContext call;
  call.deadline = absl::FromChrono(context.deadline());
  // IsCancelled is thread-safe for sync and callback servers; the batcher polls it when it
  // dequeues the request.
  call.is_cancelled = [&context] { return context.IsCancelled(); };
  return call;
}

SketchSearchService::SketchSearchService(const RequestLimits& limits, int max_message_bytes,
                                         ServerMetrics* metrics)
    : limits_(limits), max_message_bytes_(max_message_bytes), metrics_(metrics) {}

void SketchSearchService::SetBackend(std::shared_ptr<const SearchBackend> backend) {
  absl::MutexLock lock(&mu_);
  backend_ = std::move(backend);
}

absl::StatusOr<std::shared_ptr<const SearchBackend>> SketchSearchService::Backend() const {
  absl::MutexLock lock(&mu_);
  if (backend_ == nullptr) {
    return absl::UnavailableError("the model and index are not loaded (yet)");
  }
  return backend_;
}

grpc::Status SketchSearchService::Finish(const char* method, absl::Time start,
                                         const absl::Status& status) {
  if (metrics_ != nullptr) metrics_->RecordRpc(method, status.code(), absl::Now() - start);
  return ToGrpcStatus(status);
}

grpc::Status SketchSearchService::Classify(grpc::ServerContext* context,
                                           const v1::ClassifyRequest* request,
                                           v1::ClassifyResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("Classify", start, DoClassify(MakeCallContext(*context), *request, response));
}

grpc::Status SketchSearchService::Search(grpc::ServerContext* context,
                                         const v1::SearchRequest* request,
                                         v1::SearchResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("Search", start, DoSearch(MakeCallContext(*context), *request, response));
}

grpc::Status SketchSearchService::Embed(grpc::ServerContext* context,
                                        const v1::EmbedRequest* request,
                                        v1::EmbedResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("Embed", start, DoEmbed(MakeCallContext(*context), *request, response));
}

grpc::Status SketchSearchService::GetInfo(grpc::ServerContext* /*context*/,
                                          const v1::GetInfoRequest* /*request*/,
                                          v1::GetInfoResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("GetInfo", start, DoGetInfo(response));
}

grpc::Status SketchSearchService::ClassifyBatch(grpc::ServerContext* context,
                                                const v1::ClassifyBatchRequest* request,
                                                v1::ClassifyBatchResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("ClassifyBatch", start,
                DoClassifyBatch(MakeCallContext(*context), *request, response));
}

grpc::Status SketchSearchService::SearchBatch(grpc::ServerContext* context,
                                              const v1::SearchBatchRequest* request,
                                              v1::SearchBatchResponse* response) {
  const absl::Time start = absl::Now();
  return Finish("SearchBatch", start, DoSearchBatch(MakeCallContext(*context), *request, response));
}

absl::Status SketchSearchService::DoClassify(const CallContext& call,
                                             const v1::ClassifyRequest& request,
                                             v1::ClassifyResponse* response) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  RETURN_IF_ERROR(call.Check());
  ASSIGN_OR_RETURN(ClassifyQuery query, ToClassifyQuery(request, limits_));
  ASSIGN_OR_RETURN(auto scores, backend->classifier().Classify(std::move(query), call));
  ToProto(scores, response);
  return absl::OkStatus();
}

absl::Status SketchSearchService::DoSearch(const CallContext& call,
                                           const v1::SearchRequest& request,
                                           v1::SearchResponse* response) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  RETURN_IF_ERROR(call.Check());
  ASSIGN_OR_RETURN(SearchQuery query, ToSearchQuery(request, limits_));
  ASSIGN_OR_RETURN(SearchResult result, backend->searcher().Search(std::move(query), call));
  ToProto(result, response);
  return absl::OkStatus();
}

absl::Status SketchSearchService::DoEmbed(const CallContext& call, const v1::EmbedRequest& request,
                                          v1::EmbedResponse* response) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  RETURN_IF_ERROR(call.Check());
  ASSIGN_OR_RETURN(Sketch sketch, DrawingToSketch(request.drawing(), limits_, "drawing"));
  ASSIGN_OR_RETURN(std::vector<float> feature,
                   backend->classifier().Embed(std::move(sketch), call));
  response->mutable_feature()->Add(feature.begin(), feature.end());
  return absl::OkStatus();
}

absl::Status SketchSearchService::DoGetInfo(v1::GetInfoResponse* response) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  ToProto(backend->Info(), limits_, max_message_bytes_, response);
  return absl::OkStatus();
}

absl::Status SketchSearchService::DoClassifyBatch(const CallContext& call,
                                                  const v1::ClassifyBatchRequest& request,
                                                  v1::ClassifyBatchResponse* response) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  RETURN_IF_ERROR(call.Check());
  ASSIGN_OR_RETURN(std::vector<ClassifyQuery> queries, ToClassifyQueries(request, limits_));
  ASSIGN_OR_RETURN(auto results, backend->classifier().ClassifyBatch(std::move(queries), call));
  for (const auto& scores : results) ToProto(scores, response->add_responses());
  return absl::OkStatus();
}

absl::Status SketchSearchService::DoSearchBatch(const CallContext& call,
                                                const v1::SearchBatchRequest& request,
                                                v1::SearchBatchResponse* response) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  RETURN_IF_ERROR(call.Check());
  ASSIGN_OR_RETURN(std::vector<SearchQuery> queries, ToSearchQueries(request, limits_));
  ASSIGN_OR_RETURN(auto results, backend->searcher().SearchBatch(std::move(queries), call));
  for (const SearchResult& result : results) ToProto(result, response->add_responses());
  return absl::OkStatus();
}

}  // namespace sketch
