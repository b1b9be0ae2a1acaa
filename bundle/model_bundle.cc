#include "bundle/model_bundle.h"

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bundle/sha256.h"
#include "core/atomic_file.h"
#include "core/file_contents.h"
#include "core/status_macros.h"
#include "models/model_files.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

constexpr char kManifest[] = "manifest.json";
constexpr char kModel[] = "model.pt";

absl::Status HashFiles(const std::string& dir, BundleManifest* manifest) {
  manifest->file_sha256.clear();
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name == kManifest || !entry.is_regular_file()) continue;
    ASSIGN_OR_RETURN(manifest->file_sha256[name], Sha256File(entry.path().string()));
  }
  return absl::OkStatus();
}

// Every listed file against its digest (a version-1 bundle's train_config.json included: it is
// only a hashed file here), and the files a bundle cannot do without.
absl::Status VerifyFiles(const std::string& dir, const BundleManifest& manifest) {
  for (const auto& [name, digest] : manifest.file_sha256) {
    const std::string path = dir + "/" + name;
    auto actual = Sha256File(path);
    if (!actual.ok()) return absl::DataLossError(absl::StrCat("bundle file missing: ", path));
    if (*actual != digest) {
      return absl::DataLossError(absl::StrCat(path, " is corrupt: SHA-256 ", *actual,
                                              " differs from the manifest's ", digest));
    }
  }
  for (const char* required : {kModel, "preprocessing.json", "index.faiss",
                               "index_metadata.tsv"}) {
    if (!manifest.file_sha256.count(required)) {
      return absl::DataLossError(absl::StrCat(dir, ": manifest lists no ", required));
    }
  }
  return absl::OkStatus();
}

// The network the manifest names, with model.pt's weights, and the preprocessing beside it.
absl::StatusOr<TrainedModel> LoadModel(const std::string& dir, const BundleManifest& manifest) {
  ModelConfig config;
  config.num_classes = static_cast<int>(manifest.classes.size());
  config.input_size = manifest.input_size;
  TrainedModel trained;
  ASSIGN_OR_RETURN(trained.model, MakeSketchModel(manifest.architecture, config));
  RETURN_IF_ERROR(LoadModelWeights(dir + "/" + kModel, trained.model.get()));
  trained.model->eval();
  ASSIGN_OR_RETURN(trained.preprocessing, LoadPreprocessing(dir));
  trained.classes = manifest.classes;
  RETURN_IF_ERROR(ValidateTrainedModel(trained));
  return trained;
}

absl::Status CheckIndex(const std::string& dir, const BundleManifest& m, const FlatIndex& index) {
  if (index.dimension() != kFeatureSize || index.dimension() != m.feature_dim ||
      index.size() != m.index_size) {
    return absl::DataLossError(absl::StrCat(dir, ": index of ", index.size(), " x ",
                                            index.dimension(), " disagrees with the manifest"));
  }
  for (int64_t id = 0; id < index.size(); ++id) {
    const IndexedSketch& row = index.metadata(id);
    if (row.label < 0 || row.label >= static_cast<int>(m.classes.size()) ||
        row.word != m.classes[row.label]) {
      return absl::DataLossError(absl::StrCat(dir, ": index row ", id, " names an unknown class"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelBundle> LoadFrom(const std::string& dir) {
  const std::string manifest_path = dir + "/" + kManifest;
  auto text = ReadFileToString(manifest_path);
  if (!text.ok()) return absl::NotFoundError(absl::StrCat("no bundle manifest at ", manifest_path));
  ModelBundle bundle;
  ASSIGN_OR_RETURN(bundle.manifest, ManifestFromJson(*text, manifest_path));
  RETURN_IF_ERROR(VerifyFiles(dir, bundle.manifest));
  ASSIGN_OR_RETURN(bundle.bundle_hash, Sha256File(manifest_path));
  auto model = LoadModel(dir, bundle.manifest);
  if (!model.ok()) {
    return absl::DataLossError(absl::StrCat(dir, ": ", model.status().message()));
  }
  bundle.model = *std::move(model);
  auto index = FlatIndex::Load(dir);
  if (!index.ok()) return absl::DataLossError(absl::StrCat(dir, ": ", index.status().message()));
  bundle.index = *std::move(index);
  RETURN_IF_ERROR(CheckIndex(dir, bundle.manifest, *bundle.index));
  return bundle;
}

}  // namespace

absl::Status WriteBundle(const std::string& dir, const TrainedModel& model, const FlatIndex& index,
                         BundleManifest manifest) {
  RETURN_IF_ERROR(ValidateTrainedModel(model));
  if (manifest.classes != model.classes ||
      manifest.architecture != model.model->architecture() ||
      manifest.input_size != model.model->input_size()) {
    return absl::InvalidArgumentError(
        "bundle manifest: architecture, input size or classes differ from the model's");
  }
  manifest.format_version = kBundleFormatVersion;
  const std::string tmp = dir + ".tmp";
  const std::string old = dir + ".old";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", tmp, ": ", ec.message()));
  RETURN_IF_ERROR(SaveModelWeights(*model.model, tmp + "/" + kModel));
  RETURN_IF_ERROR(SavePreprocessing(model.preprocessing, tmp));
  RETURN_IF_ERROR(index.Save(tmp));
  manifest.index_size = index.size();
  manifest.feature_dim = index.dimension();
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

absl::StatusOr<ModelBundle> LoadBundle(const std::string& dir) {
  // A crash between WriteBundle's two renames leaves the previous bundle at "<dir>.old".
  if (!fs::exists(dir + "/" + kManifest) && fs::exists(dir + ".old/" + kManifest)) {
    return LoadFrom(dir + ".old");
  }
  try {
    return LoadFrom(dir);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(dir, ": ", e.what()));
  }
}

}  // namespace sketch
