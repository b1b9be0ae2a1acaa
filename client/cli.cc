#include "client/cli.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/contact_sheet.h"
#include "client/input_selection.h"
#include "client/map_client.h"
#include "client/output_format.h"
#include "client/picture.h"
#include "client/sketch_client.h"
#include "core/status_macros.h"
#include "proto/drawing_convert.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

// Everything the flags say, for whichever subcommand runs.
struct Flags {
  std::string target = "localhost:50051";
  int64_t deadline_ms = 10000;
  int retries = RetryOptions().max_retries;
  int64_t retry_backoff_ms = absl::ToInt64Milliseconds(RetryOptions().initial_backoff);
  int64_t retry_max_backoff_ms = absl::ToInt64Milliseconds(RetryOptions().max_backoff);
  double wait_for_ready_s = 0;  // before the first call; 0: do not wait
  ChannelSecurity security;     // --tls, --ca, --cert, --key, --tls-server-name
  std::string token_file;       // --token-file: a bearer token for every call
  bool json = false;
  InputSelection input;
  uint64_t key_id = 0;
  int k = 5;
  int batch = 32;
  std::vector<uint64_t> exclude_key_ids;
  bool exclude_self = false;
  std::vector<std::string> classes;
  bool top_class = false;
  bool drawings = false;  // ask for each hit's drawing (implied by --show and --png)
  bool show = false;      // draw the query and its hits in the terminal
  bool ascii = false;     // --show with ASCII characters, not braille
  std::string png;        // write the query and its hits as a PNG contact sheet here
  std::string service;
  std::vector<std::string> map_files;
  std::string dataset;
  MapOptions map;
  bool per_class = false;
  bool expect_offline = false;      // compare the live mAP with the bundle's ("map" metric)
  double offline_tolerance = 1e-3;  // largest |live - offline| accepted
};

RetryOptions RetryFromFlags(const Flags& flags) {
  RetryOptions retry;
  retry.max_retries = flags.retries;
  retry.initial_backoff = absl::Milliseconds(flags.retry_backoff_ms);
  retry.max_backoff =
      absl::Milliseconds(std::max(flags.retry_max_backoff_ms, flags.retry_backoff_ms));
  return retry;
}

class Cli {
 public:
  // `channel` leads to --target; `bearer_token` (may be empty) goes with every call.
  Cli(const Flags& flags, const CliEnvironment& env,
      std::shared_ptr<grpc::ChannelInterface> channel, std::string bearer_token)
      : flags_(flags),
        env_(env),
        channel_(std::move(channel)),
        stub_(v1::SketchSearch::NewStub(channel_)),
        client_(stub_.get(), absl::Milliseconds(flags.deadline_ms), RetryFromFlags(flags),
                std::move(bearer_token)),
        style_(flags.json ? OutputStyle::kJson : OutputStyle::kTable) {}

  // Runs the subcommand `name`, after --wait-for-ready.
  int Run(const std::string& name) {
    if (flags_.wait_for_ready_s > 0) {
      const absl::Status ready = client_.WaitUntilServing(absl::Seconds(flags_.wait_for_ready_s));
      if (!ready.ok()) return Fail(ready, ExitCodeForRpcError(ready));
    }
    if (name == "classify") return Classify();
    if (name == "search") return Search();
    if (name == "embed") return Embed();
    if (name == "info") return Info();
    if (name == "health") return Health();
    return Map();
  }

 private:
  int Classify() {
    return ForEachChunk([&](std::vector<InputRecord>& chunk) -> absl::Status {
      v1::ClassifyBatchRequest batch;
      for (const InputRecord& record : chunk) {
        v1::ClassifyRequest* request = batch.add_requests();
        *request->mutable_drawing() = SketchToDrawing(record.sketch);
        request->set_k(flags_.k);
      }
      ASSIGN_OR_RETURN(v1::ClassifyBatchResponse response, client_.ClassifyBatch(batch));
      for (size_t i = 0; i < chunk.size() && i < static_cast<size_t>(response.responses_size());
           ++i) {
        *env_.out << FormatClassify(chunk[i], response.responses(static_cast<int>(i)), style_);
      }
      return absl::OkStatus();
    });
  }

