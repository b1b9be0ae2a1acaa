#include "client/map_client.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/dataset.h"
#include "core/progress_bar.h"
#include "core/sketch_reader.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"
#include "proto/drawing_convert.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

using SketchKey = std::pair<std::string, uint64_t>;  // (word, key_id)

// Shared by the request threads: the accumulator, the first error, the progress.
class MapRun {
 public:
  // `complete_rankings`: rank the drawings a search left out last (an approximate index).
  MapRun(const MapInput& input, const v1::GetInfoResponse& info, bool exclude_on_server,
         bool complete_rankings, int batch_size, bool progress)
      : input_(input),
        index_size_(info.index_size()),
        exclude_on_server_(exclude_on_server),
        complete_rankings_(complete_rankings),
        batch_size_(batch_size),
        accumulator_(input.labels),
        bar_("map", static_cast<int64_t>(input.sketches.size()), "query", progress) {
    for (size_t i = 0; i < input.sketches.size(); ++i) {
      item_of_.emplace(SketchKey(input.sketches[i].word, input.sketches[i].key_id), i);
    }
  }

  // Takes batches of queries until none are left or something failed.
  void Work(const SketchClient& client) {
    const size_t n = input_.sketches.size();
    while (!failed_.load()) {
      const size_t start = next_.fetch_add(batch_size_);
      if (start >= n) return;
      const size_t end = std::min(n, start + batch_size_);
      absl::Status status = RunBatch(client, start, end);
      if (!status.ok()) {
        absl::MutexLock lock(&mu_);
        if (error_.ok()) error_ = std::move(status);
        failed_ = true;
        return;
      }
      bar_.Add(static_cast<int64_t>(end - start));
    }
  }

  int64_t retried_batches() const { return retried_batches_.load(); }
  int64_t retries() const { return retries_.load(); }

  absl::StatusOr<RetrievalReport> Finish() {
    bar_.Finish();
    absl::MutexLock lock(&mu_);
    if (!error_.ok()) return error_;
    return accumulator_.Finish();
  }

 private:
  absl::Status RunBatch(const SketchClient& client, size_t start, size_t end) {
    v1::SearchBatchRequest batch;
    for (size_t q = start; q < end; ++q) {
      v1::SearchRequest* request = batch.add_requests();
      *request->mutable_drawing() = SketchToDrawing(input_.sketches[q]);
      request->set_k(static_cast<int32_t>(index_size_));
      if (exclude_on_server_) request->add_exclude_key_ids(input_.sketches[q].key_id);
    }
    int retries = 0;
    absl::StatusOr<v1::SearchBatchResponse> response = client.SearchBatch(batch, &retries);
    if (retries > 0) {
      retried_batches_.fetch_add(1);
      retries_.fetch_add(retries);
    }
    if (!response.ok()) return response.status();
    return AddAnswers(start, end, *response);
  }

  // Adds the rankings of queries [start, end) from their answer.
  absl::Status AddAnswers(size_t start, size_t end, const v1::SearchBatchResponse& response) {
    if (response.responses_size() != static_cast<int>(end - start)) {
      return absl::InternalError(absl::StrCat("asked ", end - start, " queries, got ",
                                              response.responses_size(), " answers"));
    }
    for (size_t q = start; q < end; ++q) {
      ASSIGN_OR_RETURN(std::vector<int64_t> ranking,
                       Ranking(q, response.responses(static_cast<int>(q - start))));
      absl::MutexLock lock(&mu_);
      RETURN_IF_ERROR(accumulator_.AddRanking(static_cast<int64_t>(q), ranking));
    }
    return absl::OkStatus();
  }

