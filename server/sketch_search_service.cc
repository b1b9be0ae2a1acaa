#include "server/sketch_search_service.h"

#include <grpcpp/support/proto_buffer_reader.h>

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/status_macros.h"
#include "server/credentials.h"
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
                                         ServerMetrics* metrics,
                                         std::vector<std::string> auth_tokens)
    : limits_(limits),
      max_message_bytes_(max_message_bytes),
      auth_tokens_(std::move(auth_tokens)),
      metrics_(metrics) {}

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

template <typename Request, typename Response>
grpc::ServerUnaryReactor* SketchSearchService::Handle(
    grpc::CallbackServerContext* context, const char* method, RequestKind kind,
    const grpc::ByteBuffer* wire_request, grpc::ByteBuffer* wire_response,
    absl::Status (SketchSearchService::*start)(const SearchBackend&, const CallContext&,
                                               const Request&, Response*, Done)) {
  const Call call(context, method, metrics_);
  if (!auth_tokens_.empty()) {
    const auto& metadata = context->client_metadata();
    const auto authorization = metadata.find("authorization");
    if (authorization == metadata.end() ||
        !BearerTokenMatches(
            absl::string_view(authorization->second.data(), authorization->second.size()),
            auth_tokens_)) {
      call.Finish(absl::UnauthenticatedError(
          "this server needs \"authorization: Bearer <token>\" with a token it knows"));
      return call.reactor();
    }
  }
  // What decoding may cost, before decoding: the method's size limit, then the repeated parts.
  const int64_t max_bytes = kind == RequestKind::kClassifyBatch || kind == RequestKind::kSearchBatch
                                ? max_message_bytes_
                                : MaxRequestBytes(kind, limits_);
  if (static_cast<int64_t>(wire_request->Length()) > max_bytes) {
    call.Finish(absl::ResourceExhaustedError(absl::StrCat("request: ", wire_request->Length(),
                                                          " bytes exceed the limit of ", max_bytes,
                                                          " for ", method)));
    return call.reactor();
  }
  grpc::ByteBuffer bytes(*wire_request);  // shares the slices
  {
    grpc::ProtoBufferReader reader(&bytes);
    const absl::Status shape = CheckRequestWire(kind, &reader, limits_);
    if (!shape.ok()) {
      call.Finish(shape);
      return call.reactor();
    }
  }
  struct State {
    Request request;
    Response response;
  };
  auto state = std::make_shared<State>();
  const grpc::Status decoded =
      grpc::SerializationTraits<Request>::Deserialize(&bytes, &state->request);
  if (!decoded.ok()) {
    call.Finish(absl::InvalidArgumentError("request: not a valid protobuf message"));
    return call.reactor();
  }
  // `state` travels with `done`: the request and response live until the call is finished.
  Done done = [state, wire_response, call](absl::Status status) {
    if (status.ok()) {
      bool own_buffer = false;
      const grpc::Status encoded = grpc::SerializationTraits<Response>::Serialize(
          state->response, wire_response, &own_buffer);
      if (!encoded.ok()) status = absl::InternalError("cannot encode the response");
    }
    call.Finish(status);
  };
  // The backend taken here answers the call, whatever is installed meanwhile: it names itself.
  absl::StatusOr<std::shared_ptr<const SearchBackend>> backend = Backend();
  if (!backend.ok()) {
    call.Finish(backend.status());
    return call.reactor();
  }
  context->AddTrailingMetadata(kBundleHashTrailer, (*backend)->bundle().bundle_hash);
  const absl::Status started =
      (this->*start)(**backend, MakeCallContext(*context), state->request, &state->response, done);
  if (!started.ok()) call.Finish(started);
  return call.reactor();
}

grpc::ServerUnaryReactor* SketchSearchService::Classify(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* response) {
  return Handle<v1::ClassifyRequest, v1::ClassifyResponse>(
      context, "Classify", RequestKind::kClassify, request, response,
      &SketchSearchService::StartClassify);
}

grpc::ServerUnaryReactor* SketchSearchService::Search(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return Handle<v1::SearchRequest, v1::SearchResponse>(context, "Search", RequestKind::kSearch,
                                                       request, response,
                                                       &SketchSearchService::StartSearch);
}

grpc::ServerUnaryReactor* SketchSearchService::Embed(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request,
                                                     grpc::ByteBuffer* response) {
  return Handle<v1::EmbedRequest, v1::EmbedResponse>(context, "Embed", RequestKind::kEmbed, request,
                                                     response, &SketchSearchService::StartEmbed);
}

