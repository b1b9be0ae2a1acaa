#include "models/model_files.h"

#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/atomic_file.h"
#include "core/file_contents.h"
#include "core/npy_format.h"
#include "core/status_macros.h"
#include "models/torch_status.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kPreprocessingFile[] = "preprocessing.json";
constexpr char kMeanImageFile[] = "mean_image.npy";

// Shapes of every parameter and buffer by name: torch's load swaps tensors in without checking.
std::vector<std::pair<std::string, std::vector<int64_t>>> TensorShapes(
    const torch::nn::Module& module) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const auto& item : module.named_parameters()) {
    shapes.emplace_back(item.key(), item.value().sizes().vec());
  }
  for (const auto& item : module.named_buffers()) {
    shapes.emplace_back(item.key(), item.value().sizes().vec());
  }
  return shapes;
}

}  // namespace

absl::Status SaveTorchArchive(const std::string& path,
                              const std::function<void(torch::serialize::OutputArchive*)>& write) {
  return WriteStreamAtomically(path, [&](std::ostream& out) {
    return TorchCall(absl::StrCat("writing ", path), [&] {
      torch::serialize::OutputArchive archive;
      write(&archive);
      archive.save_to(out);
      return absl::OkStatus();
    });
  });
}

absl::Status LoadTorchArchive(const std::string& path,
                              const std::function<void(torch::serialize::InputArchive&)>& read) {
  if (!fs::exists(path)) return absl::NotFoundError(absl::StrCat("no such file: ", path));
  try {
    torch::serialize::InputArchive archive;
    // Onto the CPU whatever device the tensors were saved from: a model trained on a GPU loads
    // in a CPU-only build, and the caller moves it where it runs.
    archive.load_from(path, torch::Device(torch::kCPU));
    read(archive);
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat(path, ": ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::Status SaveModelWeights(const torch::nn::Module& model, const std::string& path) {
  return SaveTorchArchive(path, [&](torch::serialize::OutputArchive* a) { model.save(*a); });
}

absl::Status LoadModelWeights(const std::string& path, torch::nn::Module* model) {
  const auto expected = TensorShapes(*model);
  RETURN_IF_ERROR(
      LoadTorchArchive(path, [&](torch::serialize::InputArchive& a) { model->load(a); }));
  if (TensorShapes(*model) != expected) {
    return absl::DataLossError(absl::StrCat(path, ": tensor shapes differ from the model's"));
  }
  return absl::OkStatus();
}

absl::Status SavePreprocessing(const Preprocessing& preprocessing, const std::string& dir) {
  RETURN_IF_ERROR(ValidatePreprocessing(preprocessing));
  const RasterOptions& r = preprocessing.raster;
  const Normalization& n = preprocessing.normalization;
  json j;
  j["raster"] = {{"size", r.size},
                 {"style", RasterStyleName(r.style)},
                 {"line_width", r.line_width},
                 {"margin", r.margin}};
  // Written only when they differ from the defaults, so earlier models' files read the same.
  if (r.channels != RasterChannels::kInk) j["raster"]["channels"] = RasterChannelsName(r.channels);
  const TestTimeViews& views = preprocessing.test_time;
  if (views.mirror) j["test_time"]["mirror_average"] = true;
  if (views.rotation_degrees > 0.0f) j["test_time"]["rotation_degrees"] = views.rotation_degrees;
  j["normalization"] = {{"formula", "(pixel / 255 - mean) / std"},
                        {"mean", n.mean},
                        {"std", n.std},
                        {"mean_image", n.mean_image.empty() ? json() : json(kMeanImageFile)}};
  if (!n.mean_image.empty()) {
    const std::string path = (fs::path(dir) / kMeanImageFile).string();
    const int64_t size = r.size;
    RETURN_IF_ERROR(WriteFileAtomically(path, EncodeNpyFloat32(n.mean_image, {size, size})));
  }
  return WriteFileAtomically((fs::path(dir) / kPreprocessingFile).string(), j.dump(2) + "\n");
}

absl::StatusOr<Preprocessing> LoadPreprocessing(const std::string& dir) {
  const std::string path = (fs::path(dir) / kPreprocessingFile).string();
  ASSIGN_OR_RETURN(json j, ReadJsonObjectFile(path));
  Preprocessing p;
  try {
    const json& r = j.at("raster");
    const json& n = j.at("normalization");
    p.raster.size = r.at("size").get<int>();
    ASSIGN_OR_RETURN(p.raster.style, ParseRasterStyle(r.at("style").get<std::string>()));
    p.raster.line_width = r.at("line_width").get<float>();
    p.raster.margin = r.at("margin").get<float>();
    if (r.contains("channels")) {
      absl::StatusOr<RasterChannels> channels =
          ParseRasterChannels(r["channels"].get<std::string>());
      if (!channels.ok()) {
        return absl::DataLossError(absl::StrCat(path, ": ", channels.status().message()));
      }
      p.raster.channels = *channels;
    }
    if (j.contains("test_time")) {
      p.test_time.mirror = j["test_time"].value("mirror_average", false);
      p.test_time.rotation_degrees = j["test_time"].value("rotation_degrees", 0.0f);
    }
    p.normalization.mean = n.at("mean").get<float>();
    p.normalization.std = n.at("std").get<float>();
    if (!n.at("mean_image").is_null()) {
      const std::string image_path = (fs::path(dir) / n["mean_image"].get<std::string>()).string();
      ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(image_path));
      const int64_t size = p.raster.size;
      ASSIGN_OR_RETURN(p.normalization.mean_image,
                       DecodeNpyFloat32(bytes, {size, size}, image_path));
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": ", e.what()));
  }
  if (auto status = ValidatePreprocessing(p); !status.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": ", status.message()));
  }
  return p;
}

}  // namespace sketch
