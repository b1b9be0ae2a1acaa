// sketch_soak_client: sixteen clients hammer a running sketch-server for a while with a mix of
// valid, invalid, hostile, cancelled and deadline-bound calls. Every valid answer is checked
// against the answer the same request got alone before the run; every other call must end with
// one of the codes its kind allows. The server's RSS is sampled throughout and its persistent
// growth (the smaller least-squares slope of the two halves of all but the first quarter) must
// stay under a bound. Prints a summary, exits 1 when a check fails. Driven by
// tests/e2e/soak_test.sh (90 s after a 30 s warm-up in the test suite; the 10 minutes with
// scripts/soak.sh).
//
//   sketch_soak_client --target HOST:PORT --server-pid PID --data DIR [--seconds 60]
//                      [--clients 16] [--max-rss-slope 1.0 (MB/min)]
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/sketch_client.h"
#include "core/sketch_reader.h"
#include "proto/drawing_convert.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"
#include "tests/testing/memory_growth.h"
#include "tests/testing/process_memory.h"
#include "tests/testing/same_ranking.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::sketchsearch::v1;
using Code = grpc::StatusCode;

struct Flags {
  std::string target;
  int server_pid = 0;
  std::string data;
  double seconds = 60;
  // Load before the measured window: the calls are checked, the RSS slope ignores them.
  double warmup_seconds = 0;
  int clients = 16;
  double max_rss_slope = 1.0;
};

// The answer a valid request got alone, before the run.
struct Expected {
  std::vector<int> labels;  // Classify k=3, in order
  std::vector<float> probabilities;
  std::vector<int64_t> hit_ids;  // Search k=5, in order
  std::vector<float> distances;
};

using ::sketch::testing::SameRanking;

class Soak {
 public:
  explicit Soak(const Flags& flags) : flags_(flags), channel_(MakeChannel(flags.target)) {}

  bool Prepare() {
    for (const auto& entry : fs::directory_iterator(flags_.data)) {
      auto reader = OpenSketchReader(entry.path().string());
      if (!reader.ok()) continue;
      Sketch s;
      for (int i = 0; i < 8 && (*reader)->Next(&s).value_or(false); ++i) {
        drawings_.push_back(SketchToDrawing(s));
      }
    }
    auto stub = v1::SketchSearch::NewStub(channel_);
    for (const v1::Drawing& drawing : drawings_) {
      Expected e;
      grpc::ClientContext c1, c2;
      v1::ClassifyRequest classify;
      *classify.mutable_drawing() = drawing;
      classify.set_k(3);
      v1::ClassifyResponse classified;
      if (!stub->Classify(&c1, classify, &classified).ok()) return false;
      for (const auto& c : classified.classes()) {
        e.labels.push_back(c.label());
        e.probabilities.push_back(c.probability());
      }
      v1::SearchRequest search;
      *search.mutable_drawing() = drawing;
      search.set_k(5);
      v1::SearchResponse found;
      if (!stub->Search(&c2, search, &found).ok()) return false;
      for (const auto& h : found.hits()) {
        e.hit_ids.push_back(h.id());
        e.distances.push_back(h.distance());
      }
      expected_.push_back(std::move(e));
    }
    return !drawings_.empty();
  }

