#include "trainer/gallery_features.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bundle/model_bundle.h"
#include "bundle/sha256.h"
#include "core/normalize.h"
#include "core/progress_bar.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "index/l2_normalize.h"
#include "index/leave_one_out.h"
#include "models/inference_engine.h"
#include "trainer/run_files.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

bool IsDrawingFile(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".ndjson" || ext == ".bin" || ext == ".npy";
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

// The drawings a leave-one-out measure runs over: all of them, or a seeded sample of `sample`
// (the same drawings for the same gallery), in input order.
std::vector<int64_t> ChooseMeasured(int64_t n, int64_t sample) {
  std::vector<int64_t> chosen(n);
  for (int64_t i = 0; i < n; ++i) chosen[i] = i;
  if (sample > 0 && n > sample) {
    Rng rng(DeriveSeed(0, "gallery map sample"));
    rng.Shuffle(&chosen);
    chosen.resize(sample);
    std::sort(chosen.begin(), chosen.end());
  }
  return chosen;
}

std::string Figure(double value) {
  return std::isnan(value) ? std::string("-") : absl::StrFormat("%.4f", value);
}

}  // namespace

absl::StatusOr<std::vector<DrawingFile>> ListDrawingFiles(const std::vector<std::string>& inputs) {
  std::vector<DrawingFile> files;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (!fs::exists(input, ec)) return absl::NotFoundError(absl::StrCat(input, " does not exist"));
    if (!fs::is_directory(input, ec)) {
      files.push_back({input, fs::path(input).filename().string()});
      continue;
    }
    std::vector<std::string> found;
    for (fs::recursive_directory_iterator it(input, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file() && IsDrawingFile(it->path())) found.push_back(it->path().string());
    }
    if (ec) return absl::InternalError(absl::StrCat("cannot list ", input, ": ", ec.message()));
    std::sort(found.begin(), found.end());
    for (std::string& path : found) {
      std::string source = fs::path(path).lexically_relative(input).generic_string();
      files.push_back({std::move(path), std::move(source)});
    }
  }
  if (files.empty()) {
    return absl::InvalidArgumentError("no drawing files (.ndjson, .bin, .npy) in the inputs");
  }
  return files;
}

DrawingStream::DrawingStream(std::vector<DrawingFile> files, bool skip_invalid)
    : files_(std::move(files)), skip_invalid_(skip_invalid) {}

absl::StatusOr<bool> DrawingStream::Next(Sketch* sketch, std::string* source) {
  while (true) {
    if (reader_ == nullptr) {
      if (next_file_ == files_.size()) return false;
      const fs::path path = files_[next_file_++].path;
      ReaderOptions options;
      options.skip_invalid = skip_invalid_;
      options.word = path.stem().string();
      ASSIGN_OR_RETURN(reader_, OpenSketchReader(path.string(), options));
    }
    ASSIGN_OR_RETURN(const bool got, reader_->Next(sketch));
    if (got) {
      *source = files_[next_file_ - 1].source;
      return true;
    }
    skipped_ += reader_->skipped();
    reader_.reset();
  }
}

int64_t DrawingStream::skipped() const { return skipped_ + (reader_ ? reader_->skipped() : 0); }

size_t DrawingStream::files_done() const { return next_file_ - (reader_ ? 1 : 0); }

absl::StatusOr<GalleryModel> LoadGalleryModel(const std::string& dir,
                                              FeatureNormalization normalization,
                                              const TestTimeViews& views) {
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
  TestTimeViews& own = g.model.preprocessing.test_time;
  if (views.mirror) own.mirror = true;
  if (views.rotation_degrees > 0.0f) own.rotation_degrees = views.rotation_degrees;
  // A rotation given here is checked now, not when the first batch fails.
  RETURN_IF_ERROR(ValidatePreprocessing(g.model.preprocessing));
  ASSIGN_OR_RETURN(g.weights_sha256, Sha256File((fs::path(dir) / "model.pt").string()));
  return g;
}

