// Serving benchmark (figures, not pass/fail): in one run and one process, side by side,
//   - the in-process batched inference throughput of the bundle's network (TorchEmbedder::
//     EmbedBatch on real drawings, rasterization included, at batch 1, the largest client count
//     and the server's max batch size),
//   - a real SketchServer on 127.0.0.1:0 (TCP loopback, the full gRPC + proto conversion +
//     DynamicBatcher + classifier path) with batching on (max batch 32, default queue delay) and
//     off (max batch 1), each driven by closed-loop Classify clients (1, 4, 16 by default) for a
//     fixed duration: throughput, p50/p99 latency, the mean model batch size, and the ratios
//     throughput / in-process (at the max batch size) and p99 / single-request latency (the p50
//     of 1 client with batching on).
// Each client is one thread with its own channel and its own TCP connection (a local subchannel
// pool, so channels do not share a connection), like independent callers; --channels shared
// puts every client on one channel (one HTTP/2 connection) instead.
//
// The in-process loop runs on a std::thread of its own, as the server's one batcher worker runs
// the model. Observed with Debian's LibTorch (OpenMP = libgomp, convolutions through OpenBLAS)
// on the loaded 2-core machine: the same loop on the main thread was up to 10x slower at batch 1
// and 1.5-3x at batch 32, nearly all of it in libgomp's spin-wait. The likely cause: libgomp
// spins at full count while it manages no more threads than CPUs, and throttles its spin once a
// second team exists (the main thread's, from the bundle's warm-up). OMP_WAIT_POLICY=passive
// removed most of the gap at batch 1; the header prints the OpenMP/BLAS environment.
//
// The bundle is loaded once; both servers use the same embedder and index. Clients, gRPC and the
// model share this machine's cores, as they would with a client on the server's host.
//
// Default bundle: out/serving-bench/bundle, made (one line) by
//   SKETCH_TRAINER=build/<dir>/trainer/sketch-trainer
//   SKETCH_TRAIN_FLAGS="--recipe default --epochs 1 --threads 1"
//   scripts/train_bundle.sh tests/data/quickdraw/simplified out/serving-bench
// (the benchmark measures speed, not quality).
//
//   sketch_serving_bench [--bundle DIR] [--data DIR] [--threads N] [--precision fp32|bf16|auto]
//                        [--seconds S] [--warmup-seconds S] [--clients 1,4,16]
//                        [--max-batch-size 32] [--max-queue-delay-us 2000]
//                        [--channels per-client|shared]
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/child_server.h"
#include "client/sketch_client.h"
#include "core/process_cpu_time.h"
#include "core/sketch_reader.h"
#include "proto/drawing_convert.h"
#include "server/bundle_loader.h"
#include "server/server.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::sketchsearch::v1;
using Clock = std::chrono::steady_clock;

struct Flags {
  std::string bundle = std::string(SKETCH_SOURCE_DIR) + "/out/serving-bench/bundle";
  std::string data = std::string(SKETCH_SOURCE_DIR) + "/tests/data/quickdraw/simplified";
  int threads = 0;  // 0: every core this process may use
  std::string precision = "fp32";
  double seconds = 3;
  double warmup_seconds = 0.5;
  std::vector<int> clients = {1, 4, 16};
  int max_batch_size = 32;
  int max_queue_delay_us = 2000;
  std::string channels = "per-client";
  std::vector<std::string> external;  // NAME=BINARY: sketch-server programs run as children
  int k = 3;
};

// Pass-through wrappers, so the one loaded embedder and index serve both servers in turn
// (SketchServer::Serve takes ownership; the wrappers are what it gets).
class SharedEmbedder : public Embedder {
 public:
  explicit SharedEmbedder(std::shared_ptr<Embedder> e) : e_(std::move(e)) {}
  absl::StatusOr<EmbedResult> EmbedBatch(const std::vector<const Sketch*>& s) override {
    return e_->EmbedBatch(s);
  }
  int num_classes() const override { return e_->num_classes(); }
  const std::vector<std::string>& class_names() const override { return e_->class_names(); }
  int dimension() const override { return e_->dimension(); }
  int input_size() const override { return e_->input_size(); }

