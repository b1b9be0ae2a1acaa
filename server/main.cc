// sketch-server: serves a model bundle over gRPC (and, with --http-port, HTTP/JSON and a web
// page) — listen (health NOT_SERVING), load and warm up the bundle, serve (SERVING) until
// SIGTERM/SIGINT, then drain and exit 0; SIGHUP (and, with --watch, a change of the bundle path)
// swaps in the bundle now at the path. Exit 1 when the first bundle or the address is unusable.
// The work is in server/server.h, server/bundle_loader.h and server/bundle_reloader.h.
#include <filesystem>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/bundle_loader.h"
#include "server/bundle_reloader.h"
#include "server/server.h"
#include "server/termination.h"

namespace {

struct Flags {
  std::string bundle, host = "127.0.0.1", metrics_host = "127.0.0.1", auth_tokens_file;
  int port = 50051, metrics_port = 9464, max_queue_delay_us = 2000;
  double max_queue_wait_s = 10;
  double drain_s = 10;
  double max_connection_age_s = 0;
  bool watch = false;
  double watch_interval_s = 2;
  sketch::ModelServingOptions model;
  sketch::ServerOptions server;
  // HTTP/JSON API and web page (issue 12).
  int http_port = -1;
  std::string web_root = SKETCH_WEB_ROOT;
};

// The HTTP/JSON API and the drawing page: on --host, off unless --http-port is given, TLS and
// tokens as for gRPC. Returns the --web-root option (to tell whether it was given).
CLI::Option* AddHttpFlags(CLI::App* app, Flags* f) {
  app->add_option("--http-port", f->http_port,
                  "HTTP/JSON API and web page port on --host (0: any free port, -1: off); "
                  "HTTPS with --tls-cert")
      ->envname("SKETCH_HTTP_PORT")
      ->capture_default_str();
  app->add_option("--http-threads", f->server.http.threads,
                  "HTTP workers: connections served at once (each holds one while its call waits "
                  "for the model)")
      ->envname("SKETCH_HTTP_THREADS")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  return app
      ->add_option("--web-root", f->web_root,
                   "directory of the web page served at / with --http-port (web/ of the "
                   "source tree by default; empty: no page)")
      ->envname("SKETCH_WEB_ROOT")
      ->capture_default_str();
}

// Fills the HTTP options from the flags. The default web root is optional (an installed server
// may not have the source tree); one given explicitly must exist (HttpApi::Start checks).
void SetHttpOptions(const Flags& f, bool web_root_given, sketch::ServerOptions* options) {
  if (f.http_port < 0) return;
  options->serve_http = true;
  options->http.host = f.host;
  options->http.port = f.http_port;
  options->http.tls_cert = options->tls.cert;
  options->http.tls_key = options->tls.key;
  options->http.tls_client_ca = options->tls.client_ca;
  std::error_code error;
  if (web_root_given || std::filesystem::is_directory(f.web_root, error)) {
    options->http.web_root = f.web_root;
  }
}

// Every flag can also come from the environment (SKETCH_<FLAG>, e.g. SKETCH_BUNDLE), which is
// how containers are usually configured; a flag given on the command line wins.
void AddFlags(CLI::App* app, Flags* f) {
  app->add_option("--bundle", f->bundle,
                  "model bundle directory (sketch-trainer bundle), or a symlink to one; SIGHUP "
                  "swaps in the bundle it holds then")
      ->envname("SKETCH_BUNDLE")
      ->required();
  app->add_flag("--watch", f->watch,
                "look at --bundle every --watch-interval-s and swap in a changed bundle (a new "
                "manifest, or a symlink re-pointed: deploy/publish_bundle.sh)")
      ->envname("SKETCH_WATCH");
  app->add_option("--watch-interval-s", f->watch_interval_s, "how often --watch looks")
      ->envname("SKETCH_WATCH_INTERVAL_S")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--host", f->host,
                  "address to listen on (0.0.0.0: every interface, as in containers)")
      ->envname("SKETCH_HOST")
      ->capture_default_str();
  app->add_option("--tls-cert", f->server.tls.cert,
                  "PEM certificate chain: serve gRPC over TLS (with --tls-key)")
      ->envname("SKETCH_TLS_CERT");
  app->add_option("--tls-key", f->server.tls.key, "PEM private key of --tls-cert")
      ->envname("SKETCH_TLS_KEY");
  app->add_option("--tls-client-ca", f->server.tls.client_ca,
                  "PEM CA bundle: require client certificates it signed (mutual TLS)")
      ->envname("SKETCH_TLS_CLIENT_CA");
  app->add_option("--auth-tokens-file", f->auth_tokens_file,
                  "file of bearer tokens, one a line: every SketchSearch call must carry one "
                  "(health stays open)")
      ->envname("SKETCH_AUTH_TOKENS_FILE");
  app->add_flag("--reflection,!--no-reflection", f->server.reflection,
                "gRPC server reflection (what grpcurl lists)")
      ->envname("SKETCH_REFLECTION")
      ->capture_default_str();
  app->add_option("--port", f->port, "gRPC port (0: any free port)")
      ->envname("SKETCH_PORT")
      ->capture_default_str();
  app->add_option("--metrics-host", f->metrics_host,
                  "address the Prometheus endpoint listens on (plain HTTP, no tokens)")
      ->envname("SKETCH_METRICS_HOST")
      ->capture_default_str();
  app->add_option("--metrics-port", f->metrics_port, "Prometheus port (0: any free, -1: off)")
      ->envname("SKETCH_METRICS_PORT")
      ->capture_default_str();
  app->add_option("--threads", f->model.threads, "model intra-op threads (0: all cores)")
      ->envname("SKETCH_THREADS")
      ->capture_default_str();
  app->add_option("--precision", f->model.precision,
                  "fp32 (matches the offline figures) | bf16 | auto (bf16 if the CPU has it)")
      ->envname("SKETCH_PRECISION")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  app->add_option("--device", f->model.device,
                  "where the CNN runs: cpu | cuda | cuda:N (needs the torch2-cuda build)")
      ->envname("SKETCH_DEVICE")
      ->capture_default_str();
  app->add_option("--nprobe", f->model.default_knobs.nprobe,
                  "IVF indexes: lists a search visits unless it asks (0: the bundle's default)")
      ->envname("SKETCH_NPROBE")
      ->capture_default_str();
  app->add_option("--ef-search", f->model.default_knobs.ef_search,
                  "HNSW indexes: candidate list size unless a search asks (0: the bundle's)")
      ->envname("SKETCH_EF_SEARCH")
      ->capture_default_str();
  app->add_option("--max-batch-size", f->server.backend.batcher.max_batch_size,
                  "drawings per model batch (1: no batching); each size up to it (at most 64) is "
                  "warmed up at start")
      ->envname("SKETCH_MAX_BATCH_SIZE")
      ->capture_default_str();
  app->add_option("--max-queue-delay-us", f->max_queue_delay_us,
                  "longest wait for a batch to fill, in us")
      ->envname("SKETCH_MAX_QUEUE_DELAY_US")
      ->capture_default_str();
  app->add_option("--max-queue-size", f->server.backend.batcher.max_queue_size,
                  "queued drawings before RESOURCE_EXHAUSTED")
      ->envname("SKETCH_MAX_QUEUE_SIZE")
      ->capture_default_str();
  app->add_option("--max-queue-wait-s", f->max_queue_wait_s,
                  "refuse a call at once (RESOURCE_EXHAUSTED) when its drawings would wait longer "
                  "than this for the model, by its measured rate")
      ->envname("SKETCH_MAX_QUEUE_WAIT_S")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--max-threads", f->server.max_threads,
                  "threads for gRPC's synchronous services (reflection); SketchSearch calls hold "
                  "none while they wait for the model")
      ->envname("SKETCH_MAX_THREADS")
      ->capture_default_str();
  app->add_option("--max-connection-age-s", f->max_connection_age_s,
                  "close connections older than this (0: never), so DNS-balancing clients "
                  "re-resolve and reach new replicas")
      ->envname("SKETCH_MAX_CONNECTION_AGE_S")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app->add_option("--drain-timeout-s", f->drain_s, "time calls in flight get on SIGTERM")
      ->envname("SKETCH_DRAIN_TIMEOUT_S")
      ->capture_default_str();
}