absl::StatusOr<GalleryFeatures> ExtractGalleryFeatures(const std::vector<DrawingFile>& files,
                                                       const GalleryModel& model,
                                                       const FeatureOptions& options,
                                                       int64_t chunks_done,
                                                       const FeatureChunkSink& sink) {
  if (options.chunk_size < 1 || options.batch_size < 1) {
    return absl::InvalidArgumentError("chunk and batch sizes must be at least 1");
  }
  ASSIGN_OR_RETURN(const c10::Device device, ParseDevice(options.device));
  ASSIGN_OR_RETURN(std::unique_ptr<InferenceEngine> engine,
                   InferenceEngine::Create(*model.model.model, model.model.preprocessing,
                                           options.precision, device));
  std::map<std::string, int> label_of;
  for (size_t c = 0; c < model.model.classes.size(); ++c) {
    label_of[model.model.classes[c]] = static_cast<int>(c);
  }
  DrawingStream stream(files, options.skip_invalid);
  ProgressBar bar("features", static_cast<int64_t>(files.size()), "files", options.progress);
  GalleryFeatures out;
  const int64_t reused_rows = chunks_done * options.chunk_size;
  std::vector<Sketch> chunk;
  Sketch sketch;
  std::string source;
  for (bool more = true; more;) {
    chunk.clear();
    while (chunk.size() < static_cast<size_t>(options.chunk_size)) {
      ASSIGN_OR_RETURN(more, stream.Next(&sketch, &source));
      if (!more) break;
      const auto label = label_of.find(sketch.word);
      out.rows.push_back(
          {sketch.key_id, label == label_of.end() ? -1 : label->second, sketch.word, source});
      if (static_cast<int64_t>(out.rows.size()) > reused_rows) chunk.push_back(sketch);
    }
    bar.Update(static_cast<int64_t>(stream.files_done()),
               absl::StrCat(out.rows.size(), " drawings"));
    if (chunk.empty()) continue;
    ASSIGN_OR_RETURN(std::vector<float> features,
                     ExtractFeatures(*engine, chunk, options.batch_size));
    if (sink) {
      RETURN_IF_ERROR(sink(features, static_cast<int64_t>(out.rows.size())));
    } else {
      out.features.insert(out.features.end(), features.begin(), features.end());
    }
  }
  bar.Finish();
  out.skipped = stream.skipped();
  if (out.rows.empty()) return absl::InvalidArgumentError("the inputs hold no drawings");
  return out;
}

absl::StatusOr<SearchFeatures> ToSearchFeatures(std::vector<float> features, bool l2_normalize,
                                                const WhiteningOptions& whitening) {
  RETURN_IF_ERROR(ValidateWhiteningOptions(whitening));
  SearchFeatures out;
  out.l2_normalized = l2_normalize;
  out.dimension = kFeatureSize;
  if (whitening.dims > 0) {
    if (!l2_normalize) {
      return absl::InvalidArgumentError(
          "whitening works on L2-normalized features: it cannot go with raw ones");
    }
    ASSIGN_OR_RETURN(std::unique_ptr<FeatureWhitening> fitted,
                     FeatureWhitening::Fit(features, kFeatureSize, whitening));
    out.dimension = fitted->output_dimension();
    // In pieces, so that the copies Apply makes stay small next to a large gallery's features.
    constexpr size_t kRowsPerPiece = 65536;
    const size_t n = features.size() / kFeatureSize;
    out.rows.reserve(n * out.dimension);
    for (size_t begin = 0; begin < n; begin += kRowsPerPiece) {
      const size_t count = std::min(kRowsPerPiece, n - begin);
      ASSIGN_OR_RETURN(const std::vector<float> piece,
                       fitted->Apply(absl::MakeConstSpan(features).subspan(begin * kFeatureSize,
                                                                           count * kFeatureSize)));
      out.rows.insert(out.rows.end(), piece.begin(), piece.end());
    }
    out.whitening = std::move(fitted);
    return out;
  }
  out.rows = std::move(features);
  if (l2_normalize) L2NormalizeRows(&out.rows, kFeatureSize);
  return out;
}