  int Search() {
    std::vector<std::vector<Picture>> sheet;  // for --png: each query and its hits
    int64_t hits_without_drawings = 0;
    bool ask_drawings = flags_.drawings;
    if (ask_drawings && (flags_.show || !flags_.png.empty())) {
      // A bundle without drawings refuses include_drawings (FAILED_PRECONDITION): the pictures
      // then show the hits' words, said once below, rather than failing the whole search.
      const absl::StatusOr<v1::GetInfoResponse> info = client_.GetInfo();
      if (info.ok() && info->has_index() && !info->index().has_drawings()) ask_drawings = false;
    }
    const int code = ForEachChunk([&](std::vector<InputRecord>& chunk) -> absl::Status {
      v1::SearchBatchRequest batch;
      for (const InputRecord& record : chunk) {
        v1::SearchRequest* request = batch.add_requests();
        *request->mutable_drawing() = SketchToDrawing(record.sketch);
        request->set_k(flags_.k);
        for (uint64_t id : flags_.exclude_key_ids) request->add_exclude_key_ids(id);
        if (flags_.exclude_self) request->add_exclude_key_ids(record.sketch.key_id);
        for (const std::string& c : flags_.classes) request->add_classes(c);
        request->set_include_top_class(flags_.top_class);
        request->set_include_drawings(ask_drawings);
      }
      ASSIGN_OR_RETURN(v1::SearchBatchResponse response, client_.SearchBatch(batch));
      for (size_t i = 0; i < chunk.size() && i < static_cast<size_t>(response.responses_size());
           ++i) {
        const v1::SearchResponse& answer = response.responses(static_cast<int>(i));
        *env_.out << FormatSearch(chunk[i], answer, style_);
        if (!flags_.show && flags_.png.empty()) continue;
        for (const v1::SearchHit& hit : answer.hits()) hits_without_drawings += !hit.has_drawing();
        std::vector<Picture> pictures = SearchPictures(chunk[i], answer);
        if (flags_.show) *env_.out << "\n" << RenderTextGrid(pictures, GridOptions());
        if (!flags_.png.empty()) sheet.push_back(std::move(pictures));
      }
      return absl::OkStatus();
    });
    if (hits_without_drawings > 0) {
      *env_.err << "sketch: " << hits_without_drawings
                << (hits_without_drawings == 1 ? " hit came without its drawing"
                                               : " hits came without their drawing")
                << ": the server sends none (see `sketch info`: its index must store drawings)\n";
    }
    if (code != kExitOk || flags_.png.empty()) return code;
    const absl::Status written = WriteContactSheetPng(flags_.png, sheet, ContactSheetOptions());
    if (!written.ok()) return Fail(written, kExitUsage);
    *env_.err << "sketch: wrote the contact sheet " << flags_.png << "\n";
    return kExitOk;
  }

  TextGridOptions GridOptions() const {
    TextGridOptions options = env_.terminal;
    if (flags_.ascii) options.glyphs = TextGlyphs::kAscii;
    return options;
  }

  int Embed() {
    return ForEachChunk(
        [&](std::vector<InputRecord>& chunk) -> absl::Status {
          for (const InputRecord& record : chunk) {
            v1::EmbedRequest request;
            *request.mutable_drawing() = SketchToDrawing(record.sketch);
            ASSIGN_OR_RETURN(v1::EmbedResponse response, client_.Embed(request));
            *env_.out << FormatEmbed(record, response, style_);
          }
          return absl::OkStatus();
        },
        /*chunk_size=*/1);
  }

  int Info() {
    absl::StatusOr<v1::GetInfoResponse> info = client_.GetInfo();
    if (!info.ok()) return Fail(info.status(), ExitCodeForRpcError(info.status()));
    *env_.out << FormatInfo(*info, style_);
    return kExitOk;
  }

  int Health() {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    HealthClient health(stub.get(), absl::Milliseconds(flags_.deadline_ms));
    auto status = health.Check(flags_.service);
    if (!status.ok()) return Fail(status.status(), ExitCodeForRpcError(status.status()));
    *env_.out << FormatHealth(flags_.service, *status, style_);
    return *status == grpc::health::v1::HealthCheckResponse::SERVING ? kExitOk : kExitUnavailable;
  }