 private:
  std::shared_ptr<Embedder> e_;
};

class SharedIndex : public FeatureIndex {
 public:
  explicit SharedIndex(std::shared_ptr<const FeatureIndex> i) : i_(std::move(i)) {}
  int dimension() const override { return i_->dimension(); }
  int64_t size() const override { return i_->size(); }
  const IndexedSketch& metadata(int64_t id) const override { return i_->metadata(id); }
  absl::StatusOr<std::vector<std::vector<Neighbor>>> Search(
      absl::Span<const float> queries, int k, const SearchFilter& filter) const override {
    return i_->Search(queries, k, filter);
  }

 private:
  std::shared_ptr<const FeatureIndex> i_;
};

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string LoadAverage() { return ReadFirstLine("/proc/loadavg"); }

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "unknown";
}

// Every drawing of every file in `dir`, files in name order.
absl::StatusOr<std::vector<Sketch>> LoadDrawings(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  std::vector<Sketch> sketches;
  for (const std::string& file : files) {
    auto reader = OpenSketchReader(file);
    if (!reader.ok()) return reader.status();
    Sketch s;
    while (true) {
      absl::StatusOr<bool> more = (*reader)->Next(&s);
      if (!more.ok()) return more.status();
      if (!*more) break;
      sketches.push_back(s);
    }
  }
  if (sketches.empty()) return absl::NotFoundError(absl::StrCat("no drawings in ", dir));
  return sketches;
}

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return NAN;
  // Nearest rank.
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

struct InProcess {
  double throughput = NAN;  // drawings/s
  double batch_ms = NAN;    // median time of one call
  double cores = NAN;       // process CPU seconds per wall second while it ran
};

// In-process: EmbedBatch on batches of `batch` drawings, cycled, for `seconds` after one warm-up
// call.
InProcess InProcessThroughput(Embedder* embedder, const std::vector<Sketch>& drawings, int batch,
                              double seconds) {
  InProcess result;
  size_t next = 0;
  auto make_batch = [&] {
    std::vector<const Sketch*> b;
    for (int i = 0; i < batch; ++i) b.push_back(&drawings[next++ % drawings.size()]);
    return b;
  };
  if (!embedder->EmbedBatch(make_batch()).ok()) return result;  // warm-up (one-time set-up)
  std::vector<double> times;
  int64_t done = 0;
  const double cpu_start = ProcessCpuSeconds();
  const Clock::time_point start = Clock::now();
  const Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  Clock::time_point now = start;
  while (now < end) {
    const auto b = make_batch();
    const Clock::time_point t0 = Clock::now();
    absl::StatusOr<EmbedResult> r = embedder->EmbedBatch(b);
    now = Clock::now();
    if (!r.ok()) {
      std::cerr << "EmbedBatch: " << r.status() << "\n";
      return result;
    }
    times.push_back(std::chrono::duration<double, std::milli>(now - t0).count());
    done += batch;
  }
  const double wall = std::chrono::duration<double>(now - start).count();
  std::sort(times.begin(), times.end());
  result.batch_ms = Percentile(times, 0.5);
  result.throughput = static_cast<double>(done) / wall;
  result.cores = (ProcessCpuSeconds() - cpu_start) / wall;
  return result;
}

