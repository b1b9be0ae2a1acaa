#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/status_macros.h"

namespace sketch {

absl::Status ValidateServerOptions(const ServerOptions& options) {
  if (options.max_message_bytes < 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes: ", options.max_message_bytes, " is below 1024"));
  }
  // gRPC's sync server (reflection) needs a few threads of its own to poll for calls.
  if (options.max_threads < 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_threads: ", options.max_threads, " is below 4"));
  }
  if (options.max_connection_age <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_connection_age: ", absl::FormatDuration(options.max_connection_age),
                     " is not positive"));
  }
  RETURN_IF_ERROR(ValidateRequestLimits(options.limits));
  return ValidateBatcherOptions(options.backend.batcher);
}

namespace {

// Leaves the server reflection plugin out of one ServerBuilder (gRPC installs it process-wide).
class WithoutReflection : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    const std::string reflection = grpc::reflection::ProtoServerReflectionPlugin().name();
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [&](const std::unique_ptr<grpc::ServerBuilderPlugin>& plugin) {
                                    return plugin->name() == reflection;
                                  }),
                   plugins->end());
  }
};

}  // namespace

SketchServer::SketchServer(const ServerOptions& options)
    : options_(options),
      calls_(options.limits, options.max_message_bytes, options.auth_tokens),
      service_(&calls_, &metrics_) {}

absl::StatusOr<std::unique_ptr<SketchServer>> SketchServer::Start(const ServerOptions& options) {
  RETURN_IF_ERROR(ValidateServerOptions(options));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   MakeServerCredentials(options.tls));
  auto server = std::unique_ptr<SketchServer>(new SketchServer(options));
  if (!options.metrics_address.empty()) {
    RETURN_IF_ERROR(server->metrics_.StartExposer(options.metrics_address));
  }
  // Both are process-wide switches read by every ServerBuilder made afterwards. The explicit
  // reflection call also keeps the linker from dropping grpc++_reflection.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  if (!options.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  if (!options.address.empty()) {
    builder.AddListeningPort(options.address, credentials, &server->port_);
  }
  // Without this a second server on the same port would start silently and share the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  if (options.max_connection_age != absl::InfiniteDuration()) {
    const int age_ms = static_cast<int>(std::min<int64_t>(
        absl::ToInt64Milliseconds(options.max_connection_age), std::numeric_limits<int>::max()));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, age_ms);
    // Calls in flight get as long to finish as a drain on SIGTERM would give them.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30000);
  }
  grpc::ResourceQuota quota("sketchsearch");
  quota.SetMaxThreads(options.max_threads);
  builder.SetResourceQuota(quota);
  builder.RegisterService(&server->service_);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || (!options.address.empty() && server->port_ == 0)) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.address));
  }
  if (options.serve_http) {
    ASSIGN_OR_RETURN(server->http_,
                     HttpApi::Start(options.http, &server->calls_, &server->metrics_));
  }
  server->SetServingStatus(false);
  server->trimmer_ = std::make_unique<MemoryTrimmer>(options.memory_trim_interval);
  return server;
}

SketchServer::~SketchServer() { Shutdown(absl::ZeroDuration()); }

void SketchServer::SetServingStatus(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus(serving);  // "" and every registered service
    health->SetServingStatus(kSketchSearchServiceName, serving);
  }
  metrics_.SetServing(serving);
}

SketchServer::Installed SketchServer::Install(std::unique_ptr<SearchBackend> backend) {
  Installed installed;
  installed.released = std::make_shared<absl::Notification>();
  // The shared handle does not own the backend: its last copy going away (on whatever thread a
  // call let go of it) only says so, and Retire drains and destroys it on the swapping thread.
  installed.shared = std::shared_ptr<SearchBackend>(
      backend.get(), [released = installed.released](SearchBackend*) { released->Notify(); });
  installed.owned = std::move(backend);
  return installed;
}

std::unique_ptr<SearchBackend> SketchServer::Retire(Installed installed) {
  if (installed.owned == nullptr) return nullptr;
  installed.shared.reset();
  // The service no longer hands it out; a call holds it only from taking it to handing its work
  // over (SketchSearchService::Handle), so this wait is short.
  installed.released->WaitForNotification();
  installed.owned->Shutdown();  // the calls already queued on it run and are answered
  return std::move(installed.owned);
}

absl::StatusOr<std::unique_ptr<SearchBackend>> SketchServer::CreateBackend(
    std::unique_ptr<Embedder> embedder, std::unique_ptr<const FeatureIndex> index,
    BundleInfo bundle) {
  return SearchBackend::Create(std::move(embedder), std::move(index), std::move(bundle),
                               options_.backend, &metrics_);
}

void SketchServer::Publish(const Installed& installed) {
  calls_.SetBackend(installed.shared);
  metrics_.SetIndexSize(installed.owned->index_size());
  metrics_.SetBundleHash(installed.owned->bundle().bundle_hash);
}

absl::Status SketchServer::Serve(std::unique_ptr<Embedder> embedder,
                                 std::unique_ptr<const FeatureIndex> index, BundleInfo bundle) {
  absl::MutexLock swap_lock(&swap_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::FailedPreconditionError("the server is shutting down");
    if (backend_.owned != nullptr) {
      return absl::FailedPreconditionError("the server is already serving");
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SearchBackend> backend,
                   CreateBackend(std::move(embedder), std::move(index), std::move(bundle)));
  {
    absl::MutexLock lock(&mu_);
    backend_ = Install(std::move(backend));
    Publish(backend_);
  }
  SetServingStatus(true);
  return absl::OkStatus();
}

absl::Status SketchServer::SwapBundle(std::unique_ptr<Embedder> embedder,
                                      std::unique_ptr<const FeatureIndex> index,
                                      BundleInfo bundle) {
  absl::MutexLock swap_lock(&swap_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::FailedPreconditionError("the server is shutting down");
    if (backend_.owned == nullptr) {
      return absl::FailedPreconditionError("nothing to swap: the server is not serving yet");
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SearchBackend> backend,
                   CreateBackend(std::move(embedder), std::move(index), std::move(bundle)));
  Installed old;
  {
    absl::MutexLock lock(&mu_);
    old = std::exchange(backend_, Install(std::move(backend)));
    Publish(backend_);
  }
  Retire(std::move(old));  // and destroyed
  return absl::OkStatus();
}

std::string SketchServer::bundle_hash() const {
  absl::MutexLock lock(&mu_);
  return backend_.owned == nullptr ? std::string() : backend_.owned->bundle().bundle_hash;
}

void SketchServer::Shutdown(absl::Duration drain) {
  absl::MutexLock swap_lock(&swap_mu_);
  Installed backend;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    backend = std::move(backend_);
    backend_ = Installed();
  }
  if (server_ != nullptr) {  // null when Start failed before the server was built
    // Health first, so balancers stop routing here while the calls in flight finish. Shutdown()
    // sets NOT_SERVING everywhere and ignores later updates.
    grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
    if (health != nullptr) health->Shutdown();
    metrics_.SetServing(false);
    // HTTP calls in flight hold a worker each until the model answers them, so this returns once
    // they are answered (the backend is still up).
    if (http_ != nullptr) http_->Stop();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + drain));
    server_->Wait();
  }
  calls_.SetBackend(nullptr);
  drained_backend_ = Retire(std::move(backend));
  trimmer_.reset();
}

std::shared_ptr<grpc::Channel> SketchServer::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // full rankings; the peer is this process
  return server_->InProcessChannel(args);
}

}  // namespace sketch
