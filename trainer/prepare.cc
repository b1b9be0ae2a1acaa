#include "trainer/prepare.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/normalize.h"
#include "core/progress_bar.h"
#include "core/random.h"
#include "core/sketch_reader.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

bool IsClassFile(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".ndjson" || ext == ".bin" || ext == ".npy";
}

struct ClassSample {
  ClassCount count;
  std::vector<Sketch> train;
  std::vector<Sketch> test;
};

// One streaming pass of Algorithm R: after i records each has probability k/i of being held.
absl::StatusOr<std::vector<Sketch>> ReservoirSample(SketchReader& reader, size_t k, Rng& rng,
                                                    int64_t* records_read,
                                                    std::atomic<int64_t>* global_count) {
  std::vector<Sketch> reservoir;
  reservoir.reserve(k);
  Sketch sketch;
  int64_t seen = 0;
  while (true) {
    ASSIGN_OR_RETURN(const bool got, reader.Next(&sketch));
    if (!got) break;
    if (reservoir.size() < k) {
      reservoir.push_back(std::move(sketch));
    } else {
      const uint64_t j = rng.Uniform(seen + 1);
      if (j < k) reservoir[j] = std::move(sketch);
    }
    ++seen;
    if (seen % 4096 == 0) global_count->fetch_add(4096, std::memory_order_relaxed);
  }
  global_count->fetch_add(seen % 4096, std::memory_order_relaxed);
  *records_read = seen;
  return reservoir;
}

absl::StatusOr<ClassSample> SampleClass(const std::string& name, const std::string& path,
                                        const PrepareOptions& options,
                                        std::atomic<int64_t>* global_count) {
  ReaderOptions reader_options;
  reader_options.skip_invalid = options.skip_invalid;
  reader_options.word = name;
  ASSIGN_OR_RETURN(auto reader, OpenSketchReader(path, reader_options));
  const size_t wanted = static_cast<size_t>(options.train_per_class + options.test_per_class);
  Rng rng(DeriveSeed(options.seed, name));
  ClassSample sample;
  sample.count.name = name;
  ASSIGN_OR_RETURN(std::vector<Sketch> drawings,
                   ReservoirSample(*reader, wanted, rng, &sample.count.records_read, global_count));
  sample.count.skipped = reader->skipped();
  if (drawings.size() < wanted && !options.allow_fewer) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " has ", drawings.size(), " valid drawings; ", wanted,
                     " are needed (", options.train_per_class, " train + ",
                     options.test_per_class, " test); pass --allow-fewer to accept fewer"));
  }
  if (drawings.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " has no drawings"));
  rng.Shuffle(&drawings);  // the reservoir's order is not uniform; the split must be
  for (Sketch& d : drawings) {
    if (!d.is_bitmap() && d.frame == StrokeFrame::kRaw) {
      ASSIGN_OR_RETURN(d, NormalizeToSimplified(d));
    }
  }
  // Fewer drawings than asked: keep the requested test share, at least one test drawing.
  size_t num_test = static_cast<size_t>(options.test_per_class);
  if (drawings.size() < wanted) {
    num_test = std::max<size_t>(1, drawings.size() * options.test_per_class / wanted);
    num_test = std::min(num_test, drawings.size());
  }
  const size_t num_train = drawings.size() - num_test;
  sample.train.assign(std::make_move_iterator(drawings.begin()),
                      std::make_move_iterator(drawings.begin() + num_train));
  sample.test.assign(std::make_move_iterator(drawings.begin() + num_train),
                     std::make_move_iterator(drawings.end()));
  sample.count.train = static_cast<int>(sample.train.size());
  sample.count.test = static_cast<int>(sample.test.size());
  return sample;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ChooseClasses(
    const PrepareOptions& options) {
  ASSIGN_OR_RETURN(auto files, ListClassFiles(options.input_dir));
  std::map<std::string, std::string> by_name(files.begin(), files.end());
  std::vector<std::pair<std::string, std::string>> chosen;
  if (!options.classes.empty()) {
    for (const std::string& name : options.classes) {
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        return absl::NotFoundError(
            absl::StrCat("class '", name, "' has no file in ", options.input_dir));
      }
      chosen.push_back(*it);
    }
  } else if (options.num_classes > 0) {
    if (static_cast<size_t>(options.num_classes) > files.size()) {
      return absl::InvalidArgumentError(absl::StrCat(options.num_classes, " classes asked, ",
                                                     options.input_dir, " has ", files.size()));
    }
    Rng rng(DeriveSeed(options.seed, "classes"));
    rng.Shuffle(&files);
    files.resize(options.num_classes);
    chosen = std::move(files);
  } else {
    chosen = std::move(files);
  }
  std::sort(chosen.begin(), chosen.end());
  if (std::adjacent_find(chosen.begin(), chosen.end()) != chosen.end()) {
    return absl::InvalidArgumentError("a class is listed twice");
  }
  return chosen;
}