std::shared_ptr<grpc::Channel> OwnChannel(const std::string& target) {
  // MakeChannel's settings, plus a subchannel pool of its own: without it gRPC would put every
  // channel to the same target with the same arguments on one shared TCP connection.
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetLoadBalancingPolicyName("round_robin");
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

struct Cell {
  std::string server;  // ServerUnderTest::name
  bool batching = false;
  int clients = 0;
  int64_t requests = 0;
  int64_t errors = 0;
  std::string first_error;
  double throughput = 0;  // req/s
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double mean_batch = 0;   // drawings per model batch (server metrics)
  double model_busy = 0;   // fraction of the time the model worker was computing
  double cores = 0;        // process CPU seconds per wall second (clients + server + model)
  std::string loadavg;     // at the end of the cell
};

// Sum and count of a Prometheus histogram (no labels) in `text`.
std::pair<double, double> HistogramSumCount(const std::string& text, const std::string& name) {
  double sum = 0, count = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "_sum ", 0) == 0) sum = std::stod(line.substr(name.size() + 5));
    if (line.rfind(name + "_count ", 0) == 0) count = std::stod(line.substr(name.size() + 7));
  }
  return {sum, count};
}

// Where a cell's server runs: its address, its metrics text and the CPU seconds spent by the
// clients and the server together.
struct ServerUnderTest {
  std::string name;  // "in-process" or an external server's label
  std::string target;
  std::function<std::string()> metrics;
  std::function<double()> cpu_seconds;
};

// Closed loop: each of `clients` threads sends Classify, waits for the answer, sends the next.
// Requests completing in [start + warmup, + seconds) are counted and their latencies kept.
Cell RunCell(const ServerUnderTest& server, bool batching, int clients, const Flags& flags,
             const std::vector<v1::ClassifyRequest>& requests) {
  const std::string& target = server.target;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  if (flags.channels == "shared") {
    channels.push_back(MakeChannel(target));
  } else {
    for (int c = 0; c < clients; ++c) channels.push_back(OwnChannel(target));
  }
  std::vector<std::unique_ptr<v1::SketchSearch::Stub>> stubs;
  for (auto& ch : channels) {
    ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stubs.push_back(v1::SketchSearch::NewStub(ch));
  }

  const Clock::time_point start =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(flags.warmup_seconds));
  const Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(flags.seconds));
  std::vector<std::vector<double>> latencies(clients);
  std::vector<int64_t> errors(clients, 0);
  std::vector<std::string> first_error(clients);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      SketchClient client(stubs[c % stubs.size()].get(), absl::Seconds(60));
      // Clients start at different drawings so concurrent batches are not all the same drawing.
      size_t next = static_cast<size_t>(c) * requests.size() / static_cast<size_t>(clients);
      latencies[c].reserve(4096);
      while (true) {
        const Clock::time_point t0 = Clock::now();
        if (t0 >= end) break;
        absl::StatusOr<v1::ClassifyResponse> r = client.Classify(requests[next++ % requests.size()]);
        const Clock::time_point t1 = Clock::now();
        if (t1 < start || t1 >= end) continue;
        if (!r.ok()) {
          if (errors[c]++ == 0) first_error[c] = r.status().ToString();
          continue;
        }
        latencies[c].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
    });
  }
  // The server's batch metrics and this process's CPU time over the measured window.
  std::this_thread::sleep_until(start);
  const std::string metrics_at_start = server.metrics();
  const double cpu_at_start = server.cpu_seconds();
  const Clock::time_point metrics_start_time = Clock::now();
  std::this_thread::sleep_until(end);
  const std::string metrics_after = server.metrics();
  const double cpu_at_end = server.cpu_seconds();
  const Clock::time_point metrics_end_time = Clock::now();
  for (auto& t : threads) t.join();

  Cell cell;
  cell.server = server.name;
  cell.batching = batching;
  cell.clients = clients;
  std::vector<double> all;
  for (int c = 0; c < clients; ++c) {
    all.insert(all.end(), latencies[c].begin(), latencies[c].end());
    cell.errors += errors[c];
    if (cell.first_error.empty()) cell.first_error = first_error[c];
  }
  std::sort(all.begin(), all.end());
  cell.requests = static_cast<int64_t>(all.size());
  cell.throughput = static_cast<double>(all.size()) / flags.seconds;
  cell.p50_ms = Percentile(all, 0.5);
  cell.p99_ms = Percentile(all, 0.99);
  cell.max_ms = all.empty() ? NAN : all.back();
  // Batches that finished in the measured window.
  const auto [size_sum0, batches0] =
      HistogramSumCount(metrics_at_start, "sketchsearch_model_batch_size");
  const auto [size_sum1, batches1] = HistogramSumCount(metrics_after, "sketchsearch_model_batch_size");
  const auto [busy0, n0] = HistogramSumCount(metrics_at_start, "sketchsearch_model_batch_duration_seconds");
  const auto [busy1, n1] = HistogramSumCount(metrics_after, "sketchsearch_model_batch_duration_seconds");
  (void)n0;
  (void)n1;
  cell.mean_batch = batches1 > batches0 ? (size_sum1 - size_sum0) / (batches1 - batches0) : NAN;
  const double window = std::chrono::duration<double>(metrics_end_time - metrics_start_time).count();
  cell.model_busy = (busy1 - busy0) / window;
  cell.cores = (cpu_at_end - cpu_at_start) / window;
  cell.loadavg = LoadAverage();
  return cell;
}

