#include "trainer/gallery_builder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bundle/model_bundle.h"
#include "bundle/sha256.h"
#include "core/atomic_file.h"
#include "core/drawing_store.h"
#include "core/file_contents.h"
#include "core/normalize.h"
#include "core/npy_format.h"
#include "core/progress_bar.h"
#include "core/random.h"
#include "core/sketch_reader.h"
#include "core/status_macros.h"
#include "index/l2_normalize.h"
#include "index/leave_one_out.h"
#include "index/recall.h"
#include "models/inference_engine.h"
#include "nlohmann/json.hpp"
#include "trainer/run_files.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr char kStateFile[] = "state.json";

bool IsDrawingFile(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".ndjson" || ext == ".bin" || ext == ".npy";
}

// Every record of the gallery's files in order, with the name of the file it came from. The
// word of a .bin or .npy record is its file's stem, as in Google's bucket.
class DrawingStream {
 public:
  DrawingStream(std::vector<std::string> files, bool skip_invalid)
      : files_(std::move(files)), skip_invalid_(skip_invalid) {}

  // True with `*sketch` and `*source` (the file name) set, false after the last file.
  absl::StatusOr<bool> Next(Sketch* sketch, std::string* source) {
    while (true) {
      if (reader_ == nullptr) {
        if (next_file_ == files_.size()) return false;
        const fs::path path = files_[next_file_++];
        ReaderOptions options;
        options.skip_invalid = skip_invalid_;
        options.word = path.stem().string();
        ASSIGN_OR_RETURN(reader_, OpenSketchReader(path.string(), options));
        source_ = path.filename().string();
      }
      ASSIGN_OR_RETURN(const bool got, reader_->Next(sketch));
      if (got) {
        *source = source_;
        return true;
      }
      skipped_ += reader_->skipped();
      reader_.reset();
    }
  }
  int64_t skipped() const { return skipped_ + (reader_ ? reader_->skipped() : 0); }
  size_t files_done() const { return next_file_ - (reader_ ? 1 : 0); }

 private:
  const std::vector<std::string> files_;
  const bool skip_invalid_;
  size_t next_file_ = 0;
  std::unique_ptr<SketchReader> reader_;
  std::string source_;
  int64_t skipped_ = 0;
};

// The model the gallery is indexed with, from a training run or a bundle, and what a bundle
// made from it inherits.
struct GalleryModel {
  TrainedModel model;
  BundleManifest manifest;  // the model's facts; files, index and gallery are set later
  bool l2_normalized = true;
  std::string weights_sha256;
};

absl::StatusOr<GalleryModel> LoadGalleryModel(const std::string& dir,
                                              FeatureNormalization normalization) {
  GalleryModel g;
  if (fs::exists(fs::path(dir) / "manifest.json")) {
    ASSIGN_OR_RETURN(ModelBundle bundle, LoadBundle(dir));
    g.model = std::move(bundle.model);
    g.manifest = std::move(bundle.manifest);
    g.l2_normalized = g.manifest.index_l2_normalized;
  } else {
    ASSIGN_OR_RETURN(g.model, LoadTrainedModel(dir));
    TrainConfig config;
    RunInfo info;
    RETURN_IF_ERROR(ReadTrainConfig(dir, &config, &info));
    g.manifest.recipe = config.recipe;
    g.manifest.train_config_json = TrainConfigToJson(config);
    g.manifest.dataset_path = info.dataset_path;
    g.manifest.num_train = info.num_train;
  }
  g.manifest.architecture = g.model.model->architecture();
  g.manifest.input_size = g.model.model->input_size();
  g.manifest.classes = g.model.classes;
  g.manifest.file_sha256.clear();
  if (normalization != FeatureNormalization::kAuto) {
    g.l2_normalized = normalization == FeatureNormalization::kL2;
  }
  ASSIGN_OR_RETURN(g.weights_sha256, Sha256File((fs::path(dir) / "model.pt").string()));
  return g;
}

