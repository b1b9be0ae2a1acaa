#include "server/sketch_search_service.h"

#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "core/status_macros.h"
#include "server/proto_convert.h"
#include "server/status_conversion.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

}  // namespace

CallContext MakeCallContext(const grpc::ServerContextBase& context) {
  CallContext call;
  call.deadline = absl::FromChrono(context.deadline());
  // IsCancelled is thread-safe for callback servers; the batcher polls it when it dequeues the
  // request, always before the call is finished (the context lives until then).
  call.is_cancelled = [&context] { return context.IsCancelled(); };
  return call;
}

SketchSearchService::Call::Call(grpc::CallbackServerContext* context, const char* method,
                                ServerMetrics* metrics)
    : reactor_(context->DefaultReactor()),
      method_(method),
      start_(absl::Now()),
      metrics_(metrics) {}

void SketchSearchService::Call::Finish(const absl::Status& status) const {
  if (metrics_ != nullptr) metrics_->RecordRpc(method_, status.code(), absl::Now() - start_);
  reactor_->Finish(ToGrpcStatus(status));
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

grpc::ServerUnaryReactor* SketchSearchService::Classify(grpc::CallbackServerContext* context,
                                                        const v1::ClassifyRequest* request,
                                                        v1::ClassifyResponse* response) {
  const Call call(context, "Classify", metrics_);
  const absl::Status started = StartClassify(MakeCallContext(*context), *request, response, call);
  if (!started.ok()) call.Finish(started);
  return call.reactor();
}

grpc::ServerUnaryReactor* SketchSearchService::Search(grpc::CallbackServerContext* context,
                                                      const v1::SearchRequest* request,
                                                      v1::SearchResponse* response) {
  const Call call(context, "Search", metrics_);
  const absl::Status started = StartSearch(MakeCallContext(*context), *request, response, call);
  if (!started.ok()) call.Finish(started);
  return call.reactor();
}

grpc::ServerUnaryReactor* SketchSearchService::Embed(grpc::CallbackServerContext* context,
                                                     const v1::EmbedRequest* request,
                                                     v1::EmbedResponse* response) {
  const Call call(context, "Embed", metrics_);
  const absl::Status started = StartEmbed(MakeCallContext(*context), *request, response, call);
  if (!started.ok()) call.Finish(started);
  return call.reactor();
}

grpc::ServerUnaryReactor* SketchSearchService::GetInfo(grpc::CallbackServerContext* context,
                                                       const v1::GetInfoRequest* /*request*/,
                                                       v1::GetInfoResponse* response) {
  const Call call(context, "GetInfo", metrics_);
  call.Finish(DoGetInfo(response));
  return call.reactor();
}

grpc::ServerUnaryReactor* SketchSearchService::ClassifyBatch(
    grpc::CallbackServerContext* context, const v1::ClassifyBatchRequest* request,
    v1::ClassifyBatchResponse* response) {
  const Call call(context, "ClassifyBatch", metrics_);
  const absl::Status started =
      StartClassifyBatch(MakeCallContext(*context), *request, response, call);
  if (!started.ok()) call.Finish(started);
  return call.reactor();
}

grpc::ServerUnaryReactor* SketchSearchService::SearchBatch(grpc::CallbackServerContext* context,
                                                           const v1::SearchBatchRequest* request,
                                                           v1::SearchBatchResponse* response) {
  const Call call(context, "SearchBatch", metrics_);
  const absl::Status started =
      StartSearchBatch(MakeCallContext(*context), *request, response, call);
  if (!started.ok()) call.Finish(started);
  return call.reactor();
}

absl::Status SketchSearchService::StartClassify(const CallContext& context,
                                                const v1::ClassifyRequest& request,
                                                v1::ClassifyResponse* response, const Call& call) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(ClassifyQuery query, ToClassifyQuery(request, limits_));
  backend->classifier().ClassifyAsync(
      std::move(query), context,
      [response, call](absl::StatusOr<std::vector<ClassScore>> scores) {
        if (scores.ok()) ToProto(*scores, response);
        call.Finish(scores.status());
      });
  return absl::OkStatus();
}

absl::Status SketchSearchService::StartSearch(const CallContext& context,
                                              const v1::SearchRequest& request,
                                              v1::SearchResponse* response, const Call& call) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(SearchQuery query, ToSearchQuery(request, limits_));
  backend->searcher().SearchAsync(std::move(query), context,
                                  [response, call](absl::StatusOr<SearchResult> result) {
                                    if (result.ok()) ToProto(*result, response);
                                    call.Finish(result.status());
                                  });
  return absl::OkStatus();
}

absl::Status SketchSearchService::StartEmbed(const CallContext& context,
                                             const v1::EmbedRequest& request,
                                             v1::EmbedResponse* response, const Call& call) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(Sketch sketch, DrawingToSketch(request.drawing(), limits_, "drawing"));
  backend->classifier().EmbedAsync(std::move(sketch), context,
                                   [response, call](absl::StatusOr<std::vector<float>> feature) {
                                     if (feature.ok()) {
                                       response->mutable_feature()->Add(feature->begin(),
                                                                        feature->end());
                                     }
                                     call.Finish(feature.status());
                                   });
  return absl::OkStatus();
}

absl::Status SketchSearchService::DoGetInfo(v1::GetInfoResponse* response) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  ToProto(backend->Info(), limits_, max_message_bytes_, response);
  return absl::OkStatus();
}

absl::Status SketchSearchService::StartClassifyBatch(const CallContext& context,
                                                     const v1::ClassifyBatchRequest& request,
                                                     v1::ClassifyBatchResponse* response,
                                                     const Call& call) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(std::vector<ClassifyQuery> queries, ToClassifyQueries(request, limits_, context.deadline));
  backend->classifier().ClassifyBatchAsync(
      std::move(queries), context,
      [response, call](absl::StatusOr<std::vector<std::vector<ClassScore>>> results) {
        if (results.ok()) {
          for (const auto& scores : *results) ToProto(scores, response->add_responses());
        }
        call.Finish(results.status());
      });
  return absl::OkStatus();
}

absl::Status SketchSearchService::StartSearchBatch(const CallContext& context,
                                                   const v1::SearchBatchRequest& request,
                                                   v1::SearchBatchResponse* response,
                                                   const Call& call) {
  ASSIGN_OR_RETURN(auto backend, Backend());
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(std::vector<SearchQuery> queries, ToSearchQueries(request, limits_, context.deadline));
  backend->searcher().SearchBatchAsync(
      std::move(queries), context,
      [response, call](absl::StatusOr<std::vector<SearchResult>> results) {
        if (results.ok()) {
          for (const SearchResult& result : *results) ToProto(result, response->add_responses());
        }
        call.Finish(results.status());
      });
  return absl::OkStatus();
}

}  // namespace sketch
