// The one path from any drawings to their retrieval quality under a model, shared by
// `sketch-trainer index` (trainer/gallery_builder.h, which goes on to write a gallery bundle) and
// `sketch-trainer evaluate --drawings` (trainer/drawing_evaluation.h, which writes nothing): the
// drawing files under the inputs, the model that embeds them, one metadata row per drawing (word,
// the model's label or -1 for a word it never saw, source), their fc_1 features extracted in
// chunks, and the leave-one-out mAP and precision@10 of all drawings, of the model's classes and
// of the unseen words.
#ifndef SKETCH_TRAINER_GALLERY_FEATURES_H_
#define SKETCH_TRAINER_GALLERY_FEATURES_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "bundle/manifest.h"
#include "core/sketch.h"
#include "core/sketch_reader.h"
#include "index/feature_index.h"
#include "index/feature_whitening.h"
#include "index/query_expanding_index.h"
#include "models/torch_runtime.h"
#include "models/trained_model.h"
#include "trainer/bundle_builder.h"

namespace sketch {

// A drawing file and the name its drawings' rows record as their source.
struct DrawingFile {
  std::string path;  // as found: an input itself, or a file under an input folder
  // The path relative to the input folder it was found under ("raw/ant.ndjson"), so that files of
  // one name in several folders stay apart; a file given directly: its file name.
  std::string source;
};

// The drawing files under `inputs` (a file is taken as given; a folder's .ndjson, .bin and .npy
// files recursively), sorted within each folder. NotFound for a missing input; InvalidArgument
// when there is no drawing file at all.
absl::StatusOr<std::vector<DrawingFile>> ListDrawingFiles(const std::vector<std::string>& inputs);

// Every record of `files` in order, with its file's source. The word of a .bin or .npy record is
// its file's stem, as in Google's bucket. Not thread-safe.
class DrawingStream {
 public:
  DrawingStream(std::vector<DrawingFile> files, bool skip_invalid);

  // True with `*sketch` and `*source` set, false after the last file. InvalidArgument for a
  // malformed record without skip_invalid (naming file:line); the reader's errors otherwise.
  absl::StatusOr<bool> Next(Sketch* sketch, std::string* source);
  int64_t skipped() const;  // malformed records skipped so far (skip_invalid)
  size_t files_done() const;

 private:
  const std::vector<DrawingFile> files_;
  const bool skip_invalid_;
  size_t next_file_ = 0;
  std::unique_ptr<SketchReader> reader_;
  int64_t skipped_ = 0;
};

// The model drawings are embedded with, from a training run or a bundle, and what a bundle made
// from it inherits.
struct GalleryModel {
  TrainedModel model;
  BundleManifest manifest;  // the model's facts; files, index and gallery are set later
  bool l2_normalized = true;
  std::string weights_sha256;
};

// `dir`: a `sketch-trainer train` output directory, or a bundle (it has manifest.json). kAuto:
// a bundle's own choice (manifest index.l2_normalized), L2 for a model directory. Errors: those
// of LoadBundle or LoadTrainedModel (NotFound for a missing file, DataLoss for a malformed or
// mismatched one, e.g. weights of another size than the config says).
// `views`: the test-time views to embed with (models/preprocessing.h); each one set (mirror true,
// rotation > 0) overrides the model's own setting, the rest keep it (a bundle made with `bundle
// --mirror-average` has the mirror). InvalidArgument for a rotation ValidatePreprocessing refuses.
absl::StatusOr<GalleryModel> LoadGalleryModel(const std::string& dir,
                                              FeatureNormalization normalization,
                                              const TestTimeViews& views = {});

// How features are extracted (all of it but `progress` is what a resumed `index` run must share
// with the run it continues).
struct FeatureOptions {
  bool skip_invalid = false;  // otherwise the first malformed record is an error (file:line)
  int chunk_size = 4096;      // drawings per feature chunk (for `index`, the unit of resumption)
  int batch_size = 64;        // drawings per forward pass
  Precision precision = Precision::kFp32;
  std::string device = "cpu";  // cpu | cuda | cuda:N (ParseDevice); not part of the signature
  bool progress = false;
};

// Takes each new chunk's features, float [n, 1024], and the count of drawings read so far (the
// chunk's included). An error stops the extraction and is returned by it.
using FeatureChunkSink =
    std::function<absl::Status(const std::vector<float>& features, int64_t rows)>;

struct GalleryFeatures {
  // One per drawing, in input order: key_id, label (the model's class index, -1 for any other
  // word), word, source.
  std::vector<IndexedSketch> rows;
  std::vector<float> features;  // float [rows.size(), 1024] without a sink; empty with one
  int64_t skipped = 0;          // malformed records skipped (skip_invalid)
};

// Reads every drawing of `files` once, in order, and embeds them with `model` (raw strokes are
// normalized to the simplified frame first, as the server does with a request) chunk by chunk;
// each chunk's features go to `sink`, or without one are kept in the result. The drawings of the
// first `chunks_done` chunks (an earlier run's) are read for their rows only. Errors:
// InvalidArgument (chunk or batch size below 1, no drawings at all, a malformed record without
// skip_invalid naming file:line), what `sink` returns, Internal when torch fails.
absl::StatusOr<GalleryFeatures> ExtractGalleryFeatures(const std::vector<DrawingFile>& files,
                                                       const GalleryModel& model,
                                                       const FeatureOptions& options,
                                                       int64_t chunks_done = 0,
                                                       const FeatureChunkSink& sink = nullptr);

// Leave-one-out retrieval quality of a collection of drawings: each queries all the others,
// relevant = same word (words the model never saw are told apart by word, not by label -1).
struct GalleryRetrieval {
  int64_t words = 0, seen_words = 0;             // distinct words; those among the model's classes
  int64_t seen_entries = 0, unseen_entries = 0;  // drawings of the model's classes; of other words
  int64_t map_drawings = 0;  // drawings measured over, queries and database alike (all or a sample)
  int64_t seen_queries = 0, unseen_queries = 0;  // of those, of the model's classes; of others
  // mAP and precision@10 of every query, of the model's classes and of the other words; NaN for
  // a part with no query; 0 when fewer than 2 drawings were measured.
  double map_all = 0, map_seen = 0, map_unseen = 0;
  double p10_all = 0, p10_seen = 0, p10_unseen = 0;
};

// Features as a gallery indexes, measures and (through QueryNormalizingIndex) queries them.
struct SearchFeatures {
  std::vector<float> rows;  // float [n, dimension]
  int dimension = 0;        // 1024, or the whitening's output dimension
  bool l2_normalized = false;
  std::shared_ptr<const FeatureWhitening> whitening;  // null unless whitened
  // Search-time query expansion (index/query_expanding_index.h); neighbors 0: none.
  QueryExpansionOptions query_expansion;

