#include "bundle/model_bundle.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bundle/bundle_files.h"
#include "bundle/sha256.h"
#include "core/atomic_file.h"
#include "core/status_macros.h"
#include "models/model_files.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

namespace fs = std::filesystem;

constexpr char kManifest[] = "manifest.json";
constexpr char kModel[] = "model.pt";
constexpr char kPreprocessing[] = "preprocessing.json";
constexpr char kIndex[] = "index.faiss";
constexpr char kIndexMetadata[] = "index_metadata.tsv";
constexpr char kDrawings[] = "drawings.skdw";
constexpr char kWhitening[] = "whitening.faiss";

// Pins every file WriteBundle wrote under the rules LoadBundle checks (bundle/bundle_files.h), so
// a bundle that would not load is refused when written.
absl::Status HashFiles(const std::string& dir, BundleManifest* manifest) {
  manifest->file_sha256.clear();
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == kManifest) continue;
    auto digest = HashBundleFile(dir, name, BundleLimits());
    if (!digest.ok()) return absl::InternalError(digest.status().message());
    manifest->file_sha256[name] = *std::move(digest);
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

// Every listed file against its digest (a version-1 bundle's train_config.json included: it is
// only a hashed file here), and the files a bundle cannot do without. All names are checked
// before any file is opened.
absl::Status VerifyFiles(const std::string& dir, const BundleManifest& manifest,
                         const BundleLimits& limits) {
  const std::string manifest_path = dir + "/" + kManifest;
  for (const auto& [name, digest] : manifest.file_sha256) {
    RETURN_IF_ERROR(CheckBundleFileName(name, manifest_path));
  }
  for (const char* required : {kModel, kPreprocessing, kIndex, kIndexMetadata}) {
    if (!manifest.file_sha256.count(required)) {
      return absl::DataLossError(absl::StrCat(manifest_path, " lists no ", required));
    }
  }
  for (const auto& [name, digest] : manifest.file_sha256) {
    auto actual = HashBundleFile(dir, name, limits);
    if (absl::IsNotFound(actual.status())) {
      return absl::DataLossError(actual.status().message());
    }
    if (!actual.ok()) return actual.status();
    if (*actual != digest) {
      return absl::DataLossError(absl::StrCat(dir, "/", name, " is corrupt: SHA-256 ", *actual,
                                              " differs from the manifest's ", digest));
    }
  }
  return absl::OkStatus();
}

// preprocessing.json names the mean image, which models' LoadPreprocessing reads from the bundle
// directory: it must be null or a file the manifest lists (so checked and hashed above).
absl::Status CheckMeanImageName(const std::string& dir, const BundleManifest& manifest,
                                const BundleLimits& limits) {
  const std::string path = dir + "/" + kPreprocessing;
  ASSIGN_OR_RETURN(const std::string text, ReadBundleFile(dir, kPreprocessing, limits));
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("normalization") ||
      !j["normalization"].is_object() || !j["normalization"].contains("mean_image")) {
    return absl::DataLossError(absl::StrCat(path, ": no normalization.mean_image"));
  }
  const nlohmann::json& name = j["normalization"]["mean_image"];
  if (name.is_null()) return absl::OkStatus();
  if (!name.is_string()) {
    return absl::DataLossError(absl::StrCat(path, ": mean_image is neither null nor a name"));
  }
  RETURN_IF_ERROR(CheckBundleFileName(name.get<std::string>(), path + " mean_image"));
  if (!manifest.file_sha256.count(name.get<std::string>())) {
    return absl::DataLossError(absl::StrCat(path, ": mean_image \"", name.get<std::string>(),
                                            "\" is not a file the manifest lists"));
  }
  return absl::OkStatus();
}

// Runs `load`: what it returns, an error as DataLoss "<dir>: <message>"; anything torch, FAISS or
// the JSON parser throws as DataLoss naming `file`.
template <typename T, typename Fn>
absl::StatusOr<T> Guarded(const std::string& dir, const char* file, Fn&& load) {
  absl::StatusOr<T> result = absl::InternalError("not loaded");
  try {
    result = load();
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat(dir, "/", file, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(dir, "/", file, ": ", e.what()));
  }
  if (!result.ok()) {
    return absl::DataLossError(absl::StrCat(dir, ": ", result.status().message()));
  }
  return result;
}

