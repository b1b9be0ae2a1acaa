#include "trainer/checkpoint.h"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/atomic_file.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kCheckpointsDir[] = "checkpoints";
constexpr char kStepPrefix[] = "step-";
constexpr char kTmpSuffix[] = ".tmp";
constexpr char kPreprocessingFile[] = "preprocessing.json";
constexpr char kMeanImageFile[] = "mean_image.npy";
constexpr char kTrainConfigFile[] = "train_config.json";
constexpr char kModelFile[] = "model.pt";
constexpr char kNpyMagic[] = "\x93NUMPY";

// The step of a complete checkpoint directory name ("step-00000120"), or -1.
int64_t StepOfName(const std::string& name) {
  if (!absl::StartsWith(name, kStepPrefix)) return -1;
  int64_t step = -1;
  const std::string digits = name.substr(std::strlen(kStepPrefix));
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return absl::SimpleAtoi(digits, &step) ? step : -1;
}

// Complete checkpoints under out_dir/checkpoints, oldest first, and the leftover ".tmp" dirs.
void ListCheckpoints(const std::string& out_dir, std::vector<std::pair<int64_t, fs::path>>* done,
                     std::vector<fs::path>* leftovers) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(out_dir) / kCheckpointsDir, ec)) {
    const std::string name = entry.path().filename().string();
    const int64_t step = StepOfName(name);
    if (step >= 0 && entry.is_directory(ec)) done->emplace_back(step, entry.path());
    if (leftovers != nullptr && absl::EndsWith(name, kTmpSuffix))
      leftovers->push_back(entry.path());
  }
  std::sort(done->begin(), done->end());
}

// Runs `write` on a file path; a c10::Error becomes Internal naming `what`.
template <typename Fn>
absl::Status CatchTorch(const std::string& what, Fn&& fn) {
  try {
    fn();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
  return absl::OkStatus();
}

// Loads an archive from `path` and hands it to `read`; torch errors become DataLoss.
template <typename Fn>
absl::Status ReadArchive(const std::string& path, Fn&& read) {
  if (!fs::exists(path)) return absl::NotFoundError(absl::StrCat("no such file: ", path));
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    read(archive);
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat(path, ": ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::Status SaveArchive(const std::string& path,
                         const std::function<void(torch::serialize::OutputArchive*)>& write) {
  return WriteStreamAtomically(path, [&](std::ostream& out) {
    return CatchTorch(absl::StrCat("writing ", path), [&] {
      torch::serialize::OutputArchive archive;
      write(&archive);
      archive.save_to(out);
    });
  });
}

// numpy .npy v1.0: magic, version, u16 header length, a dict padded so data starts at a
// multiple of 64 (what np.save writes for a C-order float32 array). Little-endian hosts only.
std::string NpyHeader(int size) {
  std::string dict =
      absl::StrFormat("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", size, size);
  const size_t prefix = std::strlen(kNpyMagic) + 2 + 2;
  dict.append(64 - (prefix + dict.size() + 1) % 64, ' ');
  dict.push_back('\n');
  std::string header(kNpyMagic);
  header.push_back('\x01');
  header.push_back('\x00');
  header.push_back(static_cast<char>(dict.size() & 0xff));
  header.push_back(static_cast<char>(dict.size() >> 8));
  return header + dict;
}

std::string EncodeNpy(const std::vector<float>& image, int size) {
  std::string bytes = NpyHeader(size);
  const size_t offset = bytes.size();
  bytes.resize(offset + image.size() * sizeof(float));
  std::memcpy(bytes.data() + offset, image.data(), image.size() * sizeof(float));
  return bytes;
}

absl::StatusOr<std::vector<float>> DecodeNpy(const std::string& bytes, int size,
                                             const std::string& path) {
  const std::string header = NpyHeader(size);
  const size_t count = static_cast<size_t>(size) * size;
  if (bytes.size() != header.size() + count * sizeof(float) ||
      bytes.compare(0, header.size(), header) != 0) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a float32 [", size, ", ", size, "] C-order .npy file"));
  }
  std::vector<float> image(count);
  std::memcpy(image.data(), bytes.data() + header.size(), count * sizeof(float));
  return image;
}

absl::StatusOr<json> ParseJsonFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  json parsed = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return absl::DataLossError(absl::StrCat(path, ": not a JSON object"));
  }
  return parsed;
}