absl::StatusOr<std::vector<Cell>> RunServer(bool batching, const Flags& flags,
                                            const std::shared_ptr<Embedder>& embedder,
                                            const std::shared_ptr<const FeatureIndex>& index,
                                            const BundleInfo& info,
                                            const std::vector<v1::ClassifyRequest>& requests) {
  ServerOptions options;
  options.address = "127.0.0.1:0";
  options.backend.batcher.max_batch_size = batching ? flags.max_batch_size : 1;
  options.backend.batcher.max_queue_delay = absl::Microseconds(flags.max_queue_delay_us);
  auto server = SketchServer::Start(options);
  if (!server.ok()) return server.status();
  absl::Status serving = (*server)->Serve(std::make_unique<SharedEmbedder>(embedder),
                                          std::make_unique<SharedIndex>(index), info);
  if (!serving.ok()) return serving;
  std::vector<Cell> cells;
  for (int clients : flags.clients) {
    std::cerr << "serving_bench: batching " << (batching ? "on" : "off") << ", " << clients
              << " client(s) ..." << std::endl;
    SketchServer* s = server->get();
    const ServerUnderTest under_test{"in-process", absl::StrCat("127.0.0.1:", s->port()),
                                     [s] { return s->metrics().Serialize(); },
                                     ProcessCpuSeconds};
    cells.push_back(RunCell(under_test, batching, clients, flags, requests));
  }
  (*server)->Shutdown(absl::Seconds(5));
  return cells;
}

// Each external server (--external NAME=BINARY), batching on, at every client count.
absl::StatusOr<std::vector<Cell>> RunExternalServers(
    const Flags& flags, const std::vector<v1::ClassifyRequest>& requests) {
  std::vector<Cell> cells;
  for (const std::string& spec : flags.external) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--external ", spec, ": want NAME=BINARY"));
    }
    const std::string name = spec.substr(0, eq), binary = spec.substr(eq + 1);
    const std::vector<std::string> args = {
        "--bundle", flags.bundle, "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0",
        "--precision", flags.precision, "--threads", std::to_string(flags.threads),
        "--max-batch-size", std::to_string(flags.max_batch_size), "--max-queue-delay-us",
        std::to_string(flags.max_queue_delay_us)};
    std::cerr << "serving_bench: starting " << name << " (" << binary << ") ..." << std::endl;
    auto child = ChildServer::Launch(binary, args, absl::Minutes(3));
    if (!child.ok()) return child.status();
    const ChildServer* c = child->get();
    const ServerUnderTest under_test{name, absl::StrCat("127.0.0.1:", c->port()),
                                     [c] { return c->Metrics(); },
                                     [c] { return ProcessCpuSeconds() + c->CpuSeconds(); }};
    for (int clients : flags.clients) {
      std::cerr << "serving_bench: " << name << ", " << clients << " client(s) ..." << std::endl;
      cells.push_back(RunCell(under_test, /*batching=*/true, clients, flags, requests));
    }
  }
  return cells;
}

