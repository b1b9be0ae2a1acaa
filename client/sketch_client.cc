#include "client/sketch_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <string>

#include "absl/time/clock.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

// Runs one unary call with the deadline; `rpc` is (context, request, response) -> grpc::Status.
template <typename Response, typename Rpc>
absl::StatusOr<Response> Call(absl::Duration deadline, Rpc rpc) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  Response response;
  const grpc::Status status = rpc(&context, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target, int max_receive_bytes) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_receive_bytes);
  // Spread calls over every address the name resolves to (a dns:/// name of several replicas);
  // gRPC's default, pick_first, would send them all to one.
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

SketchClient::SketchClient(v1::SketchSearch::StubInterface* stub, absl::Duration deadline)
    : stub_(stub), deadline_(deadline) {}

absl::StatusOr<v1::ClassifyResponse> SketchClient::Classify(
    const v1::ClassifyRequest& request) const {
  return Call<v1::ClassifyResponse>(deadline_, [&](auto* context, auto* response) {
    return stub_->Classify(context, request, response);
  });
}

absl::StatusOr<v1::SearchResponse> SketchClient::Search(const v1::SearchRequest& request) const {
  return Call<v1::SearchResponse>(deadline_, [&](auto* context, auto* response) {
    return stub_->Search(context, request, response);
  });
}

absl::StatusOr<v1::EmbedResponse> SketchClient::Embed(const v1::EmbedRequest& request) const {
  return Call<v1::EmbedResponse>(deadline_, [&](auto* context, auto* response) {
    return stub_->Embed(context, request, response);
  });
}

absl::StatusOr<v1::GetInfoResponse> SketchClient::GetInfo() const {
  return Call<v1::GetInfoResponse>(deadline_, [&](auto* context, auto* response) {
    return stub_->GetInfo(context, v1::GetInfoRequest(), response);
  });
}

absl::StatusOr<v1::ClassifyBatchResponse> SketchClient::ClassifyBatch(
    const v1::ClassifyBatchRequest& request) const {
  return Call<v1::ClassifyBatchResponse>(deadline_, [&](auto* context, auto* response) {
    return stub_->ClassifyBatch(context, request, response);
  });
}

absl::StatusOr<v1::SearchBatchResponse> SketchClient::SearchBatch(
    const v1::SearchBatchRequest& request) const {
  return Call<v1::SearchBatchResponse>(deadline_, [&](auto* context, auto* response) {
    return stub_->SearchBatch(context, request, response);
  });
}

HealthClient::HealthClient(grpc::health::v1::Health::StubInterface* stub, absl::Duration deadline)
    : stub_(stub), deadline_(deadline) {}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> HealthClient::Check(
    const std::string& service) const {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  auto response = Call<grpc::health::v1::HealthCheckResponse>(
      deadline_, [&](auto* context, auto* out) { return stub_->Check(context, request, out); });
  if (!response.ok()) return response.status();
  return response->status();
}

}  // namespace sketch