  // The answer as local drawing numbers, the query itself left out.
  absl::StatusOr<std::vector<int64_t>> Ranking(size_t query,
                                               const v1::SearchResponse& response) const {
    std::vector<int64_t> ranking;
    ranking.reserve(response.hits_size());
    for (const v1::SearchHit& hit : response.hits()) {
      auto it = item_of_.find(SketchKey(hit.word(), hit.key_id()));
      if (it == item_of_.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the server's index holds a sketch (", hit.word(), ", key_id ", hit.key_id(),
            ") that is not among the test drawings: it must index exactly these drawings"));
      }
      if (it->second != query) ranking.push_back(static_cast<int64_t>(it->second));
    }
    if (complete_rankings_) CompleteRanking(query, &ranking);
    return ranking;
  }

  // Appends the drawings `ranking` lacks (but the query), in input order. A ranking that holds
  // a drawing twice is left for the accumulator to refuse.
  void CompleteRanking(size_t query, std::vector<int64_t>* ranking) const {
    const size_t n = input_.sketches.size();
    if (ranking->size() + 1 >= n) return;
    std::vector<bool> ranked(n, false);
    ranked[query] = true;
    for (int64_t item : *ranking) ranked[static_cast<size_t>(item)] = true;
    for (size_t item = 0; item < n; ++item) {
      if (!ranked[item]) ranking->push_back(static_cast<int64_t>(item));
    }
  }

  const MapInput& input_;
  const int64_t index_size_;
  const bool exclude_on_server_;
  const bool complete_rankings_;
  const size_t batch_size_;
  absl::flat_hash_map<SketchKey, size_t> item_of_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> retried_batches_{0};
  std::atomic<int64_t> retries_{0};
  absl::Mutex mu_;
  LeaveOneOutMapAccumulator accumulator_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  ProgressBar bar_;
};

// The batch size that fits the server's limits for rankings of `k` hits.
int FitBatchSize(int wanted, int64_t k, const v1::Limits& limits) {
  int64_t size = std::max(wanted, 1);
  if (limits.max_batch_requests() > 0) size = std::min<int64_t>(size, limits.max_batch_requests());
  if (limits.max_batch_hits() > 0) size = std::min<int64_t>(size, limits.max_batch_hits() / k);
  return static_cast<int>(std::max<int64_t>(size, 1));
}

}  // namespace

absl::StatusOr<MapInput> LoadMapInputFromDataset(const std::string& path) {
  ASSIGN_OR_RETURN(Dataset dataset, ReadDataset(path));
  MapInput input;
  input.class_names = dataset.metadata.classes;
  for (DatasetExample& example : dataset.test) {
    input.labels.push_back(example.label);
    input.sketches.push_back(std::move(example.sketch));
  }
  if (input.sketches.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(path, " has fewer than 2 test drawings"));
  }
  return input;
}

absl::StatusOr<MapInput> LoadMapInputFromFiles(const std::vector<std::string>& paths) {
  MapInput input;
  for (const std::string& path : paths) {
    ReaderOptions options;
    options.word = std::filesystem::path(path).stem().string();  // for .bin / .npy records
    ASSIGN_OR_RETURN(auto reader, OpenSketchReader(path, options));
    Sketch sketch;
    while (true) {
      ASSIGN_OR_RETURN(bool more, reader->Next(&sketch));
      if (!more) break;
      input.sketches.push_back(std::move(sketch));
      sketch = Sketch();
    }
  }
  if (input.sketches.size() < 2) {
    return absl::InvalidArgumentError("leave-one-out needs at least 2 drawings");
  }
  std::map<std::string, int> label_of;
  for (const Sketch& s : input.sketches) label_of.emplace(s.word, 0);
  for (auto& [word, label] : label_of) {
    label = static_cast<int>(input.class_names.size());
    input.class_names.push_back(word);
  }
  for (const Sketch& s : input.sketches) input.labels.push_back(label_of[s.word]);
  return input;
}

