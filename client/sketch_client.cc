#include "client/sketch_client.h"

#include <grpc/grpc.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

// Re-sending (issue 13): what gRPC does, and what is done here by hand.
//
// gRPC does the connection side: a call with wait_for_ready (every re-send, and WaitUntilServing
// from the first attempt) is held while the channel reconnects instead of failing at once, so
// nothing here polls connectivity and a server that is down costs one attempt, not all of them;
// the channel re-dials a lost server with its own backoff (shortened in MakeChannel); and it
// transparently re-sends calls that never reached a server (grpc.enable_retries, on by default).
//
// The re-sending of failed calls is done here (RunAttempts) rather than by a service-config
// retryPolicy, which was considered: (1) a replica restarting is down for seconds to tens of
// seconds (listen, load the bundle, serve) while a retryPolicy allows at most 5 attempts, meant
// for blips; (2) its attempts are invisible to the application, and `map` reports what it
// re-sent; (3) it stops once response headers are committed or the request outgrows the per-call
// retry buffer (256 KiB by default: a SearchBatch of full drawings can), and in-process channels
// (tests, embedded clients) have no client channel, so no retryPolicy at all; (4) both at once
// would multiply the attempts (5 x ours) and blur the bound the flags promise. As in gRPC, every
// attempt shares the call's one deadline: a re-send never extends it, and a backoff that would
// end past it is not waited for.

// How long one call may keep trying, and how.
struct RetryBudget {
  absl::Time deadline;
  int max_retries = 0;
  bool wait_for_ready = false;  // from the first attempt (re-sends always wait)
  std::string authorization;    // the "authorization" header of every attempt; empty: none
};

// One attempt of a call: fills its response and returns the call's status.
using Attempt = std::function<grpc::Status(grpc::ClientContext*)>;

// "<last message> (after 3 attempts of SearchBatch[; another would pass its deadline][; the
// first failed with <first status>])": the first error says why when the last is the deadline.
absl::Status WithAttempts(const absl::Status& last, const absl::Status& first,
                          absl::string_view method, int attempts, bool cut_by_deadline) {
  std::string note =
      absl::StrCat(" (after ", attempts, attempts == 1 ? " attempt" : " attempts", " of ", method);
  if (cut_by_deadline) absl::StrAppend(&note, "; another would pass its deadline");
  if (first.code() != last.code())
    absl::StrAppend(&note, "; the first failed with ", first.ToString());
  return absl::Status(last.code(), absl::StrCat(last.message(), note, ")"));
}

// Runs `attempt` until it succeeds, fails with a code that is not IsRetryable, has been re-sent
// budget.max_retries times, or the next backoff would end past budget.deadline.
absl::Status RunAttempts(absl::string_view method, const RetryOptions& options,
                         const RetryBudget& budget, const Attempt& attempt, int* retries_out) {
  std::optional<std::minstd_rand> random;  // seeded on the first re-send only
  int retries = 0;
  bool cut_by_deadline = false;
  absl::Status first, status;
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(budget.deadline));
    context.set_wait_for_ready(budget.wait_for_ready || retries > 0);
    if (!budget.authorization.empty()) context.AddMetadata("authorization", budget.authorization);
    status = FromGrpcStatus(attempt(&context));
    if (retries == 0) first = status;
    if (status.ok() || !IsRetryable(status.code()) || retries >= budget.max_retries) break;
    if (!random.has_value()) random.emplace(std::random_device()());
    const absl::Duration wait =
        RetryBackoff(options, retries + 1, std::uniform_real_distribution<double>()(*random));
    if (absl::Now() + wait >= budget.deadline) {
      cut_by_deadline = true;
      break;
    }
    absl::SleepFor(wait);
    ++retries;
  }
  if (retries_out != nullptr) *retries_out = retries;
  if (status.ok() || (retries == 0 && !cut_by_deadline)) return status;
  return WithAttempts(status, first, method, retries + 1, cut_by_deadline);
}

// One call under `budget`; `rpc` is (context, response) -> grpc::Status.
template <typename Response, typename Rpc>
absl::StatusOr<Response> Call(absl::string_view method, const RetryOptions& options,
                              const RetryBudget& budget, int* retries, Rpc rpc) {
  Response response;
  const absl::Status status = RunAttempts(
      method, options, budget,
      [&](grpc::ClientContext* context) {
        response.Clear();  // a failed attempt may have left part of an answer
        return rpc(context, &response);
      },
      retries);
  if (!status.ok()) return status;
  return response;
}

// A call of `deadline` that is re-sent as `options` say.
RetryBudget PerCall(absl::Duration deadline, const RetryOptions& options,
                    const std::string& bearer_token) {
  return RetryBudget{absl::Now() + deadline, std::max(options.max_retries, 0), false,
                     bearer_token.empty() ? "" : absl::StrCat("Bearer ", bearer_token)};
}

}  // namespace

namespace {

grpc::ChannelArguments ChannelArgs(int max_receive_bytes) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_receive_bytes);
  // Spread calls over every address the name resolves to (a dns:/// name of several replicas);
  // gRPC's default, pick_first, would send them all to one.
  args.SetLoadBalancingPolicyName("round_robin");
  // After losing a server gRPC re-dials it with exponential backoff, by default from 1 s up to
  // 120 s apart. A replica back from a restart (seconds) is found within 2 s this way, while the
  // re-sends of the calls that failed meanwhile wait for it (wait_for_ready).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return args;
}

