#include "server/api_calls.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "server/credentials.h"
#include "server/proto_convert.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

}  // namespace

ApiCalls::ApiCalls(const RequestLimits& limits, int max_message_bytes,
                   std::vector<std::string> auth_tokens)
    : limits_(limits),
      max_message_bytes_(max_message_bytes),
      auth_tokens_(std::move(auth_tokens)) {}

void ApiCalls::SetBackend(std::shared_ptr<const SearchBackend> backend) {
  absl::MutexLock lock(&mu_);
  backend_ = std::move(backend);
}

absl::StatusOr<std::shared_ptr<const SearchBackend>> ApiCalls::Backend() const {
  absl::MutexLock lock(&mu_);
  if (backend_ == nullptr) {
    return absl::UnavailableError("the model and index are not loaded (yet)");
  }
  return backend_;
}

absl::Status ApiCalls::Authorize(const std::string* authorization) const {
  if (auth_tokens_.empty()) return absl::OkStatus();
  if (authorization == nullptr || !BearerTokenMatches(*authorization, auth_tokens_)) {
    return absl::UnauthenticatedError(
        "this server needs \"authorization: Bearer <token>\" with a token it knows");
  }
  return absl::OkStatus();
}

int64_t ApiCalls::MaxRequestBytes(RequestKind kind) const {
  return kind == RequestKind::kClassifyBatch || kind == RequestKind::kSearchBatch
             ? max_message_bytes_
             : sketch::MaxRequestBytes(kind, limits_);
}

absl::Status ApiCalls::CheckEncodedRequest(RequestKind kind, const char* method, int64_t size,
                                           google::protobuf::io::ZeroCopyInputStream* input) const {
  const int64_t max_bytes = MaxRequestBytes(kind);
  if (size > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request: ", size, " bytes exceed the limit of ", max_bytes, " for ", method));
  }
  return CheckRequestWire(kind, input, limits_);
}

absl::Status ApiCalls::Start(const SearchBackend& backend, const CallContext& context,
                             const v1::ClassifyRequest& request, v1::ClassifyResponse* response,
                             Done done) const {
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(ClassifyQuery query, ToClassifyQuery(request, limits_));
  backend.classifier().ClassifyAsync(
      std::move(query), context, [response, done](absl::StatusOr<std::vector<ClassScore>> scores) {
        if (scores.ok()) ToProto(*scores, response);
        done(scores.status());
      });
  return absl::OkStatus();
}

absl::Status ApiCalls::Start(const SearchBackend& backend, const CallContext& context,
                             const v1::SearchRequest& request, v1::SearchResponse* response,
                             Done done) const {
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(SearchQuery query, ToSearchQuery(request, limits_));
  backend.searcher().SearchAsync(std::move(query), context,
                                 [response, done](absl::StatusOr<SearchResult> result) {
                                   if (result.ok()) ToProto(*result, response);
                                   done(result.status());
                                 });
  return absl::OkStatus();
}

absl::Status ApiCalls::Start(const SearchBackend& backend, const CallContext& context,
                             const v1::EmbedRequest& request, v1::EmbedResponse* response,
                             Done done) const {
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

absl::Status ApiCalls::Start(const SearchBackend& backend, const CallContext& /*context*/,
                             const v1::GetInfoRequest& /*request*/, v1::GetInfoResponse* response,
                             Done done) const {
  ToProto(backend.Info(), limits_, max_message_bytes_, response);
  done(absl::OkStatus());
  return absl::OkStatus();
}

absl::Status ApiCalls::Start(const SearchBackend& backend, const CallContext& context,
                             const v1::ClassifyBatchRequest& request,
                             v1::ClassifyBatchResponse* response, Done done) const {
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

absl::Status ApiCalls::Start(const SearchBackend& backend, const CallContext& context,
                             const v1::SearchBatchRequest& request,
                             v1::SearchBatchResponse* response, Done done) const {
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
