#include "trainer/model_bundle.h"

#include <openssl/evp.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "core/atomic_file.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr char kManifest[] = "manifest.json";
constexpr char kModel[] = "model.pt";

std::string ManifestToJson(const BundleManifest& m) {
  Json j;
  j["format"] = "sketchsearch-bundle";
  j["format_version"] = m.format_version;
  j["architecture"] = m.architecture;
  j["input_size"] = m.input_size;
  j["classes"] = m.classes;
  j["recipe"] = m.recipe;
  j["train_config"] = Json::parse(m.train_config_json);
  j["dataset"] = {{"path", m.dataset_path},
                  {"seed", m.dataset_seed},
                  {"num_train", m.num_train},
                  {"num_test", m.num_test}};
  j["metrics"] = m.metrics;
  j["index"] = {{"type", "flat_l2"},
                {"size", m.index_size},
                {"dimension", m.feature_dim},
                {"l2_normalized", m.index_l2_normalized}};
  j["files"] = m.file_sha256;
  return j.dump(2) + "\n";
}

absl::StatusOr<BundleManifest> ManifestFromJson(const std::string& text, const std::string& path) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "sketchsearch-bundle") {
    return absl::DataLossError(absl::StrCat(path, " is not a bundle manifest"));
  }
  try {
    BundleManifest m;
    m.format_version = j.at("format_version").get<int>();
    if (m.format_version > kBundleFormatVersion) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": bundle format ", m.format_version,
                                                     " is newer than this build reads (",
                                                     kBundleFormatVersion, ")"));
    }
    m.architecture = j.at("architecture").get<std::string>();
    m.input_size = j.at("input_size").get<int>();
    m.classes = j.at("classes").get<std::vector<std::string>>();
    m.recipe = j.at("recipe").get<std::string>();
    m.train_config_json = j.at("train_config").dump();
    const Json& d = j.at("dataset");
    m.dataset_path = d.at("path").get<std::string>();
    m.dataset_seed = d.at("seed").get<uint64_t>();
    m.num_train = d.at("num_train").get<int64_t>();
    m.num_test = d.at("num_test").get<int64_t>();
    m.metrics = j.at("metrics").get<std::map<std::string, double>>();
    const Json& index = j.at("index");
    m.index_size = index.at("size").get<int64_t>();
    m.feature_dim = index.at("dimension").get<int>();
    m.index_l2_normalized = index.at("l2_normalized").get<bool>();
    m.file_sha256 = j.at("files").get<std::map<std::string, std::string>>();
    return m;
  } catch (const Json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": malformed manifest: ", e.what()));
  }
}

absl::Status HashFiles(const std::string& dir, BundleManifest* manifest) {
  manifest->file_sha256.clear();
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name == kManifest || !entry.is_regular_file()) continue;
    ASSIGN_OR_RETURN(manifest->file_sha256[name], Sha256File(entry.path().string()));
  }
  return absl::OkStatus();
}

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

absl::Status WriteTrainConfigForBundle(const std::string& dir, const TrainedModel& model,
                                       const BundleManifest& manifest) {
  RunInfo info;
  info.classes = model.classes;
  info.dataset_path = manifest.dataset_path;
  info.num_train = manifest.num_train;
  return SaveTrainConfig(dir, model.config, info);
}

absl::Status CheckConsistency(const std::string& dir, const ModelBundle& b) {
  const BundleManifest& m = b.manifest;
  if (m.classes != b.model.classes || m.architecture != b.model.model->architecture() ||
      m.input_size != b.model.model->input_size()) {
    return absl::DataLossError(absl::StrCat(dir, ": manifest disagrees with the model files"));
  }
  if (b.index->dimension() != kFeatureSize || b.index->dimension() != m.feature_dim ||
      b.index->size() != m.index_size) {
    return absl::DataLossError(absl::StrCat(dir, ": index of ", b.index->size(), " x ",
                                            b.index->dimension(), " disagrees with the manifest"));
  }
  for (int64_t id = 0; id < b.index->size(); ++id) {
    const IndexedSketch& row = b.index->metadata(id);
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
  auto model = LoadTrainedModel(dir);
  if (!model.ok()) {
    return absl::DataLossError(absl::StrCat(dir, ": ", model.status().message()));
  }
  bundle.model = *std::move(model);
  auto index = FlatIndex::Load(dir);
  if (!index.ok()) return absl::DataLossError(absl::StrCat(dir, ": ", index.status().message()));
  bundle.index = *std::move(index);
  RETURN_IF_ERROR(CheckConsistency(dir, bundle));
  return bundle;
}

}  // namespace

absl::StatusOr<std::string> Sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 unavailable");
  }
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return absl::InternalError(absl::StrCat("read error on ", path));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

absl::Status WriteBundle(const std::string& dir, const TrainedModel& model, const FlatIndex& index,
                         BundleManifest manifest) {
  const std::string tmp = dir + ".tmp";
  const std::string old = dir + ".old";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", tmp, ": ", ec.message()));
  RETURN_IF_ERROR(SaveModelWeights(*model.model, tmp + "/" + kModel));
  RETURN_IF_ERROR(SavePreprocessing(model.preprocessing, tmp));
  RETURN_IF_ERROR(WriteTrainConfigForBundle(tmp, model, manifest));
  RETURN_IF_ERROR(index.Save(tmp));
  manifest.index_size = index.size();
  manifest.feature_dim = index.dimension();
  RETURN_IF_ERROR(HashFiles(tmp, &manifest));
  RETURN_IF_ERROR(WriteFileAtomically(tmp + "/" + kManifest, ManifestToJson(manifest)));

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