// The server's default knobs must be ones a request could ask for.
absl::Status CheckDefaultKnobs(const sketch::SearchKnobs& knobs,
                               const sketch::RequestLimits& limits) {
  if (knobs.nprobe < 0 || knobs.nprobe > limits.max_nprobe || knobs.ef_search < 0 ||
      knobs.ef_search > limits.max_ef_search) {
    return absl::InvalidArgumentError(
        absl::StrCat("--nprobe ", knobs.nprobe, " / --ef-search ", knobs.ef_search,
                     " must be within 0..", limits.max_nprobe, " / 0..", limits.max_ef_search));
  }
  return absl::OkStatus();
}

int Fail(const absl::Status& status) {
  std::cerr << "sketch-server: " << status << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sketch-server: classify and search drawings with a trained model bundle"};
  Flags flags;
  AddFlags(&app, &flags);
  CLI::Option* web_root = AddHttpFlags(&app, &flags);
  CLI11_PARSE(app, argc, argv);

  // Before any thread exists, so that every thread inherits the blocked signals.
  if (absl::Status status = sketch::BlockServerSignals(); !status.ok()) return Fail(status);
  sketch::ServerOptions& options = flags.server;
  if (absl::Status knobs = CheckDefaultKnobs(flags.model.default_knobs, options.limits);
      !knobs.ok()) {
    return Fail(knobs);
  }
  options.address = absl::StrCat(flags.host, ":", flags.port);
  if (flags.metrics_port >= 0) {
    options.metrics_address = absl::StrCat(flags.metrics_host, ":", flags.metrics_port);
  }
  if (!flags.auth_tokens_file.empty()) {
    auto tokens = sketch::ReadTokenFile(flags.auth_tokens_file);
    if (!tokens.ok()) return Fail(tokens.status());
    options.auth_tokens = *std::move(tokens);
  }
  options.backend.batcher.max_queue_delay = absl::Microseconds(flags.max_queue_delay_us);
  // The batch sizes the batcher can form are warmed up before serving (server/torch_embedder.h).
  flags.model.warmup_max_batch_size =
      sketch::WarmupMaxBatchSizeFor(options.backend.batcher.max_batch_size);
  options.backend.batcher.max_queue_wait = absl::Seconds(flags.max_queue_wait_s);
  if (flags.max_connection_age_s > 0) {
    options.max_connection_age = absl::Seconds(flags.max_connection_age_s);
  }
  SetHttpOptions(flags, web_root->count() > 0, &options);
  auto server = sketch::SketchServer::Start(options);
  if (!server.ok()) return Fail(server.status());
  // Parseable lines (tests read the ports chosen for port 0); std::endl flushes into pipes.
  std::cout << "sketch-server listening on " << flags.host << ":" << (*server)->port() << std::endl;
  if (options.serve_http) {
    std::cout << "sketch-server http on " << flags.host << ":" << (*server)->http_port()
              << (options.http.web_root.empty() ? " (no web page)" : " (web page at /)")
              << std::endl;
  }
  if (flags.metrics_port >= 0) {
    std::cout << "sketch-server metrics on " << flags.metrics_host << ":"
              << (*server)->metrics_port() << std::endl;
  }

  auto bundle = sketch::LoadServableBundle(flags.bundle, flags.model);
  if (!bundle.ok()) return Fail(bundle.status());
  const std::string loaded =
      absl::StrCat(bundle->info.architecture, ", ", bundle->embedder->num_classes(), " classes, ",
                   bundle->index->size(),
                   bundle->index_whitening_dims > 0
                       ? absl::StrCat(" whitened (", bundle->index_whitening_dims, "-d)")
                       : std::string(bundle->index_l2_normalized ? " L2-normalized" : ""),
                   bundle->info.index.query_expansion_neighbors > 0
                       ? absl::StrCat(" (queries expanded with ",
                                      bundle->info.index.query_expansion_neighbors, " neighbours)")
                       : std::string(),
                   " indexed, ", bundle->precision, ", ",
                   bundle->info.test_time_views > 1
                       ? absl::StrCat(bundle->info.test_time_views, " views a drawing, ")
                       : "",
                   bundle->threads, " threads, bundle ", bundle->info.bundle_hash);
  absl::Status serving = (*server)->Serve(std::move(bundle->embedder), std::move(bundle->index),
                                          std::move(bundle->info));
  if (!serving.ok()) return Fail(serving);
  std::cout << "sketch-server serving " << flags.bundle << " (" << loaded << ")" << std::endl;

  sketch::BundleReloaderOptions reload;
  reload.bundle_path = flags.bundle;
  if (flags.watch) reload.watch_interval = absl::Seconds(flags.watch_interval_s);
  sketch::BundleReloader reloader(
      server->get(), reload,
      {sketch::ReadBundleHash,
       [&flags](const std::string& dir) { return sketch::LoadServableBundle(dir, flags.model); }},
      [](const std::string& line) { std::cout << "sketch-server: " << line << std::endl; });

  const int signal = sketch::WaitForTerminationSignal([&reloader] { reloader.RequestReload(); });
  std::cout << "sketch-server: signal " << signal << ", draining" << std::endl;
  // The server first: a reload still loading then finds it shut down and stops there.
  (*server)->Shutdown(absl::Seconds(flags.drain_s));
  return 0;
}