// What the chunks in the work directory depend on: a resumed run must have the same.
Json WorkSignature(const GalleryOptions& options, const std::vector<std::string>& files,
                   const GalleryModel& model) {
  Json inputs = Json::array();
  for (const std::string& file : files) {
    std::error_code ec;
    const auto mtime = fs::last_write_time(file, ec).time_since_epoch().count();
    inputs.push_back({{"path", file}, {"bytes", fs::file_size(file, ec)}, {"mtime", mtime}});
  }
  return {{"model_sha256", model.weights_sha256},
          {"inputs", inputs},
          {"skip_invalid", options.skip_invalid},
          {"chunk_size", options.chunk_size},
          {"precision", options.precision == Precision::kBf16 ? "bf16" : "fp32"}};
}

// How far feature extraction got: chunks written, drawings they hold (every chunk but the
// last holds chunk_size).
struct WorkState {
  int64_t chunks = 0;
  int64_t rows = 0;
};

// The state of the work directory for `signature` (zeros for a new one). A state file written
// for another signature is FailedPrecondition naming the first field that differs.
absl::StatusOr<WorkState> ReadWorkState(const std::string& work, const Json& signature) {
  const std::string path = work + "/" + kStateFile;
  if (!fs::exists(path)) return WorkState();
  ASSIGN_OR_RETURN(const Json state, ReadJsonObjectFile(path));
  if (!state.contains("signature") || !state.contains("chunks") || !state.contains("rows") ||
      !state["chunks"].is_number_unsigned() || !state["rows"].is_number_unsigned()) {
    return absl::DataLossError(absl::StrCat(path, ": not a gallery work state"));
  }
  for (const auto& [key, value] : signature.items()) {
    if (!state["signature"].contains(key) || state["signature"][key] != value) {
      return absl::FailedPreconditionError(absl::StrCat(
          work, " holds a build with another ", key, " (inputs, model or options changed): ",
          "run the same command as before, or delete ", work, " to start over"));
    }
  }
  return WorkState{state["chunks"].get<int64_t>(), state["rows"].get<int64_t>()};
}

std::string ChunkPath(const std::string& work, int64_t chunk) {
  return absl::StrFormat("%s/features_%06d.npy", work, chunk);
}

// Features of one chunk's drawings, in batches: float [sketches.size(), 1024]. Raw strokes are
// normalized to the simplified frame first, as the server does with a request.
absl::StatusOr<std::vector<float>> ExtractFeatures(const InferenceEngine& engine,
                                                   const std::vector<Sketch>& sketches,
                                                   int batch_size) {
  std::vector<float> features;
  features.reserve(sketches.size() * kFeatureSize);
  for (size_t begin = 0; begin < sketches.size(); begin += batch_size) {
    const size_t end = std::min(sketches.size(), begin + batch_size);
    std::vector<Sketch> normalized;
    normalized.reserve(end - begin);
    for (size_t i = begin; i < end; ++i) {
      if (sketches[i].is_bitmap() || sketches[i].frame == StrokeFrame::kSimplified) {
        normalized.push_back(sketches[i]);
      } else {
        ASSIGN_OR_RETURN(Sketch simplified, NormalizeToSimplified(sketches[i]));
        normalized.push_back(std::move(simplified));
      }
    }
    std::vector<const Sketch*> batch;
    for (const Sketch& s : normalized) batch.push_back(&s);
    ASSIGN_OR_RETURN(InferenceOutput out, engine.RunSketches(batch));
    const float* f = out.features.data_ptr<float>();
    features.insert(features.end(), f, f + out.features.numel());
  }
  return features;
}