absl::StatusOr<MapReport> RunLeaveOneOutMap(const SketchClient& client, const MapInput& input,
                                            const MapOptions& options) {
  const absl::Time start = absl::Now();
  const int64_t n = static_cast<int64_t>(input.sketches.size());
  absl::flat_hash_set<SketchKey> keys;
  absl::flat_hash_set<uint64_t> key_ids;
  for (const Sketch& s : input.sketches) {
    if (!keys.emplace(s.word, s.key_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two test drawings are (", s.word, ", key_id ", s.key_id, ")"));
    }
    key_ids.insert(s.key_id);
  }
  ASSIGN_OR_RETURN(v1::GetInfoResponse info, client.GetInfo());
  if (info.index_size() != n) {
    return absl::FailedPreconditionError(
        absl::StrCat("the server indexes ", info.index_size(), " sketches but there are ", n,
                     " test drawings: leave-one-out needs an index of exactly these drawings"));
  }
  if (info.limits().max_search_k() > 0 && info.limits().max_search_k() < n) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the server ranks at most ", info.limits().max_search_k(), " sketches, not ", n));
  }
  // Excluding by key_id on the server is exact only when key_ids are unique (numpy_bitmap
  // records number their rows per file, so classes share key_ids).
  const bool exclude_on_server = static_cast<int64_t>(key_ids.size()) == n;
  // A server that expands queries adds each query's nearest indexed sketches to it: a drawing not
  // excluded on the server would expand with itself, and its ranking would not be the
  // leave-one-out one the bundle's offline mAP is.
  if (!exclude_on_server && info.has_index() && info.index().query_expansion_neighbors() > 0) {
    return absl::FailedPreconditionError(
        "the server expands queries (query_expansion_neighbors), and key_ids repeat among these "
        "drawings, so a drawing cannot be left out of its own expansion; leave-one-out through "
        "query expansion needs unique key_ids");
  }
  // Servers from before IndexInfo serve only exact (Flat) indexes.
  const bool exact = !info.has_index() || info.index().exact();
  MapRun run(input, info, exclude_on_server, /*complete_rankings=*/!exact,
             FitBatchSize(options.batch_size, n, info.limits()), options.progress);
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(options.concurrency, 1); ++t) {
    threads.emplace_back([&] { run.Work(client); });
  }
  for (std::thread& t : threads) t.join();
  ASSIGN_OR_RETURN(RetrievalReport retrieval, run.Finish());
  MapReport report;
  report.retrieval = std::move(retrieval);
  report.class_names = input.class_names;
  report.queries = n;
  report.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  report.retried_batches = run.retried_batches();
  report.retries = run.retries();
  report.index_type = info.has_index() ? info.index().type() : "";
  report.exact_index = exact;
  if (info.has_index()) report.index_recall_at_10 = info.index().recall_at_10();
  if (const auto offline = info.metrics().find("map"); offline != info.metrics().end()) {
    report.offline_map = offline->second;
  }
  return report;
}

std::string FormatMapReport(const MapReport& report, bool per_class, bool json) {
  const auto& per_class_map = report.retrieval.per_class_map;
  if (json) {
    nlohmann::json out = {{"map", report.retrieval.mean_average_precision},
                          {"queries", report.queries},
                          {"classes", report.class_names.size()},
                          {"seconds", report.seconds}};
    out["index_type"] = report.index_type;
    out["exact_index"] = report.exact_index;
    if (!report.exact_index) out["index_recall_at_10"] = report.index_recall_at_10;
    if (report.offline_map.has_value()) out["offline_map"] = *report.offline_map;
    out["retried_batches"] = report.retried_batches;
    out["retries"] = report.retries;
    if (per_class) {
      nlohmann::json classes = nlohmann::json::object();
      for (size_t c = 0; c < per_class_map.size() && c < report.class_names.size(); ++c) {
        if (!std::isnan(per_class_map[c])) classes[report.class_names[c]] = per_class_map[c];
      }
      out["per_class_map"] = classes;
    }
    return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::string out = absl::StrFormat("mAP %.4f over %d queries (%d classes) in %.1f s\n",
                                    report.retrieval.mean_average_precision, report.queries,
                                    report.class_names.size(), report.seconds);
  if (!report.exact_index) {
    absl::StrAppendFormat(&out, "approximate index %s (recall@10 %.4f): live mAP %.4f, ",
                          report.index_type, report.index_recall_at_10,
                          report.retrieval.mean_average_precision);
    if (report.offline_map.has_value()) {
      absl::StrAppendFormat(&out, "exact (offline) mAP %.4f, live - exact %+.4f\n",
                            *report.offline_map,
                            report.retrieval.mean_average_precision - *report.offline_map);
    } else {
      out += "the bundle records no exact (offline) mAP\n";
    }
  }
  if (report.retried_batches > 0) {
    absl::StrAppendFormat(&out, "retried %d batch%s (%d re-send%s)\n", report.retried_batches,
                          report.retried_batches == 1 ? "" : "es", report.retries,
                          report.retries == 1 ? "" : "s");
  }
  if (per_class) {
    for (size_t c = 0; c < per_class_map.size() && c < report.class_names.size(); ++c) {
      if (std::isnan(per_class_map[c])) continue;
      absl::StrAppendFormat(&out, "  %-24s %.4f\n", report.class_names[c], per_class_map[c]);
    }
  }
  return out;
}

}  // namespace sketch