  void Client(int index, absl::Time end) {
    auto stub = v1::SketchSearch::NewStub(channel_);
    std::mt19937 rng(1234 + index);
    while (absl::Now() < end) {
      const size_t i = rng() % drawings_.size();
      const int kind = static_cast<int>(rng() % 100);
      if (kind < 45) {
        Check("valid classify", ValidClassify(stub.get(), i, absl::Seconds(30)), {Code::OK});
      } else if (kind < 60) {
        Check("valid search", ValidSearch(stub.get(), i), {Code::OK});
      } else if (kind < 70) {
        grpc::ClientContext context;
        v1::ClassifyRequest bad;
        *bad.mutable_drawing() = drawings_[i];
        bad.set_k(0);
        v1::ClassifyResponse response;
        Check("invalid k", stub->Classify(&context, bad, &response).error_code(),
              {Code::INVALID_ARGUMENT});
      } else if (kind < 75) {
        grpc::ClientContext context;
        v1::ClassifyRequest hostile;
        for (int s = 0; s < 100000; ++s) hostile.mutable_drawing()->mutable_ink()->add_strokes();
        hostile.set_k(1);
        v1::ClassifyResponse response;
        Check("hostile strokes", stub->Classify(&context, hostile, &response).error_code(),
              {Code::INVALID_ARGUMENT});
      } else if (kind < 87) {
        Check("cancelled", Cancelled(stub.get(), i, absl::Microseconds(rng() % 5000)),
              {Code::OK, Code::CANCELLED});
      } else {
        Check("deadline-bound", ValidClassify(stub.get(), i, absl::Milliseconds(1 + rng() % 20)),
              {Code::OK, Code::DEADLINE_EXCEEDED, Code::RESOURCE_EXHAUSTED});
      }
    }
  }