// Pass 1: extracts the features chunk by chunk into the work directory, each chunk and then the
// state written atomically, skipping the drawings of the chunks an earlier run finished.
absl::Status ExtractChunks(const GalleryOptions& options, const std::vector<std::string>& files,
                           const GalleryModel& model, const std::string& work,
                           const Json& signature, int64_t done, GalleryReport* report) {
  ASSIGN_OR_RETURN(
      std::unique_ptr<InferenceEngine> engine,
      InferenceEngine::Create(*model.model.model, model.model.preprocessing, options.precision));
  DrawingStream stream(files, options.skip_invalid);
  ProgressBar bar("features", static_cast<int64_t>(files.size()), "files", options.progress);
  std::vector<Sketch> chunk;
  Sketch sketch;
  std::string source;
  int64_t records = 0, written = 0;
  for (bool more = true; more;) {
    chunk.clear();
    while (chunk.size() < static_cast<size_t>(options.chunk_size)) {
      ASSIGN_OR_RETURN(more, stream.Next(&sketch, &source));
      if (!more) break;
      ++records;
      if (records > done * options.chunk_size) chunk.push_back(sketch);
    }
    bar.Update(static_cast<int64_t>(stream.files_done()), absl::StrCat(records, " drawings"));
    if (chunk.empty()) continue;
    ASSIGN_OR_RETURN(std::vector<float> features,
                     ExtractFeatures(*engine, chunk, options.batch_size));
    const int64_t shape[] = {static_cast<int64_t>(chunk.size()), kFeatureSize};
    RETURN_IF_ERROR(WriteFileAtomically(ChunkPath(work, done), EncodeNpyFloat32(features, shape)));
    ++done;
    const Json state = {{"signature", signature}, {"chunks", done}, {"rows", records}};
    RETURN_IF_ERROR(WriteFileAtomically(work + "/" + kStateFile, state.dump(2) + "\n"));
    if (options.max_chunks > 0 && ++written >= options.max_chunks && more) {
      return absl::AbortedError(
          absl::StrCat("stopped after ", written, " chunks (--max-chunks); run again to continue"));
    }
  }
  bar.Finish();
  report->skipped = stream.skipped();
  if (records == 0) {
    return absl::InvalidArgumentError("the gallery inputs hold no drawings");
  }
  return absl::OkStatus();
}

// Every chunk's features, concatenated: float [state.rows, 1024]. A chunk of another shape
// (another feature size included) is DataLoss naming it.
absl::StatusOr<std::vector<float>> LoadChunks(const std::string& work, const WorkState& state,
                                              int chunk_size) {
  std::vector<float> all;
  for (int64_t c = 0; c < state.chunks; ++c) {
    const std::string path = ChunkPath(work, c);
    ASSIGN_OR_RETURN(const std::string bytes, ReadFileToString(path));
    const int64_t rows = std::min<int64_t>(chunk_size, state.rows - c * chunk_size);
    const int64_t shape[] = {rows, kFeatureSize};
    ASSIGN_OR_RETURN(std::vector<float> features, DecodeNpyFloat32(bytes, shape, path));
    all.insert(all.end(), features.begin(), features.end());
  }
  return all;
}

// Pass 2: the metadata rows and (optionally) the drawing store, streamed from the same inputs.
absl::StatusOr<std::vector<IndexedSketch>> CollectRows(const GalleryOptions& options,
                                                       const std::vector<std::string>& files,
                                                       const std::vector<std::string>& classes,
                                                       const std::string& store_path) {
  std::map<std::string, int> label_of;
  for (size_t c = 0; c < classes.size(); ++c) label_of[classes[c]] = static_cast<int>(c);
  DrawingStream stream(files, options.skip_invalid);
  std::vector<IndexedSketch> rows;
  std::string source;
  SketchSource next = [&](Sketch* sketch) -> absl::StatusOr<bool> {
    ASSIGN_OR_RETURN(const bool got, stream.Next(sketch, &source));
    if (!got) return false;
    const auto label = label_of.find(sketch->word);
    rows.push_back(
        {sketch->key_id, label == label_of.end() ? -1 : label->second, sketch->word, source});
    return true;
  };
  if (!store_path.empty()) {
    RETURN_IF_ERROR(WriteDrawingStore(store_path, next));
  } else {
    Sketch sketch;
    for (bool more = true; more;) {
      ASSIGN_OR_RETURN(more, next(&sketch));
    }
  }
  return rows;
}

