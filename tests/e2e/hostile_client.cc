// sketch_hostile_client: sends the hostile requests of issue 13 to a running sketch-server and
// checks that each gets its status code, that the server keeps answering a healthy request
// after each, and that its resident memory stays bounded (peak over the baseline, per case) and
// comes back near the baseline. Driven by tests/e2e/hostile_requests_test.sh; prints one line a
// case and the memory table, exits 1 when a check fails.
//
//   sketch_hostile_client --target 127.0.0.1:PORT --server-pid PID --drawing FILE.ndjson
//                         [--max-peak-mb 200] [--max-after-mb 100]
//
// The server must run with --max-queue-size 64 (the queue cases fill it) and serve a bundle of
// fewer than 7813 indexed drawings.
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/sketch_client.h"
#include "core/sketch_reader.h"
#include "proto/drawing_convert.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"
#include "tests/testing/loopback.h"
#include "tests/testing/process_memory.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

struct Flags {
  std::string target;
  int server_pid = 0;
  std::string drawing;
  double max_peak_mb = 200;
  double max_after_mb = 100;
};

double StatusMb(int pid, const std::string& key) { return testing::ProcessStatusMb(pid, key); }

class Hostile {
 public:
  Hostile(const Flags& flags, v1::Drawing healthy)
      : flags_(flags),
        channel_(MakeChannel(flags.target)),
        stub_(v1::SketchSearch::NewStub(channel_)),
        healthy_(std::move(healthy)) {}

  // Runs `send` (which returns the status it got), expects one of `want`, then a healthy call.
  void Case(const std::string& name, std::vector<grpc::StatusCode> want,
            const std::function<grpc::Status()>& send) {
    testing::ResetPeakRss(flags_.server_pid);
    const double before = StatusMb(flags_.server_pid, "VmRSS");
    const absl::Time start = absl::Now();
    const grpc::Status got = send();
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    const double peak = StatusMb(flags_.server_pid, "VmHWM");
    const bool code_ok = std::find(want.begin(), want.end(), got.error_code()) != want.end();
    const bool healthy = Healthy();
    const bool memory_ok = peak - before <= flags_.max_peak_mb;
    std::printf("%-30s %-20s %6.2f s  rss %7.1f MB, peak +%6.1f MB  %s%s%s  %s\n", name.c_str(),
                StatusCodeName(got.error_code()), seconds, before, peak - before,
                code_ok ? "" : "WRONG CODE ", healthy ? "" : "UNHEALTHY ",
                memory_ok ? "" : "MEMORY ", got.error_message().substr(0, 90).c_str());
    std::fflush(stdout);
    ok_ = ok_ && code_ok && healthy && memory_ok;
  }

  bool Healthy() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ClassifyRequest request;
    *request.mutable_drawing() = healthy_;
    request.set_k(1);
    v1::ClassifyResponse response;
    return stub_->Classify(&context, request, &response).ok() && response.classes_size() == 1;
  }

  v1::SketchSearch::Stub* stub() { return stub_.get(); }
  const v1::Drawing& healthy() const { return healthy_; }
  bool ok() const { return ok_; }

  static const char* StatusCodeName(grpc::StatusCode code) {
    switch (code) {
      case grpc::StatusCode::OK:
        return "OK";
      case grpc::StatusCode::INVALID_ARGUMENT:
        return "INVALID_ARGUMENT";
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        return "RESOURCE_EXHAUSTED";
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return "DEADLINE_EXCEEDED";
      case grpc::StatusCode::UNAVAILABLE:
        return "UNAVAILABLE";
      case grpc::StatusCode::CANCELLED:
        return "CANCELLED";
      default:
        return "OTHER";
    }
  }

 private:
  const Flags flags_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SketchSearch::Stub> stub_;
  const v1::Drawing healthy_;
  bool ok_ = true;
};

v1::Drawing EmptyStrokes(int n) {
  v1::Drawing drawing;
  drawing.mutable_ink()->set_frame(v1::FRAME_SIMPLIFIED);
  for (int i = 0; i < n; ++i) drawing.mutable_ink()->add_strokes();
  return drawing;
}

template <typename Request, typename Response>
grpc::Status Call(grpc::Status (v1::SketchSearch::Stub::*method)(grpc::ClientContext*,
                                                                 const Request&, Response*),
                  v1::SketchSearch::Stub* stub, const Request& request,
                  absl::Duration deadline = absl::Seconds(60)) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  Response response;
  return (stub->*method)(&context, request, &response);
}

