#include "bench/load_target.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::chrono::system_clock::time_point SecondsFromNow(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

// A channel with a subchannel pool of its own, so that each is its own TCP connection.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// The value of an unlabelled Prometheus sample `name` in `text`; 0 when absent.
double MetricValue(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return 0;
}

std::string LoadAverage1() {
  std::ifstream in("/proc/loadavg");
  std::string first;
  in >> first;
  return first;
}

// The text after "sketch-server serving " in the file `log`, waiting up to 1 s for tee to
// write it; "" if it never does.
std::string ServingLine(const std::string& log) {
  const std::string prefix = "sketch-server serving ";
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<LoadTarget>> LoadTarget::Start(const ServerLaunch& launch) {
  char log[] = "/tmp/sketch_latency_bench.XXXXXX";
  const int fd = mkstemp(log);
  if (fd < 0) return absl::InternalError("mkstemp failed");
  close(fd);
  // bash -c SCRIPT LOG SERVER FLAGS...: $0 is LOG, "$@" the server and its flags.
  // clang-format off
  const std::vector<std::string> args = {
      "-c", "exec > >(tee \"$0\"); exec \"$@\"", log, launch.binary,
      "--bundle", launch.bundle, "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0",
      "--precision", launch.precision, "--threads", std::to_string(launch.threads),
      "--max-batch-size", std::to_string(launch.max_batch_size),
      "--max-queue-delay-us", std::to_string(launch.max_queue_delay_us)};
  // clang-format on
  auto child = ChildServer::Launch("/bin/bash", args, absl::Minutes(3));
  const std::string served = child.ok() ? ServingLine(log) : "";
  unlink(log);
  if (!child.ok()) return child.status();
  return std::unique_ptr<LoadTarget>(new LoadTarget(std::move(*child), served, launch.channels));
}

LoadTarget::LoadTarget(std::unique_ptr<ChildServer> child, std::string served, int channels)
    : child_(std::move(child)), served_(std::move(served)) {
  const std::string address = absl::StrCat("127.0.0.1:", child_->port());
  for (int c = 0; c < channels; ++c) {
    auto channel = OwnChannel(address);
    channel->WaitForConnected(SecondsFromNow(10));
    stubs_.push_back(v1::SketchSearch::NewStub(channel));
    raw_stubs_.push_back(stubs_.back().get());
  }
}

absl::StatusOr<v1::GetInfoResponse> LoadTarget::Info() {
  grpc::ClientContext context;
  context.set_deadline(SecondsFromNow(10));
  v1::GetInfoResponse info;
  grpc::Status status = stubs_[0]->GetInfo(&context, v1::GetInfoRequest(), &info);
  if (!status.ok()) return absl::UnavailableError("GetInfo: " + status.error_message());
  return info;
}

std::vector<double> LoadTarget::SingleRequestLatencies(
    const std::vector<v1::ClassifyRequest>& requests, int count) {
  std::vector<double> ms;
  for (int i = -10; i < count; ++i) {
    grpc::ClientContext context;
    context.set_deadline(SecondsFromNow(10));
    v1::ClassifyResponse response;
    const Clock::time_point t0 = Clock::now();
    const grpc::Status status = stubs_[0]->Classify(
        &context, requests[static_cast<size_t>(i + 10) % requests.size()], &response);
    const double elapsed = MsSince(t0);
    if (i >= 0) ms.push_back(status.ok() ? elapsed : INFINITY);
  }
  std::sort(ms.begin(), ms.end());
  return ms;
}

double LoadTarget::Burst(int size, const std::vector<v1::ClassifyRequest>& requests) {
  std::mutex mu;
  std::condition_variable cv;
  int left = size;
  std::vector<grpc::ClientContext> contexts(static_cast<size_t>(size));
  std::vector<v1::ClassifyResponse> responses(static_cast<size_t>(size));
  const Clock::time_point t0 = Clock::now();
  for (size_t i = 0; i < contexts.size(); ++i) {
    contexts[i].set_deadline(SecondsFromNow(30));
    stubs_[i % stubs_.size()]->async()->Classify(
        &contexts[i], &requests[i % requests.size()], &responses[i], [&](grpc::Status) {
          std::lock_guard<std::mutex> lock(mu);
          if (--left == 0) cv.notify_all();  // under the lock: the waiter destroys cv
        });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return left == 0; });
  return MsSince(t0);
}

TrialRecord LoadTarget::Trial(const std::vector<v1::ClassifyRequest>& requests,
                              const TrialOptions& options) {
  WaitIdle();
  const std::string before = child_->Metrics();
  const double cpu_before = child_->CpuSeconds();
  TrialRecord record;
  record.result = RunPoissonTrial(raw_stubs_, requests, options);
  const std::string after = child_->Metrics();
  record.server_cores = (child_->CpuSeconds() - cpu_before) / record.result.seconds;
  record.load = LoadAverage1();
  auto delta = [&](const std::string& name) {
    return MetricValue(after, name) - MetricValue(before, name);
  };
  const double batches = delta("sketchsearch_model_batch_size_count");
  if (batches > 0) record.mean_batch = delta("sketchsearch_model_batch_size_sum") / batches;
  record.busy = delta("sketchsearch_model_batch_duration_seconds_sum") / record.result.seconds;
  return record;
}

void LoadTarget::WaitIdle() {
  const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < give_up &&
         MetricValue(child_->Metrics(), "sketchsearch_model_queue_length") > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

}  // namespace sketch