// The network the manifest names, taking the preprocessing's channels, with model.pt's weights.
absl::StatusOr<std::shared_ptr<SketchModel>> LoadNetwork(const std::string& dir,
                                                         const BundleManifest& manifest,
                                                         const Preprocessing& preprocessing) {
  RETURN_IF_ERROR(CheckRecordedInputSize(preprocessing, manifest.input_size, kManifest));
  ASSIGN_OR_RETURN(
      std::shared_ptr<SketchModel> model,
      MakeSketchModel(manifest.architecture,
                      ModelConfigFor(static_cast<int>(manifest.classes.size()), preprocessing)));
  RETURN_IF_ERROR(LoadModelWeights(dir + "/" + kModel, model.get()));
  model->eval();
  return model;
}

// The model, its preprocessing and its classes, each step guarded and named by its file.
absl::StatusOr<TrainedModel> LoadModel(const std::string& dir, const BundleManifest& manifest) {
  TrainedModel trained;
  ASSIGN_OR_RETURN(trained.preprocessing, Guarded<Preprocessing>(dir, kPreprocessing, [&] {
                     return LoadPreprocessing(dir);
                   }));
  ASSIGN_OR_RETURN(trained.model, Guarded<std::shared_ptr<SketchModel>>(dir, kModel, [&] {
                     return LoadNetwork(dir, manifest, trained.preprocessing);
                   }));
  trained.classes = manifest.classes;
  if (absl::Status status = ValidateTrainedModel(trained); !status.ok()) {
    return absl::DataLossError(absl::StrCat(dir, ": ", status.message()));
  }
  return trained;
}

absl::Status CheckIndex(const std::string& dir, const BundleManifest& m, const FaissIndex& index) {
  const int rows_dimension = m.index_whitening_dims > 0 ? m.index_whitening_dims : kFeatureSize;
  if (index.dimension() != rows_dimension || index.dimension() != m.feature_dim ||
      index.size() != m.index_size) {
    return absl::DataLossError(absl::StrCat(dir, ": index of ", index.size(), " x ",
                                            index.dimension(), " disagrees with the manifest"));
  }
  const absl::StatusOr<IndexKind> kind = IndexKindOfType(m.index_type);
  const SearchKnobs knobs = index.default_knobs();
  if (!kind.ok() || *kind != index.kind() || knobs.nprobe != m.index_nprobe ||
      knobs.ef_search != m.index_ef_search) {
    return absl::DataLossError(absl::StrCat(
        dir, "/", kIndex, " is a ", IndexKindName(index.kind()), " index (nprobe ", knobs.nprobe,
        ", efSearch ", knobs.ef_search, "); the manifest says ", m.index_type, " (nprobe ",
        m.index_nprobe, ", efSearch ", m.index_ef_search, ")"));
  }
  for (int64_t id = 0; id < index.size(); ++id) {
    const IndexedSketch& row = index.metadata(id);
    // Label -1: a word the model was not trained on (galleries may hold such drawings).
    const bool known = row.label >= 0 && row.label < static_cast<int>(m.classes.size()) &&
                       row.word == m.classes[row.label];
    const bool unseen = row.label == -1 &&
                        std::find(m.classes.begin(), m.classes.end(), row.word) == m.classes.end();
    if (!known && !unseen) {
      return absl::DataLossError(absl::StrCat(dir, ": index row ", id, " names an unknown class"));
    }
  }
  return absl::OkStatus();
}

// The drawing store when the manifest lists one (hashed already), which must hold one drawing
// per index row and agree with the gallery section; null when there is none.
absl::StatusOr<std::unique_ptr<DrawingStore>> LoadDrawings(const std::string& dir,
                                                           const BundleManifest& m) {
  const bool listed = m.file_sha256.count(kDrawings) > 0;
  const bool announced = m.gallery && m.gallery->has_drawings;
  if (listed != announced) {
    return absl::DataLossError(absl::StrCat(dir, "/", kManifest, ": gallery.has_drawings is ",
                                            announced ? "true" : "false", " but the files ",
                                            listed ? "list " : "do not list ", kDrawings));
  }
  if (!listed) return nullptr;
  ASSIGN_OR_RETURN(std::unique_ptr<DrawingStore> store,
                   DrawingStore::Open(absl::StrCat(dir, "/", kDrawings)));
  if (store->size() != m.index_size) {
    return absl::DataLossError(absl::StrCat(dir, "/", kDrawings, " holds ", store->size(),
                                            " drawings, the index ", m.index_size));
  }
  return store;
}