  int whitening_dims() const { return whitening ? whitening->output_dimension() : 0; }
};

// The one place that turns extracted features (float [n, 1024]) into a gallery's: as they are,
// L2-normalized when `l2_normalize`, or with whitening.dims > 0 whitened by a FeatureWhitening
// fitted here on these very features (no labels: what `index --whiten` fits on its gallery).
// InvalidArgument for whitening without L2 normalization, and FeatureWhitening::Fit's errors.
absl::StatusOr<SearchFeatures> ToSearchFeatures(std::vector<float> features, bool l2_normalize,
                                                const WhiteningOptions& whitening);

// The figures of `features` (one row per drawing of `rows`); the measure is O(n^2), so above
// `sample` drawings (0: never) it runs within a seeded random sample of that many.
// InvalidArgument for a shape mismatch or non-finite features.
absl::StatusOr<GalleryRetrieval> MeasureGalleryRetrieval(const SearchFeatures& features,
                                                         const std::vector<IndexedSketch>& rows,
                                                         int64_t sample);

// What `index` and `evaluate --drawings` both do with the features they extracted (one per
// drawing of `rows`): ToSearchFeatures, then MeasureGalleryRetrieval with `query_expansion`;
// errors of either, and InvalidArgument for query expansion of raw features or bad options.
struct MeasuredFeatures {
  SearchFeatures features;
  GalleryRetrieval retrieval;
};
absl::StatusOr<MeasuredFeatures> MeasureSearchFeatures(std::vector<float> features,
                                                       const std::vector<IndexedSketch>& rows,
                                                       bool l2_normalize,
                                                       const WhiteningOptions& whitening,
                                                       const QueryExpansionOptions& query_expansion,
                                                       int64_t sample);

// "raw", "L2-normalized" or "whitened (<dims>-d)": the features a report's figures are of, then
// ", queries expanded with <n> neighbours" when they are.
std::string FeatureSpaceName(bool l2_normalized, int whitening_dims,
                             int query_expansion_neighbors = 0);

// Lines for a report: the three parts' mAP and P@10 ("-" for an empty part), over how many
// drawings and with which features (FeatureSpaceName).
std::string FormatGalleryRetrieval(const GalleryRetrieval& retrieval,
                                   const std::string& feature_space);

}  // namespace sketch

#endif  // SKETCH_TRAINER_GALLERY_FEATURES_H_