// Samples every class, `threads` at a time; results land in label order whatever the schedule.
absl::StatusOr<std::vector<ClassSample>> SampleAll(
    const std::vector<std::pair<std::string, std::string>>& classes,
    const PrepareOptions& options) {
  std::vector<absl::StatusOr<ClassSample>> results(classes.size(),
                                                   absl::UnknownError("not sampled"));
  std::atomic<size_t> next{0};
  std::atomic<int64_t> records{0};
  std::atomic<int64_t> done{0};
  ProgressBar bar("prepare", static_cast<int64_t>(classes.size()), "classes", options.progress);
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < classes.size();) {
      results[i] = SampleClass(classes[i].first, classes[i].second, options, &records);
      bar.Update(done.fetch_add(1) + 1, absl::StrCat(records.load(), " drawings read"));
    }
  };
  const int threads = std::clamp<int>(options.threads, 1, static_cast<int>(classes.size()));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  bar.Update(done.load(), absl::StrCat(records.load(), " drawings read"));
  bar.Finish();

  std::vector<ClassSample> samples;
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    samples.push_back(*std::move(r));
  }
  return samples;
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListClassFiles(
    const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return absl::NotFoundError(absl::StrCat("no directory ", dir));
  std::map<std::string, std::string> by_name;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file() || !IsClassFile(entry.path())) continue;
    const std::string name = entry.path().stem().string();
    auto [it, inserted] = by_name.emplace(name, entry.path().string());
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat("class '", name, "' has two files: ",
                                                     it->second, " and ", entry.path().string()));
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  if (by_name.empty()) {
    return absl::NotFoundError(absl::StrCat(dir, " has no .ndjson, .bin or .npy class files"));
  }
  return std::vector<std::pair<std::string, std::string>>(by_name.begin(), by_name.end());
}

std::string FormatPrepareSummary(const PrepareSummary& summary) {
  std::string out = absl::StrFormat("%-24s %12s %7s %6s %8s\n", "class", "read", "train", "test",
                                    "skipped");
  for (const ClassCount& c : summary.classes) {
    out += absl::StrFormat("%-24s %12d %7d %6d %8d\n", c.name, c.records_read, c.train, c.test,
                           c.skipped);
  }
  out += absl::StrFormat("%d classes (%s): %d train + %d test drawings, %d malformed records skipped\n",
                         summary.classes.size(), summary.payload, summary.num_train,
                         summary.num_test, summary.skipped_records);
  return out;
}

absl::StatusOr<PrepareSummary> PrepareDataset(const PrepareOptions& options) {
  if (options.train_per_class < 0 || options.test_per_class < 1) {
    return absl::InvalidArgumentError("need train >= 0 and test >= 1 drawings per class");
  }
  ASSIGN_OR_RETURN(const auto classes, ChooseClasses(options));
  ASSIGN_OR_RETURN(std::vector<ClassSample> samples, SampleAll(classes, options));

  Dataset dataset;
  PrepareSummary summary;
  dataset.metadata.source = options.input_dir;
  dataset.metadata.seed = options.seed;
  dataset.metadata.train_per_class = options.train_per_class;
  dataset.metadata.test_per_class = options.test_per_class;
  const bool bitmap = samples.front().test.front().is_bitmap();
  dataset.metadata.payload = summary.payload = bitmap ? "bitmap" : "strokes";
  for (size_t label = 0; label < samples.size(); ++label) {
    ClassSample& s = samples[label];
    if (s.test.front().is_bitmap() != bitmap) {
      return absl::InvalidArgumentError(absl::StrCat(
          "classes mix strokes and bitmaps: '", s.count.name, "' differs from '",
          samples.front().count.name, "'"));
    }
    dataset.metadata.classes.push_back(s.count.name);
    for (Sketch& d : s.train) dataset.train.push_back({static_cast<int>(label), std::move(d)});
    for (Sketch& d : s.test) dataset.test.push_back({static_cast<int>(label), std::move(d)});
    summary.skipped_records += s.count.skipped;
    summary.classes.push_back(s.count);
  }
  dataset.metadata.skipped_records = summary.skipped_records;
  summary.num_train = static_cast<int64_t>(dataset.train.size());
  summary.num_test = static_cast<int64_t>(dataset.test.size());
  RETURN_IF_ERROR(WriteDataset(dataset, options.output_path));
  return summary;
}

}  // namespace sketch
