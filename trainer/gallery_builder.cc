#include "trainer/gallery_builder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bundle/model_bundle.h"
#include "core/atomic_file.h"
#include "core/drawing_store.h"
#include "core/file_contents.h"
#include "core/npy_format.h"
#include "core/status_macros.h"
#include "index/recall.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr char kStateFile[] = "state.json";

// What the chunks in the work directory depend on: a resumed run must have the same. The files'
// sources are not part of it: chunks hold features only, and every run reads the rows (sources
// included) again from the inputs.
Json WorkSignature(const GalleryOptions& options, const std::vector<DrawingFile>& files,
                   const GalleryModel& model) {
  Json inputs = Json::array();
  for (const DrawingFile& file : files) {
    std::error_code ec;
    const auto mtime = fs::last_write_time(file.path, ec).time_since_epoch().count();
    inputs.push_back(
        {{"path", file.path}, {"bytes", fs::file_size(file.path, ec)}, {"mtime", mtime}});
  }
  const FeatureOptions& f = options.features;
  Json signature = {{"model_sha256", model.weights_sha256},
                    {"inputs", inputs},
                    {"skip_invalid", f.skip_invalid},
                    {"chunk_size", f.chunk_size},
                    {"precision", f.precision == Precision::kBf16 ? "bf16" : "fp32"},
                    // The same weights embed otherwise with other test-time views.
                    {"mirror_average", model.model.preprocessing.test_time.mirror}};
  // Only when set, so that work directories from before rotated views still resume.
  const float rotation = model.model.preprocessing.test_time.rotation_degrees;
  if (rotation > 0.0f) signature["rotation_degrees"] = rotation;
  return signature;
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
  const auto refuse = [&work](const std::string& key) {
    return absl::FailedPreconditionError(absl::StrCat(
        work, " holds a build with another ", key, " (inputs, model or options changed): ",
        "run the same command as before, or delete ", work, " to start over"));
  };
  for (const auto& [key, value] : signature.items()) {
    if (!state["signature"].contains(key) || state["signature"][key] != value) return refuse(key);
  }
  // Both ways: a field written only when set (rotation_degrees) is absent from one of them.
  for (const auto& [key, value] : state["signature"].items()) {
    if (!signature.contains(key)) return refuse(key);
  }
  return WorkState{state["chunks"].get<int64_t>(), state["rows"].get<int64_t>()};
}