// Leave-one-out mAP with relevance = same word, split by whether the query's word is one of
// the model's classes; within a seeded sample of `sample` drawings when there are more.
absl::Status MeasureMap(const std::vector<float>& features, const std::vector<IndexedSketch>& rows,
                        bool l2, int64_t sample, GalleryReport* report) {
  std::map<std::string, int> word_ids;
  for (const IndexedSketch& row : rows) word_ids.emplace(row.word, 0);
  report->words = static_cast<int64_t>(word_ids.size());
  int next_id = 0;
  for (auto& [word, id] : word_ids) id = next_id++;
  for (const IndexedSketch& row : rows) {
    ++(row.label >= 0 ? report->seen_entries : report->unseen_entries);
  }
  std::vector<int64_t> chosen(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) chosen[i] = static_cast<int64_t>(i);
  if (sample > 0 && static_cast<int64_t>(rows.size()) > sample) {
    Rng rng(DeriveSeed(0, "gallery map sample"));
    rng.Shuffle(&chosen);
    chosen.resize(sample);
    std::sort(chosen.begin(), chosen.end());
  }
  std::vector<float> sampled;
  std::vector<int> relevance;
  for (int64_t i : chosen) {
    sampled.insert(sampled.end(), features.begin() + i * kFeatureSize,
                   features.begin() + (i + 1) * kFeatureSize);
    relevance.push_back(word_ids[rows[i].word]);
  }
  report->map_drawings = static_cast<int64_t>(chosen.size());
  if (chosen.size() < 2) return absl::OkStatus();
  ASSIGN_OR_RETURN(RetrievalReport loo,
                   LeaveOneOutMapOfFeatures(sampled, kFeatureSize, relevance, l2));
  double seen = 0, unseen = 0;
  int64_t seen_queries = 0, unseen_queries = 0;
  for (size_t q = 0; q < chosen.size(); ++q) {
    const bool is_seen = rows[chosen[q]].label >= 0;
    (is_seen ? seen : unseen) += loo.average_precision[q];
    ++(is_seen ? seen_queries : unseen_queries);
  }
  report->map_all = loo.mean_average_precision;
  report->map_seen = seen_queries ? seen / seen_queries : std::nan("");
  report->map_unseen = unseen_queries ? unseen / unseen_queries : std::nan("");
  return absl::OkStatus();
}