// The whitening when the manifest announces one (its file hashed already), which must turn fc_1
// into the index's rows; null when there is none.
absl::StatusOr<std::shared_ptr<const FeatureWhitening>> LoadWhitening(const std::string& dir,
                                                                      const BundleManifest& m) {
  const bool listed = m.file_sha256.count(kWhitening) > 0;
  const bool announced = m.index_whitening_dims > 0;
  if (listed != announced) {
    return absl::DataLossError(absl::StrCat(dir, "/", kManifest, ": index.whitening is ",
                                            announced ? "present" : "absent", " but the files ",
                                            listed ? "list " : "do not list ", kWhitening));
  }
  if (!listed) return nullptr;
  if (!m.index_l2_normalized) {
    return absl::DataLossError(absl::StrCat(
        dir, "/", kManifest, ": a whitened index must say its features are L2-normalized"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<FeatureWhitening> whitening,
                   FeatureWhitening::Load(absl::StrCat(dir, "/", kWhitening)));
  if (whitening->input_dimension() != kFeatureSize ||
      whitening->output_dimension() != m.index_whitening_dims) {
    return absl::DataLossError(
        absl::StrCat(dir, "/", kWhitening, " maps ", whitening->input_dimension(), " to ",
                     whitening->output_dimension(), " dimensions; the manifest says ", kFeatureSize,
                     " to ", m.index_whitening_dims));
  }
  return std::shared_ptr<const FeatureWhitening>(std::move(whitening));
}

// Puts the drawing store at `from` into the bundle being written, as a hard link when it can
// (no copy of a multi-gigabyte file), else as a copy; checks it holds `entries` drawings.
absl::Status AddDrawings(const std::string& from, const std::string& tmp, int64_t entries) {
  ASSIGN_OR_RETURN(std::unique_ptr<DrawingStore> store, DrawingStore::Open(from));
  if (store->size() != entries) {
    return absl::InvalidArgumentError(
        absl::StrCat(from, " holds ", store->size(), " drawings, the index ", entries));
  }
  const std::string to = tmp + "/" + kDrawings;
  std::error_code ec;
  fs::create_hard_link(from, to, ec);
  if (ec) fs::copy_file(from, to, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot copy ", from, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<ModelBundle> LoadFrom(const std::string& dir, const BundleLimits& limits) {
  const std::string manifest_path = dir + "/" + kManifest;
  ASSIGN_OR_RETURN(const std::string text, ReadBundleFile(dir, kManifest, limits));
  ModelBundle bundle;
  ASSIGN_OR_RETURN(bundle.manifest, ManifestFromJson(text, manifest_path));
  ASSIGN_OR_RETURN(bundle.bundle_hash, Sha256Bytes(text));
  RETURN_IF_ERROR(VerifyFiles(dir, bundle.manifest, limits));
  RETURN_IF_ERROR(CheckMeanImageName(dir, bundle.manifest, limits));
  ASSIGN_OR_RETURN(bundle.model, LoadModel(dir, bundle.manifest));
  ASSIGN_OR_RETURN(bundle.index, Guarded<std::unique_ptr<FaissIndex>>(
                                     dir, kIndex, [&] { return FaissIndex::Load(dir); }));
  // The whitening first: it decides the dimension the index's rows must have.
  ASSIGN_OR_RETURN(bundle.whitening, LoadWhitening(dir, bundle.manifest));
  RETURN_IF_ERROR(CheckIndex(dir, bundle.manifest, *bundle.index));
  ASSIGN_OR_RETURN(bundle.drawings, LoadDrawings(dir, bundle.manifest));
  return bundle;
}

// True when dir/manifest.json exists as anything (lstat: a dangling symlink counts, and is then
// refused by ReadBundleFile with its reason).
bool HasManifest(const std::string& dir) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(fs::path(dir) / kManifest, ec));
}

// The error for a directory without a manifest. A crash between WriteBundle's two renames leaves
// the previous bundle at "<dir>.old": it is named but never served in place of `dir`, so that a
// stale model cannot be served without anyone noticing.
absl::Status NoBundle(const std::string& dir) {
  const std::string old = dir + ".old";
  if (!HasManifest(old)) {
    return absl::NotFoundError(absl::StrCat("no bundle manifest at ", dir, "/", kManifest));
  }
  return absl::NotFoundError(absl::StrCat(
      "no bundle manifest at ", dir, "/", kManifest, ", but ", old,
      " holds the bundle that an unfinished bundle write moved aside; it is not loaded in its "
      "place: rebuild the bundle, or rename ",
      old, " to ", dir, " to serve that one"));
}

}  // namespace

