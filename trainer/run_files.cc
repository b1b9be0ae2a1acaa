#include "trainer/run_files.h"

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/atomic_file.h"
#include "core/file_contents.h"
#include "core/status_macros.h"
#include "models/model_files.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kTrainConfigFile[] = "train_config.json";
constexpr char kModelFile[] = "model.pt";

}  // namespace

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
  ASSIGN_OR_RETURN(const json j, ReadJsonObjectFile(path));
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
  TrainConfig config;
  RunInfo info;
  RETURN_IF_ERROR(ReadTrainConfig(out_dir, &config, &info));
  TrainedModel trained;
  trained.classes = std::move(info.classes);
  ASSIGN_OR_RETURN(trained.preprocessing, LoadPreprocessing(out_dir));
  if (absl::Status size =
          CheckRecordedInputSize(trained.preprocessing, config.input_size, kTrainConfigFile);
      !size.ok()) {
    return absl::DataLossError(absl::StrCat(out_dir, ": ", size.message()));
  }
  ModelConfig model_config =
      ModelConfigFor(static_cast<int>(trained.classes.size()), trained.preprocessing);
  model_config.dropout = static_cast<float>(config.dropout);
  ASSIGN_OR_RETURN(trained.model, MakeSketchModel(config.architecture, model_config));
  RETURN_IF_ERROR(LoadModelWeights((fs::path(out_dir) / kModelFile).string(), trained.model.get()));
  trained.model->eval();
  return trained;
}

}  // namespace sketch