  // The status code; a valid answer that differs from the expected one counts as wrong.
  Code ValidClassify(v1::SketchSearch::Stub* stub, size_t i, absl::Duration deadline) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    v1::ClassifyRequest request;
    *request.mutable_drawing() = drawings_[i];
    request.set_k(3);
    v1::ClassifyResponse response;
    const grpc::Status status = stub->Classify(&context, request, &response);
    if (status.ok()) {
      std::vector<int> labels;
      std::vector<float> probabilities;
      for (const auto& c : response.classes()) {
        labels.push_back(c.label());
        probabilities.push_back(c.probability());
      }
      if (!SameRanking(expected_[i].labels, expected_[i].probabilities, labels, probabilities)) {
        ++wrong_answers_;
      }
    }
    return status.error_code();
  }

  Code ValidSearch(v1::SketchSearch::Stub* stub, size_t i) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::SearchRequest request;
    *request.mutable_drawing() = drawings_[i];
    request.set_k(5);
    v1::SearchResponse response;
    const grpc::Status status = stub->Search(&context, request, &response);
    if (status.ok()) {
      std::vector<int64_t> ids;
      std::vector<float> distances;
      for (const auto& h : response.hits()) {
        ids.push_back(h.id());
        distances.push_back(h.distance());
      }
      if (!SameRanking(expected_[i].hit_ids, expected_[i].distances, ids, distances)) {
        ++wrong_answers_;
      }
    }
    return status.error_code();
  }

  // A call its client cancels after `after`.
  Code Cancelled(v1::SketchSearch::Stub* stub, size_t i, absl::Duration after) {
    grpc::ClientContext context;
    v1::ClassifyRequest request;
    *request.mutable_drawing() = drawings_[i];
    request.set_k(3);
    v1::ClassifyResponse response;
    absl::Notification done;
    grpc::Status status;
    stub->async()->Classify(&context, &request, &response, [&](grpc::Status s) {
      status = std::move(s);
      done.Notify();
    });
    if (!done.WaitForNotificationWithTimeout(after)) context.TryCancel();
    done.WaitForNotification();
    return status.error_code();
  }

  void Check(const char* kind, Code got, std::initializer_list<Code> allowed) {
    ++calls_;
    if (std::find(allowed.begin(), allowed.end(), got) != allowed.end()) return;
    std::lock_guard<std::mutex> lock(mu_);
    ++unexpected_[absl::StrCat(kind, ": code ", static_cast<int>(got))];
  }

  int Run() {
    const absl::Time start = absl::Now();
    const double total_seconds = flags_.warmup_seconds + flags_.seconds;
    const absl::Time end = start + absl::Seconds(total_seconds);
    std::vector<testing::MemorySample> rss;   // minutes since start, MB
    std::vector<testing::MemorySample> anon;  // the same for RssAnon alone
    std::thread sampler([&] {
      while (absl::Now() < end) {
        const double minute = absl::ToDoubleMinutes(absl::Now() - start);
        anon.push_back({minute, testing::ProcessStatusMb(flags_.server_pid, "RssAnon")});
        rss.push_back({minute, testing::ProcessStatusMb(flags_.server_pid, "VmRSS")});
        absl::SleepFor(absl::Seconds(1));
      }
    });
    std::vector<std::thread> clients;
    for (int c = 0; c < flags_.clients; ++c)
      clients.emplace_back([this, c, end] { Client(c, end); });
    for (auto& t : clients) t.join();
    sampler.join();

    // The slope over the measured window less its first quarter (the server's caches, oneDNN's
    // primitives per batch shape and the allocator's arenas, fill during the warm-up), as the
    // growth that persists through both its halves, which a leak's steady climb sets and a single
    // step does not (tests/testing/memory_growth.h); the least-squares slope over the whole of
    // it, which a step moves, is printed beside it.
    const double from_minute = (flags_.warmup_seconds + flags_.seconds / 4) / 60.0;
    const double slope = testing::PersistentSlope(rss, from_minute);
    const double least_squares_slope = testing::LeastSquaresSlope(rss, from_minute);
    const double anon_slope = testing::PersistentSlope(anon, from_minute);
    const bool alive = kill(flags_.server_pid, 0) == 0;
    std::printf(
        "soak: %d clients, %.0f s, %lld calls (%.0f/s), %lld wrong answers, %zu "
        "unexpected codes\n",
        flags_.clients, total_seconds, static_cast<long long>(calls_.load()),
        calls_.load() / total_seconds, static_cast<long long>(wrong_answers_.load()),
        unexpected_.size());
    for (const auto& [what, count] : unexpected_) std::printf("  %s: %d\n", what.c_str(), count);
    std::printf(
        "soak: server RSS %.1f -> %.1f MB, slope %.2f MB/min (bound %.2f; least squares %.2f), "
        "%s\n",
        rss.empty() ? NAN : rss.front().mb, rss.empty() ? NAN : rss.back().mb, slope,
        flags_.max_rss_slope, least_squares_slope, alive ? "server alive" : "SERVER GONE");
    std::printf("soak: of it anonymous (RssAnon) %.1f -> %.1f MB, slope %.2f MB/min\n",
                anon.empty() ? NAN : anon.front().mb, anon.empty() ? NAN : anon.back().mb,
                anon_slope);
    const bool passed = alive && wrong_answers_ == 0 && unexpected_.empty() &&
                        std::isfinite(slope) && slope < flags_.max_rss_slope;
    if (!passed) {  // the fitted window's samples, to tell a step from a climb
      std::printf("soak: RSS in the fitted window (s: MB):");
      for (const testing::MemorySample& sample : rss) {
        if (sample.minute >= from_minute) std::printf(" %.0f:%.1f", sample.minute * 60, sample.mb);
      }
      std::printf("\n");
    }
    std::printf("soak: %s\n", passed ? "PASS" : "FAIL");
    return passed ? 0 : 1;
  }

 private:
  const Flags flags_;
  std::shared_ptr<grpc::Channel> channel_;
  std::vector<v1::Drawing> drawings_;
  std::vector<Expected> expected_;
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> wrong_answers_{0};
  std::mutex mu_;
  std::map<std::string, int> unexpected_;
};

int Main(int argc, char** argv) {
  CLI::App app{"sketch_soak_client: a mixed load against a running sketch-server"};
  Flags flags;
  app.add_option("--target", flags.target)->required();
  app.add_option("--server-pid", flags.server_pid)->required();
  app.add_option("--data", flags.data, "folder of drawings (the valid requests)")->required();
  app.add_option("--seconds", flags.seconds, "the measured window")->capture_default_str();
  app.add_option("--warmup-seconds", flags.warmup_seconds,
                 "load before the window (answers checked, RSS not measured)")
      ->capture_default_str();
  app.add_option("--clients", flags.clients)->capture_default_str();
  app.add_option("--max-rss-slope", flags.max_rss_slope, "MB per minute")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  Soak soak(flags);
  if (!soak.Prepare()) {
    std::cerr << "sketch_soak_client: could not take the expected answers\n";
    return 1;
  }
  return soak.Run();
}

}  // namespace
}  // namespace sketch

int main(int argc, char** argv) { return sketch::Main(argc, argv); }