absl::Status WriteBundle(const std::string& dir, const TrainedModel& model, const FaissIndex& index,
                         BundleManifest manifest, const std::string& drawings_path,
                         const FeatureWhitening* whitening) {
  RETURN_IF_ERROR(ValidateTrainedModel(model));
  if (manifest.classes != model.classes || manifest.architecture != model.model->architecture() ||
      manifest.input_size != model.model->input_size()) {
    return absl::InvalidArgumentError(
        "bundle manifest: architecture, input size or classes differ from the model's");
  }
  if (!drawings_path.empty() && !manifest.gallery) {
    return absl::InvalidArgumentError("bundle manifest: drawings are stored for galleries only");
  }
  if (absl::StatusOr<IndexKind> kind = IndexKindOfType(manifest.index_type);
      !kind.ok() || *kind != index.kind()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle manifest: index type \"", manifest.index_type,
                     "\" is not the index's kind (", IndexKindName(index.kind()), ")"));
  }
  if (whitening != nullptr &&
      (!manifest.index_l2_normalized || whitening->input_dimension() != kFeatureSize ||
       whitening->output_dimension() != index.dimension())) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle manifest: a whitening of ", whitening->input_dimension(), " to ",
                     whitening->output_dimension(), " dimensions does not make the L2-normalized ",
                     index.dimension(), "-d rows of this index"));
  }
  if (whitening == nullptr && index.dimension() != kFeatureSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle: a ", index.dimension(), "-d index needs the whitening that made it"));
  }
  manifest.format_version = kBundleFormatVersion;
  manifest.index_whitening_dims = whitening != nullptr ? whitening->output_dimension() : 0;
  if (whitening == nullptr) manifest.index_whitening_shrink = 0;
  const std::string tmp = dir + ".tmp";
  const std::string old = dir + ".old";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", tmp, ": ", ec.message()));
  RETURN_IF_ERROR(SaveModelWeights(*model.model, tmp + "/" + kModel));
  RETURN_IF_ERROR(SavePreprocessing(model.preprocessing, tmp));
  RETURN_IF_ERROR(index.Save(tmp));
  if (whitening != nullptr) RETURN_IF_ERROR(whitening->Save(tmp + "/" + kWhitening));
  manifest.index_size = index.size();
  manifest.feature_dim = index.dimension();
  manifest.index_nprobe = index.default_knobs().nprobe;
  manifest.index_ef_search = index.default_knobs().ef_search;
  if (manifest.gallery) {
    manifest.gallery->entries = index.size();
    manifest.gallery->has_drawings = !drawings_path.empty();
    if (!drawings_path.empty()) RETURN_IF_ERROR(AddDrawings(drawings_path, tmp, index.size()));
  }
  RETURN_IF_ERROR(HashFiles(tmp, &manifest));
  ASSIGN_OR_RETURN(const std::string manifest_json, ManifestToJson(manifest));
  RETURN_IF_ERROR(WriteFileAtomically(tmp + "/" + kManifest, manifest_json));

  fs::remove_all(old, ec);
  if (fs::exists(dir)) fs::rename(dir, old, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot move ", dir, " aside: ", ec.message()));
  fs::rename(tmp, dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
  fs::remove_all(old, ec);
  return absl::OkStatus();
}

absl::StatusOr<ModelBundle> LoadBundle(const std::string& dir, const BundleLimits& limits) {
  try {
    if (!HasManifest(dir)) return NoBundle(dir);
    return LoadFrom(dir, limits);
  } catch (const std::exception& e) {  // the steps name their files; this is the last resort
    return absl::DataLossError(absl::StrCat(dir, ": ", e.what()));
  }
}

}  // namespace sketch