  int Map() {
    if (flags_.dataset.empty() == flags_.map_files.empty()) {
      return Fail(absl::InvalidArgumentError("map needs drawing files or --dataset (not both)"),
                  kExitUsage);
    }
    absl::StatusOr<MapInput> input = flags_.dataset.empty()
                                         ? LoadMapInputFromFiles(flags_.map_files)
                                         : LoadMapInputFromDataset(flags_.dataset);
    if (!input.ok()) return Fail(input.status(), kExitUsage);
    absl::StatusOr<MapReport> report = RunLeaveOneOutMap(client_, *input, flags_.map);
    if (!report.ok()) {
      // FailedPrecondition: the server indexes other drawings than these (a usage mistake).
      const bool mismatch = report.status().code() == absl::StatusCode::kFailedPrecondition ||
                            report.status().code() == absl::StatusCode::kInvalidArgument;
      return Fail(report.status(), mismatch ? kExitUsage : ExitCodeForRpcError(report.status()));
    }
    *env_.out << FormatMapReport(*report, flags_.per_class, flags_.json);
    return !flags_.expect_offline ? kExitOk : CheckAgainstOfflineMap(*report);
  }

  // The bundle records the trainer's offline mAP as metrics["map"]; a deployment that serves
  // it with its exact index must reproduce it (same features, same index, same tie-breaking).
  // An approximate index ranks differently by design: FormatMapReport shows both figures.
  int CheckAgainstOfflineMap(const MapReport& report) {
    const double live = report.retrieval.mean_average_precision;
    if (!report.exact_index) {
      *env_.err << absl::StrFormat(
          "sketch: approximate index %s: its live mAP %.6f is not expected to equal the exact "
          "offline mAP; --expect-offline compares exact (Flat) indexes only\n",
          report.index_type, live);
      return kExitOk;
    }
    if (!report.offline_map.has_value()) {
      return Fail(absl::FailedPreconditionError("the bundle records no offline \"map\" metric"),
                  kExitMismatch);
    }
    const double offline = *report.offline_map;
    const double difference = std::abs(live - offline);
    if (difference > flags_.offline_tolerance) {
      *env_.err << absl::StrFormat(
          "sketch: live mAP %.6f differs from the bundle's offline mAP %.6f by %.2g (> %.2g)\n",
          live, offline, difference, flags_.offline_tolerance);
      return kExitMismatch;
    }
    *env_.err << absl::StrFormat("sketch: live mAP %.6f matches the bundle's offline mAP %.6f\n",
                                 live, offline);
    return kExitOk;
  }

  int Fail(const absl::Status& status, int code) {
    *env_.err << "sketch: " << status << "\n";
    return code;
  }

  // Reads the selected records in chunks and hands each chunk to `send`; an input problem is a
  // usage error, a failed call a server error (or unavailable).
  int ForEachChunk(const std::function<absl::Status(std::vector<InputRecord>&)>& send,
                   int chunk_size = -1) {
    const size_t size = static_cast<size_t>(chunk_size > 0 ? chunk_size : flags_.batch);
    std::vector<InputRecord> chunk;
    absl::Status rpc_error;
    auto flush = [&]() -> absl::Status {
      if (chunk.empty()) return absl::OkStatus();
      rpc_error = send(chunk);
      chunk.clear();
      return rpc_error;
    };
    absl::Status status = ForEachInput(flags_.input, *env_.in, [&](InputRecord record) {
      chunk.push_back(std::move(record));
      return chunk.size() >= size ? flush() : absl::OkStatus();
    });
    if (status.ok()) status = flush();
    if (status.ok()) return kExitOk;
    return Fail(status, rpc_error.ok() ? kExitUsage : ExitCodeForRpcError(status));
  }

  const Flags& flags_;
  const CliEnvironment& env_;
  std::shared_ptr<grpc::ChannelInterface> channel_;
  std::unique_ptr<v1::SketchSearch::Stub> stub_;
  SketchClient client_;
  OutputStyle style_;
};

void AddInputOptions(CLI::App* command, Flags* flags) {
  command
      ->add_option("input", flags->input.path,
                   "drawing file (.ndjson, .bin, .npy), or - for ndjson on stdin")
      ->required();
  auto* line = command->add_option("--line", flags->input.record,
                                   "only the Nth record, 1-based (ndjson: the line)");
  auto* key = command->add_option("--key-id", flags->key_id, "only records with this key_id");
  line->excludes(key);
}