std::string ChunkPath(const std::string& work, int64_t chunk) {
  return absl::StrFormat("%s/features_%06d.npy", work, chunk);
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

absl::Status InputsChanged(int64_t drawings, int64_t features, const std::string& work) {
  return absl::FailedPreconditionError(
      absl::StrCat("the inputs now hold ", drawings, " drawings but ", work, " has features of ",
                   features, ": they changed during the build; delete ", work));
}

// Pass 1: every drawing's row, and its features extracted chunk by chunk into the work
// directory (each chunk and then the state written atomically), skipping the chunks an earlier
// run finished; then all chunks read back.
absl::StatusOr<GalleryFeatures> ExtractIntoWorkDir(const GalleryOptions& options,
                                                   const std::vector<DrawingFile>& files,
                                                   const GalleryModel& model,
                                                   const std::string& work,
                                                   int64_t* reused_chunks) {
  std::error_code ec;
  fs::create_directories(work, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", work, ": ", ec.message()));
  const Json signature = WorkSignature(options, files, model);
  ASSIGN_OR_RETURN(const WorkState before, ReadWorkState(work, signature));
  *reused_chunks = before.chunks;
  int64_t done = before.chunks;
  int written = 0;
  const FeatureChunkSink write_chunk = [&](const std::vector<float>& features,
                                           int64_t rows) -> absl::Status {
    const int64_t shape[] = {static_cast<int64_t>(features.size()) / kFeatureSize, kFeatureSize};
    RETURN_IF_ERROR(WriteFileAtomically(ChunkPath(work, done), EncodeNpyFloat32(features, shape)));
    ++done;
    const Json state = {{"signature", signature}, {"chunks", done}, {"rows", rows}};
    RETURN_IF_ERROR(WriteFileAtomically(work + "/" + kStateFile, state.dump(2) + "\n"));
    if (options.max_chunks > 0 && ++written >= options.max_chunks) {
      return absl::AbortedError(
          absl::StrCat("stopped after ", written, " chunks (--max-chunks); run again to continue"));
    }
    return absl::OkStatus();
  };
  ASSIGN_OR_RETURN(GalleryFeatures extracted, ExtractGalleryFeatures(files, model, options.features,
                                                                     before.chunks, write_chunk));
  ASSIGN_OR_RETURN(const WorkState after, ReadWorkState(work, signature));
  ASSIGN_OR_RETURN(extracted.features, LoadChunks(work, after, options.features.chunk_size));
  const int64_t rows = static_cast<int64_t>(extracted.rows.size());
  if (static_cast<int64_t>(extracted.features.size()) != rows * kFeatureSize) {
    return InputsChanged(rows, static_cast<int64_t>(extracted.features.size()) / kFeatureSize,
                         work);
  }
  return extracted;
}

// Pass 2, once every feature exists: the drawings into the store at `path`, streamed from the
// same inputs. FailedPrecondition when they no longer hold `rows` drawings.
absl::Status WriteStore(const std::string& path, const std::vector<DrawingFile>& files,
                        bool skip_invalid, int64_t rows, const std::string& work) {
  DrawingStream stream(files, skip_invalid);
  std::string source;
  int64_t count = 0;
  RETURN_IF_ERROR(WriteDrawingStore(path, [&](Sketch* sketch) -> absl::StatusOr<bool> {
    ASSIGN_OR_RETURN(const bool got, stream.Next(sketch, &source));
    count += got ? 1 : 0;
    return got;
  }));
  if (count != rows) return InputsChanged(count, rows, work);
  return absl::OkStatus();
}

int64_t FileBytes(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

}  // namespace

absl::StatusOr<GalleryIndex> BuildGalleryIndex(const SearchFeatures& features,
                                               std::vector<IndexedSketch> rows,
                                               const IndexSpec& spec, int recall_queries) {
  GalleryIndex built;
  ASSIGN_OR_RETURN(built.index,
                   FaissIndex::Build(features.rows, features.dimension, std::move(rows), spec));
  if (!built.index->exact()) {
    // The training sample's seed: a rebuild measures the same queries.
    ASSIGN_OR_RETURN(built.recall_at_10,
                     MeasureRecallAt10(*built.index, features.rows, recall_queries, spec.seed));
  }
  return built;
}

absl::StatusOr<GalleryReport> BuildGallery(const GalleryOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(const std::vector<DrawingFile> files, ListDrawingFiles(options.inputs));
  ASSIGN_OR_RETURN(GalleryModel model,
                   LoadGalleryModel(options.model, options.normalization, options.test_time));
  // Before the extraction spends minutes.
  RETURN_IF_ERROR(CheckQueryExpansion(
      options.query_expansion,
      model.l2_normalized ? FeatureNormalization::kL2 : FeatureNormalization::kRaw, options.index));
  const std::string work = options.out_dir + ".work";
  GalleryReport report;
  ASSIGN_OR_RETURN(GalleryFeatures extracted,
                   ExtractIntoWorkDir(options, files, model, work, &report.reused_chunks));
  report.entries = static_cast<int64_t>(extracted.rows.size());
  report.skipped = extracted.skipped;
  report.l2_normalized = model.l2_normalized;
  ASSIGN_OR_RETURN(
      MeasuredFeatures measured,
      MeasureSearchFeatures(std::move(extracted.features), extracted.rows, model.l2_normalized,
                            options.whitening, options.query_expansion, options.map_sample));
  const SearchFeatures& searched = measured.features;
  report.whitening_dims = searched.whitening_dims();
  report.query_expansion_neighbors = options.query_expansion.neighbors;
  report.retrieval = measured.retrieval;
  const std::string store_path = options.store_drawings ? work + "/drawings.skdw" : "";
  if (!store_path.empty()) {
    RETURN_IF_ERROR(
        WriteStore(store_path, files, options.features.skip_invalid, report.entries, work));
  }
  ASSIGN_OR_RETURN(GalleryIndex built, BuildGalleryIndex(searched, std::move(extracted.rows),
                                                         options.index, options.recall_queries));
  report.index_type = options.index.type;
  report.index_recall_at_10 = built.recall_at_10;

  BundleManifest& m = model.manifest;
  m.index_l2_normalized = model.l2_normalized;
  m.index_whitening_shrink = options.whitening.shrink;
  m.index_query_expansion_neighbors = options.query_expansion.neighbors;  // never the bundle's own
  m.index_query_expansion_alpha =
      options.query_expansion.neighbors > 0 ? options.query_expansion.alpha : 0;
  m.index_type = options.index.type;
  m.index_recall_at_10 = built.recall_at_10;
  m.gallery = GalleryInfo{options.inputs, report.entries, options.store_drawings};
  const GalleryRetrieval& r = report.retrieval;
  // A part with no query (NaN) is left out: JSON has no NaN.
  for (const auto& [key, value] : {std::pair{"map", r.map_all},
                                   {"map_seen", r.map_seen},
                                   {"map_unseen", r.map_unseen},
                                   {"precision_at_10", r.p10_all},
                                   {"precision_at_10_seen", r.p10_seen},
                                   {"precision_at_10_unseen", r.p10_unseen}}) {
    if (!std::isnan(value)) m.metrics[key] = value;
  }
  m.metrics["map_drawings"] = static_cast<double>(r.map_drawings);
  RETURN_IF_ERROR(WriteBundle(options.out_dir, model.model, *built.index, m, store_path,
                              searched.whitening.get()));
  report.store_bytes = FileBytes(options.out_dir + "/drawings.skdw");
  report.index_bytes = FileBytes(options.out_dir + "/index.faiss") +
                       FileBytes(options.out_dir + "/index_metadata.tsv");
  std::error_code ec;
  fs::remove_all(work, ec);  // the bundle is complete: the chunks are no longer needed
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::string FormatGalleryReport(const GalleryReport& r) {
  std::string out = absl::StrFormat(
      "gallery: %d drawings (%d of the model's classes, %d unseen), %d words, %d skipped\n",
      r.entries, r.retrieval.seen_entries, r.retrieval.unseen_entries, r.retrieval.words,
      r.skipped);
  out += FormatGalleryRetrieval(r.retrieval, FeatureSpaceName(r.l2_normalized, r.whitening_dims,
                                                              r.query_expansion_neighbors));
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