// model.pt, optimizer.pt and state.json into a fresh directory `dir`.
absl::Status WriteCheckpointFiles(const fs::path& dir, const CheckpointState& state,
                                  const torch::nn::Module& model,
                                  const torch::optim::Optimizer& optimizer) {
  json config = json::parse(state.config_json, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return absl::InvalidArgumentError("checkpoint config is not JSON");
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  RETURN_IF_ERROR(SaveModelWeights(model, (dir / "model.pt").string()));
  RETURN_IF_ERROR(SaveArchive((dir / "optimizer.pt").string(),
                              [&](torch::serialize::OutputArchive* a) { optimizer.save(*a); }));
  const json j = {{"step", state.step},
                  {"epoch", state.epoch},
                  {"elapsed_s", state.elapsed_s},
                  {"config", config}};
  return WriteFileAtomically((dir / "state.json").string(), j.dump(2) + "\n");
}

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

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::InternalError(absl::StrCat("error reading ", path));
  return buffer.str();
}

absl::Status SaveCheckpoint(const std::string& out_dir, const CheckpointState& state,
                            const torch::nn::Module& model,
                            const torch::optim::Optimizer& optimizer, int keep) {
  const fs::path root = fs::path(out_dir) / kCheckpointsDir;
  const std::string name = absl::StrFormat("%s%08d", kStepPrefix, state.step);
  const fs::path tmp = root / (name + kTmpSuffix), final_dir = root / name;
  RETURN_IF_ERROR(WriteCheckpointFiles(tmp, state, model, optimizer));
  // Renaming the directory publishes the three files at once. Re-saving a step (a resumed run
  // that stops where it started) replaces the same state.
  std::error_code ec;
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("renaming ", tmp.string(), ": ", ec.message()));
  std::vector<std::pair<int64_t, fs::path>> done;
  std::vector<fs::path> leftovers;
  ListCheckpoints(out_dir, &done, &leftovers);
  for (size_t i = 0; i + std::max(keep, 1) < done.size(); ++i) fs::remove_all(done[i].second, ec);
  for (const fs::path& path : leftovers) fs::remove_all(path, ec);
  return absl::OkStatus();
}

absl::StatusOr<std::string> FindLatestCheckpoint(const std::string& out_dir) {
  std::vector<std::pair<int64_t, fs::path>> done;
  ListCheckpoints(out_dir, &done, nullptr);
  if (done.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no checkpoint in ", (fs::path(out_dir) / kCheckpointsDir).string()));
  }
  return done.back().second.string();
}

absl::StatusOr<CheckpointState> ReadCheckpointState(const std::string& checkpoint_dir) {
  const std::string path = (fs::path(checkpoint_dir) / "state.json").string();
  absl::StatusOr<json> j = ParseJsonFile(path);
  if (!j.ok()) return j.status();
  const json& o = *j;
  if (!o.contains("step") || !o["step"].is_number_integer() || !o.contains("epoch") ||
      !o.contains("config") || !o["config"].is_object()) {
    return absl::DataLossError(absl::StrCat(path, ": missing step, epoch or config"));
  }
  CheckpointState state;
  state.step = o["step"].get<int64_t>();
  state.epoch = o["epoch"].get<int64_t>();
  state.elapsed_s = o.value("elapsed_s", 0.0);
  state.config_json = o["config"].dump(2);
  return state;
}

absl::Status LoadCheckpoint(const std::string& checkpoint_dir, torch::nn::Module* model,
                            torch::optim::Optimizer* optimizer) {
  const fs::path dir(checkpoint_dir);
  if (auto s = LoadModelWeights((dir / "model.pt").string(), model); !s.ok()) return s;
  return ReadArchive((dir / "optimizer.pt").string(),
                     [&](torch::serialize::InputArchive& a) { optimizer->load(a); });
}

absl::Status SaveModelWeights(const torch::nn::Module& model, const std::string& path) {
  return SaveArchive(path, [&](torch::serialize::OutputArchive* a) { model.save(*a); });
}