std::string Fmt(double v, const char* format = "%.1f") {
  if (std::isnan(v)) return "n/a";
  return absl::StrFormat(format, v);
}

int Main(int argc, char** argv) {
  CLI::App app{"sketch_serving_bench: Classify over gRPC vs in-process batched inference"};
  Flags flags;
  app.add_option("--bundle", flags.bundle, "model bundle directory")->capture_default_str();
  app.add_option("--data", flags.data, "folder of drawings sent as requests (cycled)")
      ->capture_default_str();
  app.add_option("--threads", flags.threads, "model intra-op threads (0: all cores)")
      ->capture_default_str();
  app.add_option("--precision", flags.precision, "fp32 | bf16 | auto")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  app.add_option("--seconds", flags.seconds, "measured seconds per cell")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup-seconds", flags.warmup_seconds, "unmeasured seconds before each cell")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--clients", flags.clients, "concurrent closed-loop clients, e.g. 1,4,16")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--max-batch-size", flags.max_batch_size, "server model batch with batching on")
      ->capture_default_str()
      ->check(CLI::Range(2, 4096));
  app.add_option("--max-queue-delay-us", flags.max_queue_delay_us, "batcher queue delay")
      ->capture_default_str();
  app.add_option("--channels", flags.channels,
                 "per-client: a channel and TCP connection per client; shared: one channel")
      ->capture_default_str()
      ->check(CLI::IsMember({"per-client", "shared"}));
  app.add_option("--k", flags.k, "classes per Classify answer")->capture_default_str();
  app.add_option("--external", flags.external,
                 "NAME=BINARY: also measure this sketch-server program (a child process on the "
                 "same bundle and flags, batching on), e.g. one built from an earlier commit; "
                 "repeatable")
      ->take_all();
  CLI11_PARSE(app, argc, argv);
  // The single-request latency is the 1-client cell with batching on: always measure it first.
  std::sort(flags.clients.begin(), flags.clients.end());
  flags.clients.erase(std::unique(flags.clients.begin(), flags.clients.end()), flags.clients.end());
  if (flags.clients.front() != 1) flags.clients.insert(flags.clients.begin(), 1);

  const std::string load_start = LoadAverage();
  auto drawings = LoadDrawings(flags.data);
  if (!drawings.ok()) {
    std::cerr << "serving_bench: " << drawings.status() << "\n";
    return 1;
  }
  ModelServingOptions model_options;
  model_options.precision = flags.precision;
  model_options.threads = flags.threads;
  model_options.warmup_max_batch_size = WarmupMaxBatchSizeFor(flags.max_batch_size);
  auto bundle = LoadServableBundle(flags.bundle, model_options);
  if (!bundle.ok()) {
    std::cerr << "serving_bench: " << bundle.status()
              << "\n(make the default bundle with scripts/train_bundle.sh, see the top of "
                 "bench/serving_bench.cc)\n";
    return 1;
  }
  std::shared_ptr<Embedder> embedder = std::move(bundle->embedder);
  std::shared_ptr<const FeatureIndex> index = std::move(bundle->index);
  const BundleInfo info = bundle->info;
  const int k = std::clamp(flags.k, 1, embedder->num_classes());
  std::vector<v1::ClassifyRequest> requests;
  for (const Sketch& s : *drawings) {
    v1::ClassifyRequest r;
    *r.mutable_drawing() = SketchToDrawing(s);
    r.set_k(k);
    requests.push_back(std::move(r));
  }

  const int max_clients = flags.clients.back();
  std::printf("sketch_serving_bench  %s\n", absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", absl::Now(),
                                                             absl::LocalTimeZone())
                                                .c_str());
  std::printf("machine     : %s, %u hardware threads, %ld online CPUs\n", CpuModel().c_str(),
              std::thread::hardware_concurrency(), sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("load average: %s (start)\n", load_start.c_str());
  std::printf("bundle      : %s (%s, input %d px, %d classes, %lld indexed, %s)\n",
              flags.bundle.c_str(), info.architecture.c_str(), embedder->input_size(),
              embedder->num_classes(), static_cast<long long>(index->size()),
              info.bundle_hash.substr(0, 12).c_str());
  std::printf("model       : precision %s, intra-op threads %d (--threads %d), one batcher worker\n",
              bundle->precision.c_str(), bundle->threads, flags.threads);
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(name) + "=" + (v ? v : "(unset)");
  };
  std::printf("environment : %s %s %s\n", env("OMP_NUM_THREADS").c_str(),
              env("OMP_WAIT_POLICY").c_str(), env("OPENBLAS_NUM_THREADS").c_str());
  std::printf("server      : 127.0.0.1:0 TCP loopback, batching on = max batch %d / queue delay "
              "%d us, off = max batch 1; %d call threads max\n",
              flags.max_batch_size, flags.max_queue_delay_us, ServerOptions{}.max_threads);
  std::printf("clients     : closed-loop Classify (k=%d), one thread each, %s; %zu real drawings "
              "from %s, cycled\n",
              k,
              flags.channels == "shared" ? "all on one shared channel"
                                         : "each its own channel and TCP connection",
              drawings->size(), flags.data.c_str());
  std::printf("timing      : %.1f s measured per cell after %.1f s warm-up\n\n", flags.seconds,
              flags.warmup_seconds);
  std::fflush(stdout);

  // In-process batched inference, same embedder, same thread settings.
  std::vector<int> inproc_batches = {1};
  if (max_clients > 1 && max_clients < flags.max_batch_size) inproc_batches.push_back(max_clients);
  inproc_batches.push_back(flags.max_batch_size);
  std::map<int, InProcess> inproc;
  for (int b : inproc_batches) {
    std::cerr << "serving_bench: in-process batch " << b << " ..." << std::endl;
    // On a thread of its own, as the server's batcher worker runs the model (see the note at
    // the top: on the main thread libgomp's spin-waits can make it several times slower here).
    std::thread([&] { inproc[b] = InProcessThroughput(embedder.get(), *drawings, b, flags.seconds); })
        .join();
  }
  const double inproc_ref = inproc[flags.max_batch_size].throughput;
  const double inproc_ref_per_cpu = inproc_ref / inproc[flags.max_batch_size].cores;

  std::vector<Cell> cells;
  for (bool batching : {true, false}) {
    auto run = RunServer(batching, flags, embedder, index, info, requests);
    if (!run.ok()) {
      std::cerr << "serving_bench: " << run.status() << "\n";
      return 1;
    }
    cells.insert(cells.end(), run->begin(), run->end());
  }
  const double single_p50 = cells.front().p50_ms;  // batching on, 1 client
  {
    auto external = RunExternalServers(flags, requests);
    if (!external.ok()) {
      std::cerr << "serving_bench: " << external.status() << "\n";
      return 1;
    }
    cells.insert(cells.end(), external->begin(), external->end());
  }

  std::printf("In-process TorchEmbedder::EmbedBatch (rasterization + forward), drawings/s:\n");
  std::printf("  %-6s %12s %12s %10s %14s\n", "batch", "drawings/s", "ms/call p50", "cores used",
              "drawings/CPU-s");
  for (int b : inproc_batches) {
    const InProcess& r = inproc[b];
    std::printf("  %-6d %12s %12s %10s %14s\n", b, Fmt(r.throughput).c_str(),
                Fmt(r.batch_ms, "%.2f").c_str(), Fmt(r.cores, "%.2f").c_str(),
                Fmt(r.throughput / r.cores).c_str());
  }
  std::printf("\nClassify over gRPC (TCP loopback); ratios against in-process batch %d (%s/s) "
              "and single-request p50 (%s ms):\n",
              flags.max_batch_size, Fmt(inproc_ref).c_str(), Fmt(single_p50, "%.2f").c_str());
  std::printf("  %-12s %-8s %7s %8s %8s %8s %8s %6s %6s %6s %8s %11s %10s %10s %6s  %s\n",
              "server", "batching",
              "clients", "req/s", "p50 ms", "p99 ms", "max ms", "batch", "busy", "cores",
              "req/CPU-s", "tput/inproc", "(per CPU)", "p99/single", "errors", "loadavg after");
  for (const Cell& c : cells) {
    const double per_cpu = c.throughput / c.cores;
    std::printf("  %-12s %-8s %7d %8s %8s %8s %8s %6s %5s%% %6s %8s %11s %10s %10s %6lld  %s\n",
                c.server.c_str(), c.batching ? "on" : "off", c.clients, Fmt(c.throughput).c_str(),
                Fmt(c.p50_ms, "%.2f").c_str(), Fmt(c.p99_ms, "%.2f").c_str(),
                Fmt(c.max_ms, "%.2f").c_str(), Fmt(c.mean_batch, "%.2f").c_str(),
                Fmt(100 * c.model_busy, "%.0f").c_str(), Fmt(c.cores, "%.2f").c_str(),
                Fmt(per_cpu).c_str(), Fmt(c.throughput / inproc_ref, "%.2f").c_str(),
                Fmt(per_cpu / inproc_ref_per_cpu, "%.2f").c_str(),
                Fmt(c.p99_ms / single_p50, "%.2f").c_str(), static_cast<long long>(c.errors),
                c.loadavg.c_str());
    if (c.errors > 0) std::printf("    first error: %s\n", c.first_error.c_str());
  }

  std::printf(
      "  batch: mean drawings per model run; busy: share of the time the model worker computed;\n"
      "  cores: CPU-s per s used by this whole process (clients, gRPC, model; at most %ld here);\n"
      "  (per CPU): req/CPU-s over the in-process drawings/CPU-s at batch %d, which discounts the\n"
      "  CPU share other processes leave us but counts the clients' and gRPC's CPU against us.\n",
      sysconf(_SC_NPROCESSORS_ONLN), flags.max_batch_size);

  // The targets, at the largest client count with batching on.
  for (const Cell& c : cells) {
    if (c.server != "in-process" || !c.batching || c.clients != max_clients) continue;
    const double tput_ratio = c.throughput / inproc_ref;
    const double p99_ratio = c.p99_ms / single_p50;
    std::printf("\nTargets at %d clients, batching on:\n", max_clients);
    std::printf("  throughput >= 85%% of in-process batch %d: %.0f%% -> %s\n", flags.max_batch_size,
                100 * tput_ratio, tput_ratio >= 0.85 ? "met" : "NOT met");
    std::printf("  p99 < 3x single-request latency        : %.2fx -> %s\n", p99_ratio,
                p99_ratio < 3 ? "met" : "NOT met");
    // Little's law for a closed loop: N clients always in flight at throughput X wait N / X on
    // average, and X is at most the model's in-process throughput at batches of N.
    const int floor_batch = std::min(max_clients, flags.max_batch_size);
    if (inproc.count(floor_batch) > 0) {
      const double floor_ms = 1000.0 * max_clients / inproc[floor_batch].throughput;
      std::printf("  floor: %d clients / in-process batch-%d throughput = %.1f ms mean latency "
                  "= %.2fx single p50, whatever the server does\n",
                  max_clients, floor_batch, floor_ms, floor_ms / single_p50);
    }
  }
  std::printf("load average: %s (end)\n", LoadAverage().c_str());
  return 0;
}

}  // namespace
}  // namespace sketch

int main(int argc, char** argv) { return sketch::Main(argc, argv); }