void AddMapOptions(CLI::App* map, Flags* flags) {
  auto* files = map->add_option("files", flags->map_files,
                                "test drawings (.ndjson, .bin, .npy); class = each record's word");
  map->add_option("--dataset", flags->dataset, "a prepared dataset: its test split")
      ->excludes(files);
  map->add_option("--concurrency", flags->map.concurrency, "calls in flight")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  map->add_option("--batch", flags->map.batch_size, "queries per call")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  map->add_flag("--per-class", flags->per_class, "also print the mAP of every class");
  map->add_flag("--expect-offline", flags->expect_offline,
                "exit 5 unless the live mAP matches the bundle's offline mAP (--tolerance); "
                "exact (Flat) indexes only: an approximate one's live mAP is reported beside "
                "the exact one, not compared");
  map->add_option("--tolerance", flags->offline_tolerance, "for --expect-offline")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  map->add_flag_callback(
      "--quiet,-q", [flags] { flags->map.progress = false; }, "no progress bar");
}

void AddShowOptions(CLI::App* search, Flags* flags) {
  search->add_flag("--drawings", flags->drawings,
                   "ask for each hit's drawing (in --json; the bundle must store drawings)");
  auto* show = search->add_flag(
      "--show", flags->show,
      "draw the query and its hits in the terminal, with word, key_id and distance "
      "under each (implies --drawings; not with --json)");
  search
      ->add_flag("--ascii", flags->ascii,
                 "--show with ASCII characters instead of braille (the default when the "
                 "locale is not UTF-8)")
      ->needs(show);
  search->add_option("--png", flags->png,
                     "write the query and its hits as a PNG contact sheet to this file, one row "
                     "per query (implies --drawings)");
}

void AddSecurityOptions(CLI::App* app, Flags* flags) {
  app->add_flag("--tls", flags->security.tls, "connect over TLS (implied by --ca, --cert)")
      ->envname("SKETCH_TLS");
  app->add_option("--ca", flags->security.ca,
                  "PEM CA bundle that signed the server's certificate (default: system roots)")
      ->envname("SKETCH_CA");
  app->add_option("--cert", flags->security.cert,
                  "PEM client certificate, for servers that require one (with --key)")
      ->envname("SKETCH_CERT");
  app->add_option("--key", flags->security.key, "PEM key of --cert")->envname("SKETCH_KEY");
  app->add_option("--tls-server-name", flags->security.server_name,
                  "the name the server's certificate must carry (default: the target's host)")
      ->envname("SKETCH_TLS_SERVER_NAME");
  app->add_option("--token-file", flags->token_file,
                  "file holding a bearer token sent with every call (its first line that is "
                  "not blank or a # comment)")
      ->envname("SKETCH_TOKEN_FILE");
}

void AddRetryOptions(CLI::App* app, Flags* flags) {
  app->add_option("--retries", flags->retries,
                  "send a call again up to this many times while it fails with UNAVAILABLE, "
                  "RESOURCE_EXHAUSTED or CANCELLED (within --deadline-ms)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  app->add_option("--retry-backoff-ms", flags->retry_backoff_ms,
                  "wait before the first re-send, in ms; doubles each time, jittered")
      ->capture_default_str()
      ->check(CLI::Range(1, 600000));
  app->add_option("--retry-max-backoff-ms", flags->retry_max_backoff_ms,
                  "longest wait between re-sends, in ms")
      ->capture_default_str()
      ->check(CLI::Range(1, 600000));
  app->add_option("--wait-for-ready", flags->wait_for_ready_s,
                  "first wait up to this many seconds for the server to connect and serve (a "
                  "replica still starting); 0: do not wait")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
}

// `words` joined by ", ", wrapped at 96 columns, continuation lines indented by `indent`.
std::string WrapList(const std::vector<std::string>& words, size_t first_column, size_t indent) {
  std::string out;
  size_t column = first_column;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string word = words[i] + (i + 1 < words.size() ? "," : "");
    if (i > 0 && column + 1 + word.size() > 96) {
      absl::StrAppend(&out, "\n", std::string(indent, ' '));
      column = indent;
    } else if (i > 0) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
  }
  return out;
}

// The --help footer: each exit code, and the gRPC status codes that give it, listed from
// ExitCodeForRpcError itself so that the table cannot drift from the code.
std::string ExitCodeFooter() {
  std::vector<std::string> refused, unavailable;
  for (int c = 1; c <= 16; ++c) {
    const auto code = static_cast<absl::StatusCode>(c);
    (ExitCodeForRpcError(absl::Status(code, "")) == kExitUnavailable ? unavailable : refused)
        .push_back(absl::StatusCodeToString(code));
  }
  const std::string server = "  3  the server refused the call: ";
  const std::string later = "  4  try again later (after --retries): ";
  return absl::StrCat(
      "Exit codes (gRPC status of the failed call -> exit code):\n"
      "  0  done; health: SERVING\n"
      "  2  usage: bad flags, unreadable input; map: the server indexes other drawings\n"
      "     (FAILED_PRECONDITION, INVALID_ARGUMENT)\n",
      server, WrapList(refused, server.size(), 5), "\n", later,
      WrapList(unavailable, later.size(), 5), ";\n     health: NOT_SERVING\n",
      "  5  map --expect-offline: the live mAP differs from the bundle's (exact indexes)\n");
}

}  // namespace