absl::Status LoadModelWeights(const std::string& path, torch::nn::Module* model) {
  const auto expected = TensorShapes(*model);
  RETURN_IF_ERROR(ReadArchive(path, [&](torch::serialize::InputArchive& a) { model->load(a); }));
  if (TensorShapes(*model) != expected) {
    return absl::DataLossError(absl::StrCat(path, ": tensor shapes differ from the model's"));
  }
  return absl::OkStatus();
}

absl::Status SavePreprocessing(const Preprocessing& preprocessing, const std::string& dir) {
  if (auto status = ValidatePreprocessing(preprocessing); !status.ok()) return status;
  const RasterOptions& r = preprocessing.raster;
  const Normalization& n = preprocessing.normalization;
  json j;
  j["raster"] = {{"size", r.size},
                 {"style", RasterStyleName(r.style)},
                 {"line_width", r.line_width},
                 {"margin", r.margin}};
  j["normalization"] = {{"formula", "(pixel / 255 - mean) / std"},
                        {"mean", n.mean},
                        {"std", n.std},
                        {"mean_image", n.mean_image.empty() ? json() : json(kMeanImageFile)}};
  if (!n.mean_image.empty()) {
    const std::string path = (fs::path(dir) / kMeanImageFile).string();
    RETURN_IF_ERROR(WriteFileAtomically(path, EncodeNpy(n.mean_image, r.size)));
  }
  return WriteFileAtomically((fs::path(dir) / kPreprocessingFile).string(), j.dump(2) + "\n");
}

absl::StatusOr<Preprocessing> LoadPreprocessing(const std::string& dir) {
  const std::string path = (fs::path(dir) / kPreprocessingFile).string();
  ASSIGN_OR_RETURN(json j, ParseJsonFile(path));
  Preprocessing p;
  try {
    const json& r = j.at("raster");
    const json& n = j.at("normalization");
    p.raster.size = r.at("size").get<int>();
    ASSIGN_OR_RETURN(p.raster.style, ParseRasterStyle(r.at("style").get<std::string>()));
    p.raster.line_width = r.at("line_width").get<float>();
    p.raster.margin = r.at("margin").get<float>();
    p.normalization.mean = n.at("mean").get<float>();
    p.normalization.std = n.at("std").get<float>();
    if (!n.at("mean_image").is_null()) {
      const std::string image_path = (fs::path(dir) / n["mean_image"].get<std::string>()).string();
      ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(image_path));
      ASSIGN_OR_RETURN(p.normalization.mean_image, DecodeNpy(bytes, p.raster.size, image_path));
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": ", e.what()));
  }
  if (auto status = ValidatePreprocessing(p); !status.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": ", status.message()));
  }
  return p;
}

std::string TrainConfigToJson(const TrainConfig& c) {
  const AugmentOptions& a = c.augment_options;
  const json j = {
      {"recipe", c.recipe},
      {"architecture", c.architecture},
      {"input_size", c.input_size},
      {"raster_style", RasterStyleName(c.raster_style)},
      {"mean_image", c.mean_image},
      {"norm_mean", c.norm_mean},
      {"norm_std", c.norm_std},
      {"optimizer", c.optimizer},
      {"lr", c.lr},
      {"weight_decay", c.weight_decay},
      {"schedule", c.schedule},
      {"warmup_fraction", c.warmup_fraction},
      {"batch_size", c.batch_size},
      {"epochs", c.epochs},
      {"label_smoothing", c.label_smoothing},
      {"dropout", c.dropout},
      {"augment", c.augment},
      {"augment_options",
       {{"max_rotation_degrees", a.max_rotation_degrees},
        {"min_scale", a.min_scale},
        {"max_scale", a.max_scale},
        {"max_shear", a.max_shear}}},
      {"seed", c.seed},
  };
  return j.dump(2);
}

