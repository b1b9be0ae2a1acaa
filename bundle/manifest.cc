#include "bundle/manifest.h"

#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <stdexcept>
#include <utility>

#include "absl/strings/str_cat.h"
#include "index/index_spec.h"
#include "index/query_expanding_index.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

using Json = nlohmann::ordered_json;

// j[key] as an integer in [lo, hi]. get<>() alone would truncate a fraction, wrap an out-of-range
// number and turn a huge float into undefined behaviour.
int64_t IntegerIn(const Json& j, const char* key, int64_t lo, int64_t hi) {
  const Json& value = j.at(key);
  // An unsigned value above INT64_MAX must not reach get<int64_t>(): it would wrap.
  const bool in_range =
      value.is_number_integer() &&
      (!value.is_number_unsigned() || value.get<uint64_t>() <= static_cast<uint64_t>(hi)) &&
      value.get<int64_t>() >= lo && value.get<int64_t>() <= hi;
  if (!in_range) {
    throw std::out_of_range(absl::StrCat("\"", key, "\" must be an integer in ", lo, "..", hi));
  }
  return value.get<int64_t>();
}

constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

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
  j["index"] = {{"type", m.index_type},
                {"size", m.index_size},
                {"dimension", m.feature_dim},
                {"l2_normalized", m.index_l2_normalized},
                {"recall_at_10", m.index_recall_at_10},
                {"nprobe", m.index_nprobe},
                {"ef_search", m.index_ef_search}};
  if (m.index_whitening_dims > 0) {
    j["index"]["whitening"] = {{"dims", m.index_whitening_dims},
                               {"shrink", m.index_whitening_shrink}};
  }
  if (m.index_query_expansion_neighbors > 0) {
    j["index"]["query_expansion"] = {{"neighbors", m.index_query_expansion_neighbors},
                                     {"alpha", m.index_query_expansion_alpha}};
  }
  j["files"] = m.file_sha256;
  if (m.gallery) {
    j["gallery"] = {{"sources", m.gallery->sources},
                    {"entries", m.gallery->entries},
                    {"has_drawings", m.gallery->has_drawings}};
  }
  return j.dump(2) + "\n";
}

absl::StatusOr<BundleManifest> ManifestFromJson(const std::string& text, const std::string& path) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("format") ||
      j["format"] != "sketchsearch-bundle") {
    return absl::DataLossError(absl::StrCat(path, " is not a bundle manifest"));
  }
  try {
    BundleManifest m;
    m.format_version = static_cast<int>(IntegerIn(j, "format_version", 1, kMaxInt));
    if (m.format_version > kBundleFormatVersion) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": bundle format ", m.format_version,
                                                     " is newer than this build reads (",
                                                     kBundleFormatVersion, ")"));
    }
    m.architecture = j.at("architecture").get<std::string>();
    m.input_size = static_cast<int>(IntegerIn(j, "input_size", 1, kMaxInt));
    m.classes = j.at("classes").get<std::vector<std::string>>();
    m.recipe = j.at("recipe").get<std::string>();
    const Json& train_config = j.at("train_config");
    if (!train_config.is_null()) m.train_config_json = train_config.dump();
    const Json& d = j.at("dataset");
    m.dataset_path = d.at("path").get<std::string>();
    m.dataset_seed = d.at("seed").get<uint64_t>();
    m.num_train = IntegerIn(d, "num_train", 0, kMaxInt64);
    m.num_test = IntegerIn(d, "num_test", 0, kMaxInt64);
    m.metrics = j.at("metrics").get<std::map<std::string, double>>();
    const Json& index = j.at("index");
    m.index_size = IntegerIn(index, "size", 0, kMaxInt64);
    m.feature_dim = static_cast<int>(IntegerIn(index, "dimension", 0, kMaxInt));
    m.index_l2_normalized = index.at("l2_normalized").get<bool>();
    // Written before index types: only "flat_l2", and no recall or knobs.
    m.index_type = index.at("type").get<std::string>();
    if (m.index_type == "flat_l2") m.index_type = "Flat";
    if (!IndexKindOfType(m.index_type).ok()) {
      return absl::DataLossError(absl::StrCat(path, ": index.type \"", m.index_type,
                                              "\" is not an index type this build reads"));
    }
    if (index.contains("recall_at_10")) {
      const Json& recall = index.at("recall_at_10");
      if (!recall.is_number() || !(recall.get<double>() >= 0 && recall.get<double>() <= 1)) {
        throw std::out_of_range("\"recall_at_10\" must be a number in 0..1");
      }
      m.index_recall_at_10 = recall.get<double>();
    }
    if (index.contains("nprobe"))
      m.index_nprobe = static_cast<int>(IntegerIn(index, "nprobe", 0, kMaxInt));
    if (index.contains("ef_search")) {
      m.index_ef_search = static_cast<int>(IntegerIn(index, "ef_search", 0, kMaxInt));
    }
    if (index.contains("whitening")) {
      const Json& whitening = index.at("whitening");
      m.index_whitening_dims = static_cast<int>(IntegerIn(whitening, "dims", 1, kMaxInt));
      const Json& shrink = whitening.at("shrink");
      if (!shrink.is_number() || !(shrink.get<double>() >= 0)) {
        throw std::out_of_range("\"shrink\" must be a number >= 0");
      }
      m.index_whitening_shrink = shrink.get<double>();
    }
    if (index.contains("query_expansion")) {
      const Json& expansion = index.at("query_expansion");
      m.index_query_expansion_neighbors =
          static_cast<int>(IntegerIn(expansion, "neighbors", 1, kMaxInt));
      const Json& alpha = expansion.at("alpha");
      if (!alpha.is_number() || !(alpha.get<double>() >= 0) ||
          !std::isfinite(alpha.get<double>())) {
        throw std::out_of_range("\"alpha\" must be a finite number >= 0");
      }
      m.index_query_expansion_alpha = alpha.get<double>();
      if (!m.index_l2_normalized) {
        throw std::out_of_range("index.query_expansion needs index.l2_normalized true");
      }
      if (!SupportsQueryExpansion(*IndexKindOfType(m.index_type))) {
        throw std::out_of_range("index.query_expansion needs a Flat or HNSW index, not IVF");
      }
    }
    m.file_sha256 = j.at("files").get<std::map<std::string, std::string>>();
    if (j.contains("gallery")) {
      const Json& g = j.at("gallery");
      GalleryInfo gallery;
      gallery.sources = g.at("sources").get<std::vector<std::string>>();
      gallery.entries = IntegerIn(g, "entries", 0, kMaxInt64);
      gallery.has_drawings = g.at("has_drawings").get<bool>();
      m.gallery = std::move(gallery);
    }
    return m;
  } catch (const std::exception& e) {  // nlohmann's exceptions and IntegerIn's
    return absl::DataLossError(absl::StrCat(path, ": malformed manifest: ", e.what()));
  }
}

}  // namespace sketch