int ExitCodeForRpcError(const absl::Status& status) {
  return IsRetryable(status.code()) || status.code() == absl::StatusCode::kDeadlineExceeded
             ? kExitUnavailable
             : kExitServerError;
}

int RunSketchCli(int argc, const char* const* argv, const CliEnvironment& env) {
  CLI::App app{"sketch: classify and search drawings with a sketchsearch server"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand
  Flags flags;
  app.add_option(
         "--target", flags.target,
         "server address: host:port, or dns:///name:port to use every replica the name resolves to")
      ->envname("SKETCH_TARGET")
      ->capture_default_str();
  app.add_option("--deadline-ms", flags.deadline_ms,
                 "deadline of each call, in ms, its re-sends (--retries) included")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  AddRetryOptions(&app, &flags);
  AddSecurityOptions(&app, &flags);
  app.footer(ExitCodeFooter());
  app.add_flag("--json", flags.json, "one JSON object per line instead of tables");

  auto* classify = app.add_subcommand("classify", "the most probable classes of each drawing");
  AddInputOptions(classify, &flags);
  classify->add_option("-k", flags.k, "classes per drawing")->capture_default_str();
  classify->add_option("--batch", flags.batch, "drawings per call")->capture_default_str();

  auto* search = app.add_subcommand("search", "the indexed sketches nearest to each drawing");
  AddInputOptions(search, &flags);
  search->add_option("-k", flags.k, "neighbours per drawing")->capture_default_str();
  search->add_option("--exclude-key-id", flags.exclude_key_ids, "never return these key_ids");
  search->add_flag("--exclude-self", flags.exclude_self, "never return the drawing's own key_id");
  search->add_option("--classes", flags.classes, "only these classes, comma-separated")
      ->delimiter(',');
  search->add_flag("--top-class", flags.top_class, "also print the drawing's top class");
  search->add_option("--batch", flags.batch, "drawings per call")->capture_default_str();
  AddShowOptions(search, &flags);

  auto* embed = app.add_subcommand("embed", "the feature vector of each drawing");
  AddInputOptions(embed, &flags);
  app.add_subcommand("info", "what the server has loaded");
  auto* health = app.add_subcommand("health", "the server's health (exit 0 when SERVING)");
  health->add_option("--service", flags.service, "service name (default: the whole server)");
  auto* map = app.add_subcommand("map", "leave-one-out mAP of test drawings against the server");
  AddMapOptions(map, &flags);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, *env.out, *env.err) == 0 ? kExitOk : kExitUsage;
  }
  if (flags.batch < 1) {
    *env.err << "sketch: --batch must be at least 1\n";
    return kExitUsage;
  }
  if (flags.show && flags.json) {
    *env.err << "sketch: --show draws pictures among the tables; with --json use --png FILE\n";
    return kExitUsage;
  }
  flags.drawings |= flags.show || !flags.png.empty();
  for (CLI::App* command : {classify, search, embed}) {
    if (command->parsed() && command->count("--key-id") > 0) flags.input.key_id = flags.key_id;
  }
  // A TLS channel is made here from the flags; a plaintext one by the environment (tests hand
  // back in-process channels).
  flags.security.tls |= !flags.security.ca.empty() || !flags.security.cert.empty();
  std::shared_ptr<grpc::ChannelInterface> channel;
  if (flags.security.tls) {
    auto secure = MakeChannel(flags.target, flags.security);
    if (!secure.ok()) {
      *env.err << "sketch: " << secure.status() << "\n";
      return kExitUsage;
    }
    channel = *std::move(secure);
  } else {
    channel = env.connect(flags.target);
  }
  std::string token;
  if (!flags.token_file.empty()) {
    auto read = ReadBearerToken(flags.token_file);
    if (!read.ok()) {
      *env.err << "sketch: " << read.status() << "\n";
      return kExitUsage;
    }
    token = *std::move(read);
  }
  Cli cli(flags, env, std::move(channel), std::move(token));
  return cli.Run(app.get_subcommands().front()->get_name());
}

}  // namespace sketch