absl::StatusOr<TrainConfig> TrainConfigFromJson(const std::string& text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("train config is not a JSON object");
  }
  TrainConfig c;
  try {
    c.recipe = j.at("recipe").get<std::string>();
    c.architecture = j.at("architecture").get<std::string>();
    c.input_size = j.at("input_size").get<int>();
    ASSIGN_OR_RETURN(c.raster_style, ParseRasterStyle(j.at("raster_style").get<std::string>()));
    c.mean_image = j.at("mean_image").get<bool>();
    c.norm_mean = j.at("norm_mean").get<double>();
    c.norm_std = j.at("norm_std").get<double>();
    c.optimizer = j.at("optimizer").get<std::string>();
    c.lr = j.at("lr").get<double>();
    c.weight_decay = j.at("weight_decay").get<double>();
    c.schedule = j.at("schedule").get<std::string>();
    c.warmup_fraction = j.at("warmup_fraction").get<double>();
    c.batch_size = j.at("batch_size").get<int>();
    c.epochs = j.at("epochs").get<int>();
    c.label_smoothing = j.at("label_smoothing").get<double>();
    c.dropout = j.at("dropout").get<double>();
    c.augment = j.at("augment").get<bool>();
    const json& a = j.at("augment_options");
    c.augment_options.max_rotation_degrees = a.at("max_rotation_degrees").get<double>();
    c.augment_options.min_scale = a.at("min_scale").get<double>();
    c.augment_options.max_scale = a.at("max_scale").get<double>();
    c.augment_options.max_shear = a.at("max_shear").get<double>();
    c.seed = j.at("seed").get<uint64_t>();
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("train config: ", e.what()));
  }
  RETURN_IF_ERROR(ValidateTrainConfig(c));
  return c;
}

absl::Status SaveTrainConfig(const std::string& out_dir, const TrainConfig& config,
                             const RunInfo& info) {
  const json j = {{"config", json::parse(TrainConfigToJson(config))},
                  {"classes", info.classes},
                  {"dataset", info.dataset_path},
                  {"num_train", info.num_train},
                  {"steps_per_epoch", info.steps_per_epoch},
                  {"total_steps", info.total_steps},
                  {"precision", info.precision},
                  {"threads", info.threads}};
  return WriteFileAtomically((fs::path(out_dir) / kTrainConfigFile).string(), j.dump(2) + "\n");
}

absl::Status ReadTrainConfig(const std::string& out_dir, TrainConfig* config, RunInfo* info) {
  const std::string path = (fs::path(out_dir) / kTrainConfigFile).string();
  ASSIGN_OR_RETURN(const json j, ParseJsonFile(path));
  if (!j.contains("config") || !j.contains("classes") || !j["classes"].is_array()) {
    return absl::DataLossError(absl::StrCat(path, ": missing config or classes"));
  }
  absl::StatusOr<TrainConfig> parsed = TrainConfigFromJson(j["config"].dump());
  if (!parsed.ok()) return absl::DataLossError(absl::StrCat(path, ": ", parsed.status().message()));
  *config = *parsed;
  *info = RunInfo();
  try {
    info->classes = j.at("classes").get<std::vector<std::string>>();
    info->dataset_path = j.value("dataset", "");
    info->num_train = j.value("num_train", int64_t{0});
    info->steps_per_epoch = j.value("steps_per_epoch", int64_t{0});
    info->total_steps = j.value("total_steps", int64_t{0});
    info->precision = j.value("precision", "");
    info->threads = j.value("threads", 0);
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": ", e.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainedModel> LoadTrainedModel(const std::string& out_dir) {
  TrainedModel trained;
  RunInfo info;
  RETURN_IF_ERROR(ReadTrainConfig(out_dir, &trained.config, &info));
  trained.classes = std::move(info.classes);
  ASSIGN_OR_RETURN(trained.preprocessing, LoadPreprocessing(out_dir));
  if (trained.preprocessing.raster.size != trained.config.input_size) {
    return absl::DataLossError(
        absl::StrCat(out_dir, ": preprocessing size differs from the model's"));
  }
  ModelConfig model_config;
  model_config.num_classes = static_cast<int>(trained.classes.size());
  model_config.input_size = trained.config.input_size;
  model_config.dropout = static_cast<float>(trained.config.dropout);
  ASSIGN_OR_RETURN(trained.model, MakeSketchModel(trained.config.architecture, model_config));
  RETURN_IF_ERROR(LoadModelWeights((fs::path(out_dir) / kModelFile).string(), trained.model.get()));
  trained.model->eval();
  return trained;
}

}  // namespace sketch