absl::StatusOr<GalleryRetrieval> MeasureGalleryRetrieval(const SearchFeatures& search,
                                                         const std::vector<IndexedSketch>& rows,
                                                         int64_t sample) {
  const size_t dimension = static_cast<size_t>(search.dimension);
  const std::vector<float>& features = search.rows;
  if (dimension == 0 || features.size() != rows.size() * dimension) {
    return absl::InvalidArgumentError(absl::StrCat(features.size(), " feature values for ",
                                                   rows.size(), " drawings of ", dimension,
                                                   " dimensions"));
  }
  GalleryRetrieval r;
  std::map<std::string, int> word_ids;  // relevance: a word's id, for seen and unseen words alike
  std::set<std::string> seen_words;
  for (const IndexedSketch& row : rows) {
    word_ids.emplace(row.word, 0);
    if (row.label >= 0) seen_words.insert(row.word);
    ++(row.label >= 0 ? r.seen_entries : r.unseen_entries);
  }
  int next_id = 0;
  for (auto& [word, id] : word_ids) id = next_id++;
  r.words = static_cast<int64_t>(word_ids.size());
  r.seen_words = static_cast<int64_t>(seen_words.size());

  const std::vector<int64_t> chosen = ChooseMeasured(static_cast<int64_t>(rows.size()), sample);
  r.map_drawings = static_cast<int64_t>(chosen.size());
  if (chosen.size() < 2) return r;
  LeaveOneOutOptions options;  // the features are as searched: no normalization here
  options.query_expansion = search.query_expansion;
  std::vector<float> sampled;
  sampled.reserve(chosen.size() * dimension);
  std::vector<int> relevance;
  for (int64_t i : chosen) {
    sampled.insert(sampled.end(), features.begin() + i * dimension,
                   features.begin() + (i + 1) * dimension);
    relevance.push_back(word_ids[rows[i].word]);
  }
  ASSIGN_OR_RETURN(RetrievalReport loo,
                   LeaveOneOutMapOfFeatures(sampled, search.dimension, relevance, options));
  double map_seen = 0, map_unseen = 0, p10_seen = 0, p10_unseen = 0;
  for (size_t q = 0; q < chosen.size(); ++q) {
    const bool is_seen = rows[chosen[q]].label >= 0;
    (is_seen ? map_seen : map_unseen) += loo.average_precision[q];
    (is_seen ? p10_seen : p10_unseen) += loo.precision_at_10[q];
    ++(is_seen ? r.seen_queries : r.unseen_queries);
  }
  const auto mean = [](double sum, int64_t n) { return n ? sum / n : std::nan(""); };
  r.map_all = loo.mean_average_precision;
  r.p10_all = loo.mean_precision_at_10;
  r.map_seen = mean(map_seen, r.seen_queries);
  r.map_unseen = mean(map_unseen, r.unseen_queries);
  r.p10_seen = mean(p10_seen, r.seen_queries);
  r.p10_unseen = mean(p10_unseen, r.unseen_queries);
  return r;
}

absl::StatusOr<MeasuredFeatures> MeasureSearchFeatures(std::vector<float> features,
                                                       const std::vector<IndexedSketch>& rows,
                                                       bool l2_normalize,
                                                       const WhiteningOptions& whitening,
                                                       const QueryExpansionOptions& query_expansion,
                                                       int64_t sample) {
  // The measure searches a Flat index.
  RETURN_IF_ERROR(CheckQueryExpansion(
      query_expansion, l2_normalize ? FeatureNormalization::kL2 : FeatureNormalization::kRaw,
      IndexSpec()));
  MeasuredFeatures out;
  ASSIGN_OR_RETURN(out.features, ToSearchFeatures(std::move(features), l2_normalize, whitening));
  out.features.query_expansion = query_expansion;
  ASSIGN_OR_RETURN(out.retrieval, MeasureGalleryRetrieval(out.features, rows, sample));
  return out;
}

std::string FeatureSpaceName(bool l2_normalized, int whitening_dims,
                             int query_expansion_neighbors) {
  std::string name = whitening_dims > 0 ? absl::StrCat("whitened (", whitening_dims, "-d)")
                     : l2_normalized    ? "L2-normalized"
                                        : "raw";
  if (query_expansion_neighbors > 0) {
    absl::StrAppend(&name, ", queries expanded with ", query_expansion_neighbors, " neighbours");
  }
  return name;
}

std::string FormatGalleryRetrieval(const GalleryRetrieval& r, const std::string& feature_space) {
  const int64_t entries = r.seen_entries + r.unseen_entries;
  const std::string over =
      r.map_drawings < entries
          ? absl::StrFormat("a seeded sample of %d of the %d drawings", r.map_drawings, entries)
          : absl::StrFormat("%d drawings", r.map_drawings);
  std::string out =
      absl::StrFormat("leave-one-out retrieval, relevant = same word (%s features, over %s):\n",
                      feature_space, over);
  const struct {
    const char* name;
    double map, p10;
    int64_t queries;
  } parts[] = {{"all drawings", r.map_all, r.p10_all, r.seen_queries + r.unseen_queries},
               {"model's classes", r.map_seen, r.p10_seen, r.seen_queries},
               {"unseen classes", r.map_unseen, r.p10_unseen, r.unseen_queries}};
  for (const auto& part : parts) {
    absl::StrAppendFormat(&out, "  %-16s mAP %-6s  P@10 %-6s  (%d queries)\n", part.name,
                          Figure(part.map), Figure(part.p10), part.queries);
  }
  return out;
}

}  // namespace sketch