int64_t FileBytes(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListDrawingFiles(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (!fs::exists(input, ec)) return absl::NotFoundError(absl::StrCat(input, " does not exist"));
    if (!fs::is_directory(input, ec)) {
      files.push_back(input);
      continue;
    }
    std::vector<std::string> found;
    for (fs::recursive_directory_iterator it(input, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file() && IsDrawingFile(it->path())) found.push_back(it->path().string());
    }
    if (ec) return absl::InternalError(absl::StrCat("cannot list ", input, ": ", ec.message()));
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  if (files.empty()) {
    return absl::InvalidArgumentError("no drawing files (.ndjson, .bin, .npy) in the inputs");
  }
  return files;
}

absl::StatusOr<GalleryIndex> BuildGalleryIndex(std::vector<float> features, bool l2_normalize,
                                               std::vector<IndexedSketch> rows,
                                               const IndexSpec& spec, int recall_queries) {
  if (l2_normalize) L2NormalizeRows(&features, kFeatureSize);
  GalleryIndex built;
  ASSIGN_OR_RETURN(built.index, FaissIndex::Build(features, kFeatureSize, std::move(rows), spec));
  if (!built.index->exact()) {
    // The training sample's seed: a rebuild measures the same queries.
    ASSIGN_OR_RETURN(built.recall_at_10,
                     MeasureRecallAt10(*built.index, features, recall_queries, spec.seed));
  }
  return built;
}

absl::StatusOr<GalleryReport> BuildGallery(const GalleryOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.chunk_size < 1 || options.batch_size < 1) {
    return absl::InvalidArgumentError("chunk and batch sizes must be at least 1");
  }
  ASSIGN_OR_RETURN(const std::vector<std::string> files, ListDrawingFiles(options.inputs));
  ASSIGN_OR_RETURN(GalleryModel model, LoadGalleryModel(options.model, options.normalization));
  const std::string work = options.out_dir + ".work";
  std::error_code ec;
  fs::create_directories(work, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", work, ": ", ec.message()));
  const Json signature = WorkSignature(options, files, model);
  ASSIGN_OR_RETURN(const WorkState before, ReadWorkState(work, signature));
  GalleryReport report;
  report.reused_chunks = before.chunks;
  RETURN_IF_ERROR(ExtractChunks(options, files, model, work, signature, before.chunks, &report));
  ASSIGN_OR_RETURN(const WorkState after, ReadWorkState(work, signature));
  ASSIGN_OR_RETURN(std::vector<float> features, LoadChunks(work, after, options.chunk_size));

  const std::string store_path = options.store_drawings ? work + "/drawings.skdw" : "";
  ASSIGN_OR_RETURN(std::vector<IndexedSketch> rows,
                   CollectRows(options, files, model.model.classes, store_path));
  if (rows.size() * kFeatureSize != features.size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the inputs now hold ", rows.size(), " drawings but ", work, " has features of ",
        features.size() / kFeatureSize, ": they changed during the build; delete ", work));
  }
  report.entries = static_cast<int64_t>(rows.size());
  report.l2_normalized = model.l2_normalized;
  RETURN_IF_ERROR(MeasureMap(features, rows, model.l2_normalized, options.map_sample, &report));
  ASSIGN_OR_RETURN(GalleryIndex built,
                   BuildGalleryIndex(std::move(features), model.l2_normalized, std::move(rows),
                                     options.index, options.recall_queries));
  report.index_type = options.index.type;
  report.index_recall_at_10 = built.recall_at_10;

  BundleManifest& m = model.manifest;
  m.index_l2_normalized = model.l2_normalized;
  m.index_type = options.index.type;
  m.index_recall_at_10 = built.recall_at_10;
  m.gallery = GalleryInfo{options.inputs, report.entries, options.store_drawings};
  m.metrics["map"] = report.map_all;
  if (report.seen_entries) m.metrics["map_seen"] = report.map_seen;
  if (report.unseen_entries) m.metrics["map_unseen"] = report.map_unseen;
  m.metrics["map_drawings"] = static_cast<double>(report.map_drawings);
  RETURN_IF_ERROR(WriteBundle(options.out_dir, model.model, *built.index, m, store_path));
  report.store_bytes = FileBytes(options.out_dir + "/drawings.skdw");
  report.index_bytes = FileBytes(options.out_dir + "/index.faiss") +
                       FileBytes(options.out_dir + "/index_metadata.tsv");
  fs::remove_all(work, ec);  // the bundle is complete: the chunks are no longer needed
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::string FormatGalleryReport(const GalleryReport& r) {
  std::string out = absl::StrFormat(
      "gallery: %d drawings (%d of the model's classes, %d unseen), %d words, %d skipped\n",
      r.entries, r.seen_entries, r.unseen_entries, r.words, r.skipped);
  absl::StrAppendFormat(&out,
                        "leave-one-out mAP (relevant = same word, %s features, over %d "
                        "drawings): all %.4f, model's classes %.4f, unseen classes %.4f\n",
                        r.l2_normalized ? "L2-normalized" : "raw", r.map_drawings, r.map_all,
                        r.map_seen, r.map_unseen);
  absl::StrAppendFormat(&out, "index: %s, recall@10 against exact search %.4f\n", r.index_type,
                        r.index_recall_at_10);
  const double n = r.entries > 0 ? static_cast<double>(r.entries) : 1.0;
  absl::StrAppendFormat(&out,
                        "bytes per drawing: store %.1f, index + metadata %.1f; %.1f s "
                        "(%d feature chunks reused)\n",
                        r.store_bytes / n, r.index_bytes / n, r.seconds, r.reused_chunks);
  return out;
}

}  // namespace sketch