// `n` copies of `send` at once; the first status that is not `want`, else `want`.
grpc::Status Concurrently(int n, grpc::StatusCode want, const std::function<grpc::Status()>& send) {
  std::vector<grpc::Status> statuses(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back([&, i] { statuses[i] = send(); });
  for (auto& t : threads) t.join();
  for (const grpc::Status& s : statuses) {
    if (s.error_code() != want) return s;
  }
  return statuses[0];
}

// A connection that sends the HTTP/2 preface and an empty SETTINGS frame, then stalls
// (slowloris): no HEADERS ever follow.
int StalledConnection(int port) {
  const int fd = testing::ConnectLoopback(port);
  if (fd < 0) return -1;
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const char settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
  if (write(fd, preface.data(), preface.size()) < 0 || write(fd, settings, 9) < 0) return -1;
  return fd;
}

int Main(int argc, char** argv) {
  CLI::App app{"sketch_hostile_client: hostile requests against a running sketch-server"};
  Flags flags;
  app.add_option("--target", flags.target)->required();
  app.add_option("--server-pid", flags.server_pid)->required();
  app.add_option("--drawing", flags.drawing, "an ndjson file; its first drawing is the healthy one")
      ->required();
  app.add_option("--max-peak-mb", flags.max_peak_mb)->capture_default_str();
  app.add_option("--max-after-mb", flags.max_after_mb)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto reader = OpenSketchReader(flags.drawing);
  Sketch sketch;
  if (!reader.ok() || !(*reader)->Next(&sketch).value_or(false)) {
    std::cerr << "sketch_hostile_client: cannot read a drawing from " << flags.drawing << "\n";
    return 2;
  }
  Hostile hostile(flags, SketchToDrawing(sketch));
  if (!hostile.Healthy()) {
    std::cerr << "sketch_hostile_client: the server does not answer a healthy Classify\n";
    return 1;
  }
  v1::SketchSearch::Stub* stub = hostile.stub();
  using v1::SketchSearch;
  // The baseline is the server's working set once it has run full model batches (activations
  // stay in its heap on purpose), not the memory of a server that has answered one drawing.
  {
    v1::ClassifyBatchRequest warm;
    for (int i = 0; i < 64; ++i) {
      v1::ClassifyRequest* r = warm.add_requests();
      *r->mutable_drawing() = hostile.healthy();
      r->set_k(1);
    }
    for (int round = 0; round < 3; ++round) {
      if (!Call(&SketchSearch::Stub::ClassifyBatch, stub, warm).ok()) {
        std::cerr << "sketch_hostile_client: the warm-up batch failed\n";
        return 1;
      }
    }
  }
  const double baseline = StatusMb(flags.server_pid, "VmRSS");

  // 8,000,000 empty strokes: 16 MB on the wire, over 1 GB if decoded.
  v1::ClassifyRequest classify_8m;
  *classify_8m.mutable_drawing() = EmptyStrokes(8000000);
  classify_8m.set_k(1);
  hostile.Case("classify 8M empty strokes", {grpc::StatusCode::RESOURCE_EXHAUSTED},
               [&] { return Call(&SketchSearch::Stub::Classify, stub, classify_8m); });
  v1::SearchBatchRequest batch_8m;
  *batch_8m.add_requests()->mutable_drawing() = EmptyStrokes(8000000);
  batch_8m.mutable_requests(0)->set_k(1);
  hostile.Case("search batch 8M empty strokes", {grpc::StatusCode::INVALID_ARGUMENT},
               [&] { return Call(&SketchSearch::Stub::SearchBatch, stub, batch_8m); });
  hostile.Case("8 of them at once", {grpc::StatusCode::INVALID_ARGUMENT}, [&] {
    return Concurrently(8, grpc::StatusCode::INVALID_ARGUMENT,
                        [&] { return Call(&SketchSearch::Stub::SearchBatch, stub, batch_8m); });
  });
  classify_8m.Clear();
  batch_8m.Clear();

  // 256 searches of k = 7813: 2,000,000 hits asked in about 5 KB.
  v1::SearchBatchRequest hits_2m;
  for (int i = 0; i < 256; ++i) {
    v1::SearchRequest* r = hits_2m.add_requests();
    *r->mutable_drawing() = hostile.healthy();
    r->set_k(7813);
  }
  hostile.Case("search batch of 2M hits", {grpc::StatusCode::INVALID_ARGUMENT},
               [&] { return Call(&SketchSearch::Stub::SearchBatch, stub, hits_2m); });

  // 1000 copies of one class filter: costs what one does.
  v1::SearchRequest filters;
  *filters.mutable_drawing() = hostile.healthy();
  filters.set_k(5);
  for (int i = 0; i < 1000; ++i) filters.add_classes(sketch.word);
  hostile.Case("1000 duplicate class filters", {grpc::StatusCode::OK},
               [&] { return Call(&SketchSearch::Stub::Search, stub, filters); });

  // A batch larger than the whole queue (64) is refused whole, at once.
  v1::ClassifyBatchRequest big_batch;
  for (int i = 0; i < 100; ++i) {
    v1::ClassifyRequest* r = big_batch.add_requests();
    *r->mutable_drawing() = hostile.healthy();
    r->set_k(1);
  }
  hostile.Case("batch that does not fit", {grpc::StatusCode::RESOURCE_EXHAUSTED},
               [&] { return Call(&SketchSearch::Stub::ClassifyBatch, stub, big_batch); });

  // Sixteen batches of 40 at once against a queue of 64: some must be turned away at once.
  v1::ClassifyBatchRequest batch_40;
  for (int i = 0; i < 40; ++i) *batch_40.add_requests() = big_batch.requests(i);
  hostile.Case("full queue", {grpc::StatusCode::RESOURCE_EXHAUSTED}, [&] {
    std::vector<grpc::Status> statuses(16);
    std::vector<std::thread> threads;
    for (int i = 0; i < 16; ++i) {
      threads.emplace_back(
          [&, i] { statuses[i] = Call(&SketchSearch::Stub::ClassifyBatch, stub, batch_40); });
    }
    for (auto& t : threads) t.join();
    int ok = 0, refused = 0;
    for (const grpc::Status& s : statuses) {
      ok += s.ok();
      refused += s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
    }
    if (ok == 0 || refused == 0 || ok + refused != 16) {
      return grpc::Status(grpc::StatusCode::UNKNOWN,
                          absl::StrCat(ok, " answered and ", refused, " refused of 16"));
    }
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat(ok, " answered, ", refused, " refused at once"));
  });

  // A deadline that passes before the model could answer: refused at once, by the client's gRPC
  // or the server (DEADLINE_EXCEEDED when it had passed on arrival, RESOURCE_EXHAUSTED when the
  // work ahead would outlast it), never run.
  v1::ClassifyRequest healthy;
  *healthy.mutable_drawing() = hostile.healthy();
  healthy.set_k(1);
  hostile.Case("expired deadline",
               {grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::RESOURCE_EXHAUSTED}, [&] {
                 return Call(&SketchSearch::Stub::Classify, stub, healthy, absl::Microseconds(1));
               });

  // Ten connections that open HTTP/2 and stall; healthy calls go on meanwhile.
  const int port = std::stoi(flags.target.substr(flags.target.rfind(':') + 1));
  std::vector<int> stalled;
  hostile.Case("slowloris connections", {grpc::StatusCode::OK}, [&] {
    for (int i = 0; i < 10; ++i) stalled.push_back(StalledConnection(port));
    absl::SleepFor(absl::Milliseconds(500));
    return Call(&SketchSearch::Stub::Classify, stub, healthy);
  });
  for (int fd : stalled) {
    if (fd >= 0) close(fd);
  }

  // Memory back near where it started: the server gives freed memory back every few seconds
  // (ServerOptions::memory_trim_interval).
  double after = StatusMb(flags.server_pid, "VmRSS");
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (after - baseline > flags.max_after_mb && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(250));
    after = StatusMb(flags.server_pid, "VmRSS");
  }
  const bool returned = after - baseline <= flags.max_after_mb;
  std::printf("rss: baseline %.1f MB, after %.1f MB (+%.1f, bound +%.0f)%s\n", baseline, after,
              after - baseline, flags.max_after_mb, returned ? "" : "  MEMORY NOT RETURNED");
  const bool passed = hostile.ok() && returned;
  std::printf("hostile requests: %s\n", passed ? "PASS" : "FAIL");
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace sketch

int main(int argc, char** argv) { return sketch::Main(argc, argv); }