absl::StatusOr<std::string> ReadText(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view what) {
  ASSIGN_OR_RETURN(std::string pem, ReadText(path, what));
  if (pem.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", path, " is not a PEM file"));
  }
  return pem;
}

}  // namespace

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target, int max_receive_bytes) {
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   ChannelArgs(max_receive_bytes));
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& target,
                                                           const ChannelSecurity& security,
                                                           int max_receive_bytes) {
  if (!security.tls) return MakeChannel(target, max_receive_bytes);
  if (security.cert.empty() != security.key.empty()) {
    return absl::InvalidArgumentError(
        "tls: a client certificate needs its key, and a key its "
        "certificate");
  }
  grpc::SslCredentialsOptions ssl;
  if (!security.ca.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(security.ca, "tls CA"));
  }
  if (!security.cert.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem(security.cert, "tls client certificate"));
    ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem(security.key, "tls client key"));
  }
  grpc::ChannelArguments args = ChannelArgs(max_receive_bytes);
  if (!security.server_name.empty()) args.SetSslTargetNameOverride(security.server_name);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
}

absl::StatusOr<std::string> ReadBearerToken(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadText(path, "token file"));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty() && line[0] != '#') return std::string(line);
  }
  return absl::InvalidArgumentError(absl::StrCat("token file: ", path, " holds no token"));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

bool IsRetryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kResourceExhausted ||
         code == absl::StatusCode::kCancelled;
}

absl::Duration RetryBackoff(const RetryOptions& options, int retry, double unit) {
  absl::Duration bound = options.initial_backoff;
  for (int i = 1; i < retry && bound < options.max_backoff; ++i) bound *= options.multiplier;
  bound = std::min(bound, options.max_backoff);
  return bound * (0.5 + 0.5 * std::clamp(unit, 0.0, 1.0));
}

SketchClient::SketchClient(v1::SketchSearch::StubInterface* stub, absl::Duration deadline,
                           RetryOptions retry, std::string bearer_token)
    : stub_(stub), deadline_(deadline), retry_(retry), bearer_token_(std::move(bearer_token)) {}

absl::StatusOr<v1::ClassifyResponse> SketchClient::Classify(const v1::ClassifyRequest& request,
                                                            int* retries) const {
  return Call<v1::ClassifyResponse>(
      "Classify", retry_, PerCall(deadline_, retry_, bearer_token_), retries,
      [&](auto* context, auto* response) { return stub_->Classify(context, request, response); });
}

absl::StatusOr<v1::SearchResponse> SketchClient::Search(const v1::SearchRequest& request,
                                                        int* retries) const {
  return Call<v1::SearchResponse>(
      "Search", retry_, PerCall(deadline_, retry_, bearer_token_), retries,
      [&](auto* context, auto* response) { return stub_->Search(context, request, response); });
}

absl::StatusOr<v1::EmbedResponse> SketchClient::Embed(const v1::EmbedRequest& request,
                                                      int* retries) const {
  return Call<v1::EmbedResponse>(
      "Embed", retry_, PerCall(deadline_, retry_, bearer_token_), retries,
      [&](auto* context, auto* response) { return stub_->Embed(context, request, response); });
}

absl::StatusOr<v1::GetInfoResponse> SketchClient::GetInfo(int* retries) const {
  return Call<v1::GetInfoResponse>("GetInfo", retry_, PerCall(deadline_, retry_, bearer_token_),
                                   retries, [&](auto* context, auto* response) {
                                     return stub_->GetInfo(context, v1::GetInfoRequest(), response);
                                   });
}

absl::StatusOr<v1::ClassifyBatchResponse> SketchClient::ClassifyBatch(
    const v1::ClassifyBatchRequest& request, int* retries) const {
  return Call<v1::ClassifyBatchResponse>("ClassifyBatch", retry_,
                                         PerCall(deadline_, retry_, bearer_token_), retries,
                                         [&](auto* context, auto* response) {
                                           return stub_->ClassifyBatch(context, request, response);
                                         });
}

absl::StatusOr<v1::SearchBatchResponse> SketchClient::SearchBatch(
    const v1::SearchBatchRequest& request, int* retries) const {
  return Call<v1::SearchBatchResponse>("SearchBatch", retry_,
                                       PerCall(deadline_, retry_, bearer_token_), retries,
                                       [&](auto* context, auto* response) {
                                         return stub_->SearchBatch(context, request, response);
                                       });
}

absl::Status SketchClient::WaitUntilServing(absl::Duration timeout) const {
  RetryBudget budget = PerCall(timeout, retry_, bearer_token_);
  budget.max_retries = std::numeric_limits<int>::max();
  budget.wait_for_ready = true;
  const absl::Status status =
      Call<v1::GetInfoResponse>("GetInfo", retry_, budget, nullptr,
                                [&](auto* context, auto* response) {
                                  return stub_->GetInfo(context, v1::GetInfoRequest(), response);
                                })
          .status();
  if (status.ok()) return status;
  return absl::Status(
      status.code(), absl::StrCat("the server is not serving after ", absl::FormatDuration(timeout),
                                  ": ", status.message()));
}

HealthClient::HealthClient(grpc::health::v1::Health::StubInterface* stub, absl::Duration deadline)
    : stub_(stub), deadline_(deadline) {}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> HealthClient::Check(
    const std::string& service) const {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  // Not re-sent: a health probe answers at once (SketchClient::WaitUntilServing waits).
  const RetryBudget budget{absl::Now() + deadline_, /*max_retries=*/0, /*wait_for_ready=*/false,
                           /*authorization=*/""};
  auto response = Call<grpc::health::v1::HealthCheckResponse>(
      "Check", RetryOptions::None(), budget, nullptr,
      [&](auto* context, auto* out) { return stub_->Check(context, request, out); });
  if (!response.ok()) return response.status();
  return response->status();
}

}  // namespace sketch
