// A SketchSearch that refuses chosen SearchBatch calls in front of a real one (a fake server), on a
// loopback port and in-process: what the client's retries are tested against.
#ifndef SKETCH_TESTS_CLIENT_FLAKY_SERVER_H_
#define SKETCH_TESTS_CLIENT_FLAKY_SERVER_H_

#include <grpcpp/client_context.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/sketch_client.h"
#include "gtest/gtest.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch::testing {

// What FlakySketchSearch does to SearchBatch calls (GetInfo always passes through).
struct Flakiness {
  int fail_first = 0;  // calls refused before any is answered; -1: every call
  grpc::StatusCode code = grpc::StatusCode::UNAVAILABLE;
  absl::Duration delay = absl::ZeroDuration();  // before each answer or refusal
};

class FlakySketchSearch final : public sketchsearch::v1::SketchSearch::Service {
 public:
  // `backend` answers the calls that are not refused.
  FlakySketchSearch(const std::shared_ptr<grpc::ChannelInterface>& backend, Flakiness flakiness)
      : backend_(sketchsearch::v1::SketchSearch::NewStub(backend)), flakiness_(flakiness) {}

  grpc::Status GetInfo(grpc::ServerContext* context,
                       const sketchsearch::v1::GetInfoRequest* request,
                       sketchsearch::v1::GetInfoResponse* response) override {
    grpc::ClientContext forward;
    forward.set_deadline(context->deadline());
    return backend_->GetInfo(&forward, *request, response);
  }

  grpc::Status SearchBatch(grpc::ServerContext* context,
                           const sketchsearch::v1::SearchBatchRequest* request,
                           sketchsearch::v1::SearchBatchResponse* response) override {
    int call = 0;
    bool draining = false;
    {
      absl::MutexLock lock(&mu_);
      call = calls_++;
      draining = draining_;
    }
    absl::SleepFor(flakiness_.delay);
    if (draining) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "flaky: draining");
    if (flakiness_.fail_first < 0 || call < flakiness_.fail_first) {
      return grpc::Status(flakiness_.code, absl::StrCat("flaky: call ", call + 1, " refused"));
    }
    grpc::ClientContext forward;
    forward.set_deadline(context->deadline());
    return backend_->SearchBatch(&forward, *request, response);
  }

  // From now on every SearchBatch is refused with UNAVAILABLE, as a server that is stopping does.
  void Drain() {
    absl::MutexLock lock(&mu_);
    draining_ = true;
  }

  // SearchBatch calls received so far, refused or not.
  int calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

  // True once `n` SearchBatch calls have come; false when `timeout` passes first.
  bool WaitForCalls(int n, absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    const auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

 private:
  const std::unique_ptr<sketchsearch::v1::SketchSearch::Stub> backend_;
  const Flakiness flakiness_;
  mutable absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

// FlakySketchSearch served on 127.0.0.1:`port` (0: a free port) and in-process.
class FlakyServer {
 public:
  FlakyServer(const std::shared_ptr<grpc::ChannelInterface>& backend, Flakiness flakiness,
              int port = 0)
      : service_(backend, flakiness) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    EXPECT_GT(port_, 0);
  }
  ~FlakyServer() { Shutdown(absl::ZeroDuration()); }

  // Stops listening and closes the connections; calls in flight get `drain` to finish.
  void Shutdown(absl::Duration drain) {
    if (server_ == nullptr) return;
    server_->Shutdown(absl::ToChronoTime(absl::Now() + drain));
    server_->Wait();
    server_.reset();
  }

  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::shared_ptr<grpc::Channel> InProcessChannel() {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);  // full rankings
    return server_->InProcessChannel(args);
  }
  FlakySketchSearch& service() { return service_; }

 private:
  FlakySketchSearch service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// Refuses the first `first` SearchBatch calls (-1: all) with `code`, each after `delay`.
inline Flakiness Refuse(int first, grpc::StatusCode code = grpc::StatusCode::UNAVAILABLE,
                        absl::Duration delay = absl::ZeroDuration()) {
  Flakiness flakiness;
  flakiness.fail_first = first;
  flakiness.code = code;
  flakiness.delay = delay;
  return flakiness;
}

// Fast retries for tests: the backoff is not what they measure.
inline RetryOptions QuickRetries(int max_retries) {
  RetryOptions retry;
  retry.max_retries = max_retries;
  retry.initial_backoff = absl::Milliseconds(5);
  retry.max_backoff = absl::Milliseconds(20);
  return retry;
}

}  // namespace sketch::testing

#endif  // SKETCH_TESTS_CLIENT_FLAKY_SERVER_H_
