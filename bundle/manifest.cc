#include "bundle/manifest.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

using Json = nlohmann::ordered_json;

}  // namespace

absl::StatusOr<std::string> ManifestToJson(const BundleManifest& m) {
  Json train_config;  // null when there is none
  if (!m.train_config_json.empty()) {
    train_config = Json::parse(m.train_config_json, nullptr, /*allow_exceptions=*/false);
    if (train_config.is_discarded()) {
      return absl::InvalidArgumentError("bundle manifest: the train config is not JSON");
    }
  }
  Json j;
  j["format"] = "sketchsearch-bundle";
  j["format_version"] = m.format_version;
  j["architecture"] = m.architecture;
  j["input_size"] = m.input_size;
  j["classes"] = m.classes;
  j["recipe"] = m.recipe;
  j["train_config"] = train_config;
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
    const Json& train_config = j.at("train_config");
    if (!train_config.is_null()) m.train_config_json = train_config.dump();
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

}  // namespace sketch
