// HTTP/JSON Classify against gRPC Classify on one in-process sketch-server (same bundle, same
// batcher, same run): closed-loop clients, each with its own connection, each sending its next
// call when the last is answered, at 1 and 16 clients (issue 12: HTTP >= 80 % of gRPC's throughput
// at 16). Trials alternate protocols so that drift (other work on the machine) hits both alike.
// Both clients do their protocol's full work per call: gRPC encodes and decodes protobuf, the
// HTTP client prints the request as JSON and parses the answer back into the message.
// A benchmark, not a test.
//
//   sketch_http_bench --bundle out/serving-bench/bundle [--seconds 5] [--rounds 2]
#include <google/protobuf/util/json_util.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "core/sketch_reader.h"
#include "proto/drawing_convert.h"
#include "server/bundle_loader.h"
#include "server/server.h"

namespace {

namespace v1 = ::sketchsearch::v1;

struct Flags {
  std::string bundle,
      drawings = std::string(SKETCH_SOURCE_DIR) + "/tests/data/quickdraw/simplified";
  std::string clients = "1,16";
  double seconds = 5;
  int rounds = 2, threads = 0, http_threads = 32, max_batch_size = 32;
};

struct Trial {
  int64_t calls = 0, failures = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
  double Rate() const { return calls / seconds; }
  double Percentile(double p) const {
    if (latencies_ms.empty()) return 0;
    return latencies_ms[std::min(latencies_ms.size() - 1,
                                 static_cast<size_t>(p * latencies_ms.size()))];
  }
};

std::vector<v1::ClassifyRequest> LoadRequests(const std::string& folder) {
  std::vector<v1::ClassifyRequest> requests;
  for (const char* word : {"cat", "airplane", "guitar", "eye", "camera", "bicycle"}) {
    auto reader = sketch::OpenSketchReader(absl::StrCat(folder, "/", word, ".ndjson"));
    if (!reader.ok()) continue;
    sketch::Sketch sketch;
    for (int i = 0; i < 40; ++i) {
      auto more = (*reader)->Next(&sketch);
      if (!more.ok() || !*more) break;
      v1::ClassifyRequest request;
      *request.mutable_drawing() = sketch::SketchToDrawing(sketch);
      request.set_k(5);
      requests.push_back(std::move(request));
    }
  }
  return requests;
}

// `clients` threads calling `call(client, i)` (true: answered OK) until `seconds` have passed.
template <typename MakeClient, typename Call>
Trial RunTrial(int clients, double seconds, MakeClient make_client, Call call) {
  std::vector<std::vector<double>> latencies(clients);
  std::vector<int64_t> failures(clients, 0);
  const absl::Time end = absl::Now() + absl::Seconds(seconds);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto client = make_client();
      for (int i = c; absl::Now() < end; i += clients) {
        const absl::Time sent = absl::Now();
        if (call(*client, i)) {
          latencies[c].push_back(absl::ToDoubleMilliseconds(absl::Now() - sent));
        } else {
          ++failures[c];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  Trial trial;
  trial.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  for (int c = 0; c < clients; ++c) {
    trial.latencies_ms.insert(trial.latencies_ms.end(), latencies[c].begin(), latencies[c].end());
    trial.failures += failures[c];
  }
  trial.calls = static_cast<int64_t>(trial.latencies_ms.size());
  std::sort(trial.latencies_ms.begin(), trial.latencies_ms.end());
  return trial;
}

Trial GrpcTrial(int clients, double seconds, int port,
                const std::vector<v1::ClassifyRequest>& requests) {
  std::atomic<int> next_channel{0};
  return RunTrial(
      clients, seconds,
      [&] {
        // A channel argument unique to the client keeps gRPC from sharing one connection.
        grpc::ChannelArguments args;
        args.SetInt("sketch.bench.client", next_channel++);
        return v1::SketchSearch::NewStub(grpc::CreateCustomChannel(
            absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials(), args));
      },
      [&](v1::SketchSearch::Stub& stub, int i) {
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
        v1::ClassifyResponse response;
        return stub.Classify(&context, requests[i % requests.size()], &response).ok() &&
               response.classes_size() == 5;
      });
}

Trial HttpTrial(int clients, double seconds, int port,
                const std::vector<v1::ClassifyRequest>& requests) {
  return RunTrial(
      clients, seconds,
      [&] {
        auto client = std::make_unique<httplib::Client>("127.0.0.1", port);
        client->set_keep_alive(true);
        client->set_tcp_nodelay(true);
        return client;
      },
      [&](httplib::Client& client, int i) {
        std::string body;
        if (!google::protobuf::util::MessageToJsonString(requests[i % requests.size()], &body)
                 .ok()) {
          return false;
        }
        auto result = client.Post("/v1/classify", {{"X-Request-Timeout-Ms", "10000"}}, body,
                                  "application/json");
        if (!result || result->status != 200) return false;
        v1::ClassifyResponse response;
        return google::protobuf::util::JsonStringToMessage(result->body, &response).ok() &&
               response.classes_size() == 5;
      });
}

void Print(const char* protocol, int clients, int round, const Trial& t) {
  std::printf("| %-4s | %2d | %d | %8.1f | %6.2f | %6.2f | %6.2f | %lld |\n", protocol, clients,
              round, t.Rate(), t.Percentile(0.5), t.Percentile(0.9), t.Percentile(0.99),
              static_cast<long long>(t.failures));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sketch_http_bench: HTTP/JSON Classify against gRPC Classify, same server"};
  Flags flags;
  app.add_option("--bundle", flags.bundle, "model bundle directory")->required();
  app.add_option("--drawings", flags.drawings, "folder of simplified ndjson files")
      ->capture_default_str();
  app.add_option("--clients", flags.clients, "concurrent clients per trial, comma-separated")
      ->capture_default_str();
  app.add_option("--seconds", flags.seconds, "length of a trial")->capture_default_str();
  app.add_option("--rounds", flags.rounds, "trials per protocol and client count")
      ->capture_default_str();
  app.add_option("--threads", flags.threads, "model intra-op threads (0: all cores)")
      ->capture_default_str();
  app.add_option("--http-threads", flags.http_threads, "cpp-httplib workers")
      ->capture_default_str();
  app.add_option("--max-batch-size", flags.max_batch_size, "the batcher's largest batch")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::vector<v1::ClassifyRequest> requests = LoadRequests(flags.drawings);
  if (requests.empty()) {
    std::fprintf(stderr, "no drawings under %s\n", flags.drawings.c_str());
    return 1;
  }
  sketch::ServerOptions options;
  options.address = "127.0.0.1:0";
  options.serve_http = true;
  options.http.threads = flags.http_threads;
  options.backend.batcher.max_batch_size = flags.max_batch_size;
  auto server = sketch::SketchServer::Start(options);
  if (!server.ok()) return std::fprintf(stderr, "%s\n", server.status().ToString().c_str()), 1;
  sketch::ModelServingOptions model;
  model.threads = flags.threads;
  auto bundle = sketch::LoadServableBundle(flags.bundle, model);
  if (!bundle.ok()) return std::fprintf(stderr, "%s\n", bundle.status().ToString().c_str()), 1;
  const std::string served = absl::StrCat(bundle->info.architecture, ", ", bundle->precision, ", ",
                                          bundle->threads, " model threads");
  if (auto s = (*server)->Serve(std::move(bundle->embedder), std::move(bundle->index),
                                std::move(bundle->info));
      !s.ok()) {
    return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  }
  std::printf(
      "bundle %s (%s), %zu drawings, max batch %d, %d http workers, %u hardware threads\n\n",
      flags.bundle.c_str(), served.c_str(), requests.size(), flags.max_batch_size,
      flags.http_threads, std::thread::hardware_concurrency());
  std::printf("| protocol | clients | round | calls/s | p50 ms | p90 ms | p99 ms | failed |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  // One short unmeasured trial each: connections, allocator and model warm.
  GrpcTrial(1, 0.5, (*server)->port(), requests);
  HttpTrial(1, 0.5, (*server)->http_port(), requests);
  std::vector<std::string> summary;
  for (const absl::string_view text : absl::StrSplit(flags.clients, ',')) {
    int clients = 0;
    if (!absl::SimpleAtoi(text, &clients) || clients < 1) {
      std::fprintf(stderr, "--clients: bad count '%s'\n", std::string(text).c_str());
      return 1;
    }
    double grpc_calls = 0, grpc_seconds = 0, http_calls = 0, http_seconds = 0;
    for (int round = 1; round <= flags.rounds; ++round) {
      const Trial g = GrpcTrial(clients, flags.seconds, (*server)->port(), requests);
      Print("grpc", clients, round, g);
      const Trial h = HttpTrial(clients, flags.seconds, (*server)->http_port(), requests);
      Print("http", clients, round, h);
      grpc_calls += g.calls, grpc_seconds += g.seconds;
      http_calls += h.calls, http_seconds += h.seconds;
    }
    const double grpc_rate = grpc_calls / grpc_seconds, http_rate = http_calls / http_seconds;
    summary.push_back(absl::StrCat(clients, " clients: gRPC ", static_cast<int>(grpc_rate),
                                   " calls/s, HTTP ", static_cast<int>(http_rate),
                                   " calls/s, HTTP/gRPC ",
                                   static_cast<int>(100 * http_rate / grpc_rate + 0.5), " %"));
  }
  std::printf("\n");
  for (const std::string& line : summary) std::printf("%s\n", line.c_str());
  (*server)->Shutdown(absl::Seconds(5));
  return 0;
}
