#include "server/sketch_search_service.h"

#include <grpcpp/support/proto_buffer_reader.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/time/clock.h"
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
  if (metrics_ != nullptr)
    metrics_->RecordRpc("grpc", method_, status.code(), absl::Now() - start_);
  reactor_->Finish(ToGrpcStatus(status));
}

SketchSearchService::SketchSearchService(const ApiCalls* calls, ServerMetrics* metrics)
    : calls_(calls), metrics_(metrics) {}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* SketchSearchService::Handle(grpc::CallbackServerContext* context,
                                                      const char* method, RequestKind kind,
                                                      const grpc::ByteBuffer* wire_request,
                                                      grpc::ByteBuffer* wire_response) {
  const Call call(context, method, metrics_);
  {
    const auto& metadata = context->client_metadata();
    const auto found = metadata.find("authorization");
    std::string authorization;
    if (found != metadata.end()) authorization.assign(found->second.data(), found->second.size());
    const absl::Status authorized =
        calls_->Authorize(found == metadata.end() ? nullptr : &authorization);
    if (!authorized.ok()) {
      call.Finish(authorized);
      return call.reactor();
    }
  }
  // What decoding may cost, before decoding: the method's size limit, then the repeated parts.
  grpc::ByteBuffer bytes(*wire_request);  // shares the slices
  {
    grpc::ProtoBufferReader reader(&bytes);
    const absl::Status shape = calls_->CheckEncodedRequest(
        kind, method, static_cast<int64_t>(wire_request->Length()), &reader);
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
  const absl::StatusOr<std::shared_ptr<const SearchBackend>> backend = calls_->Backend();
  if (!backend.ok()) {
    call.Finish(backend.status());
    return call.reactor();
  }
  context->AddTrailingMetadata(kBundleHashTrailer, (*backend)->bundle().bundle_hash);
  // `state` travels with `done`: the request and response live until the call is finished.
  ApiCalls::Done done = [state, wire_response, call](absl::Status status) {
    if (status.ok()) {
      bool own_buffer = false;
      const grpc::Status encoded = grpc::SerializationTraits<Response>::Serialize(
          state->response, wire_response, &own_buffer);
      if (!encoded.ok()) status = absl::InternalError("cannot encode the response");
    }
    call.Finish(status);
  };
  const absl::Status started =
      calls_->Start(**backend, MakeCallContext(*context), state->request, &state->response, done);
  if (!started.ok()) call.Finish(started);
  return call.reactor();
}

grpc::ServerUnaryReactor* SketchSearchService::Classify(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* response) {
  return Handle<v1::ClassifyRequest, v1::ClassifyResponse>(
      context, "Classify", RequestKind::kClassify, request, response);
}

grpc::ServerUnaryReactor* SketchSearchService::Search(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return Handle<v1::SearchRequest, v1::SearchResponse>(context, "Search", RequestKind::kSearch,
                                                       request, response);
}

grpc::ServerUnaryReactor* SketchSearchService::Embed(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request,
                                                     grpc::ByteBuffer* response) {
  return Handle<v1::EmbedRequest, v1::EmbedResponse>(context, "Embed", RequestKind::kEmbed, request,
                                                     response);
}

grpc::ServerUnaryReactor* SketchSearchService::GetInfo(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  return Handle<v1::GetInfoRequest, v1::GetInfoResponse>(context, "GetInfo", RequestKind::kGetInfo,
                                                         request, response);
}

grpc::ServerUnaryReactor* SketchSearchService::ClassifyBatch(grpc::CallbackServerContext* context,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  return Handle<v1::ClassifyBatchRequest, v1::ClassifyBatchResponse>(
      context, "ClassifyBatch", RequestKind::kClassifyBatch, request, response);
}

grpc::ServerUnaryReactor* SketchSearchService::SearchBatch(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* response) {
  return Handle<v1::SearchBatchRequest, v1::SearchBatchResponse>(
      context, "SearchBatch", RequestKind::kSearchBatch, request, response);
}

}  // namespace sketch