grpc::ServerUnaryReactor* SketchSearchService::GetInfo(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  return Handle<v1::GetInfoRequest, v1::GetInfoResponse>(context, "GetInfo", RequestKind::kGetInfo,
                                                         request, response,
                                                         &SketchSearchService::StartGetInfo);
}

grpc::ServerUnaryReactor* SketchSearchService::ClassifyBatch(grpc::CallbackServerContext* context,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  return Handle<v1::ClassifyBatchRequest, v1::ClassifyBatchResponse>(
      context, "ClassifyBatch", RequestKind::kClassifyBatch, request, response,
      &SketchSearchService::StartClassifyBatch);
}

grpc::ServerUnaryReactor* SketchSearchService::SearchBatch(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* response) {
  return Handle<v1::SearchBatchRequest, v1::SearchBatchResponse>(
      context, "SearchBatch", RequestKind::kSearchBatch, request, response,
      &SketchSearchService::StartSearchBatch);
}

absl::Status SketchSearchService::StartClassify(const SearchBackend& backend,
                                                const CallContext& context,
                                                const v1::ClassifyRequest& request,
                                                v1::ClassifyResponse* response, Done done) {
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(ClassifyQuery query, ToClassifyQuery(request, limits_));
  backend.classifier().ClassifyAsync(
      std::move(query), context, [response, done](absl::StatusOr<std::vector<ClassScore>> scores) {
        if (scores.ok()) ToProto(*scores, response);
        done(scores.status());
      });
  return absl::OkStatus();
}

absl::Status SketchSearchService::StartSearch(const SearchBackend& backend,
                                              const CallContext& context,
                                              const v1::SearchRequest& request,
                                              v1::SearchResponse* response, Done done) {
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(SearchQuery query, ToSearchQuery(request, limits_));
  backend.searcher().SearchAsync(std::move(query), context,
                                 [response, done](absl::StatusOr<SearchResult> result) {
                                   if (result.ok()) ToProto(*result, response);
                                   done(result.status());
                                 });
  return absl::OkStatus();
}

absl::Status SketchSearchService::StartEmbed(const SearchBackend& backend,
                                             const CallContext& context,
                                             const v1::EmbedRequest& request,
                                             v1::EmbedResponse* response, Done done) {
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(Sketch sketch, DrawingToSketch(request.drawing(), limits_, "drawing"));
  backend.classifier().EmbedAsync(
      std::move(sketch), context, [response, done](absl::StatusOr<std::vector<float>> feature) {
        if (feature.ok()) {
          response->mutable_feature()->Add(feature->begin(), feature->end());
        }
        done(feature.status());
      });
  return absl::OkStatus();
}

absl::Status SketchSearchService::StartGetInfo(const SearchBackend& backend,
                                               const CallContext& /*context*/,
                                               const v1::GetInfoRequest& /*request*/,
                                               v1::GetInfoResponse* response, Done done) {
  ToProto(backend.Info(), limits_, max_message_bytes_, response);
  done(absl::OkStatus());
  return absl::OkStatus();
}

absl::Status SketchSearchService::StartClassifyBatch(const SearchBackend& backend,
                                                     const CallContext& context,
                                                     const v1::ClassifyBatchRequest& request,
                                                     v1::ClassifyBatchResponse* response,
                                                     Done done) {
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(std::vector<ClassifyQuery> queries,
                   ToClassifyQueries(request, limits_, context.deadline));
  backend.classifier().ClassifyBatchAsync(
      std::move(queries), context,
      [response, done](absl::StatusOr<std::vector<std::vector<ClassScore>>> results) {
        if (results.ok()) {
          for (const auto& scores : *results) ToProto(scores, response->add_responses());
        }
        done(results.status());
      });
  return absl::OkStatus();
}

absl::Status SketchSearchService::StartSearchBatch(const SearchBackend& backend,
                                                   const CallContext& context,
                                                   const v1::SearchBatchRequest& request,
                                                   v1::SearchBatchResponse* response, Done done) {
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(std::vector<SearchQuery> queries,
                   ToSearchQueries(request, limits_, context.deadline));
  backend.searcher().SearchBatchAsync(
      std::move(queries), context,
      [response, done](absl::StatusOr<std::vector<SearchResult>> results) {
        if (results.ok()) {
          for (const SearchResult& result : *results) ToProto(result, response->add_responses());
        }
        done(results.status());
      });
  return absl::OkStatus();
}

}  // namespace sketch
