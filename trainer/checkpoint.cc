#include "trainer/checkpoint.h"

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/atomic_file.h"
#include "core/file_contents.h"
#include "core/status_macros.h"
#include "models/model_files.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kCheckpointsDir[] = "checkpoints";
constexpr char kStepPrefix[] = "step-";
constexpr char kTmpSuffix[] = ".tmp";
constexpr char kObjectiveFile[] = "objective.pt";

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

// model.pt, optimizer.pt and state.json into a fresh directory `dir`.
absl::Status WriteCheckpointFiles(const fs::path& dir, const CheckpointState& state,
                                  const torch::nn::Module& model,
                                  const torch::optim::Optimizer& optimizer,
                                  const torch::nn::Module* objective) {
  json config = json::parse(state.config_json, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return absl::InvalidArgumentError("checkpoint config is not JSON");
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  RETURN_IF_ERROR(SaveModelWeights(model, (dir / "model.pt").string()));
  RETURN_IF_ERROR(
      SaveTorchArchive((dir / "optimizer.pt").string(),
                       [&](torch::serialize::OutputArchive* a) { optimizer.save(*a); }));
  if (objective != nullptr && !objective->parameters().empty()) {
    RETURN_IF_ERROR(SaveModelWeights(*objective, (dir / kObjectiveFile).string()));
  }
  const json j = {{"step", state.step},
                  {"epoch", state.epoch},
                  {"elapsed_s", state.elapsed_s},
                  {"config", config}};
  return WriteFileAtomically((dir / "state.json").string(), j.dump(2) + "\n");
}

}  // namespace

absl::Status SaveCheckpoint(const std::string& out_dir, const CheckpointState& state,
                            const torch::nn::Module& model,
                            const torch::optim::Optimizer& optimizer, int keep,
                            const torch::nn::Module* objective) {
  const fs::path root = fs::path(out_dir) / kCheckpointsDir;
  const std::string name = absl::StrFormat("%s%08d", kStepPrefix, state.step);
  const fs::path tmp = root / (name + kTmpSuffix), final_dir = root / name;
  RETURN_IF_ERROR(WriteCheckpointFiles(tmp, state, model, optimizer, objective));
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
  ASSIGN_OR_RETURN(const json o, ReadJsonObjectFile(path));
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

void MoveOptimizerState(torch::optim::Optimizer* optimizer, c10::Device device) {
  const auto move = [&](auto* state) {
    state->exp_avg(state->exp_avg().to(device));
    state->exp_avg_sq(state->exp_avg_sq().to(device));
    if (state->max_exp_avg_sq().defined()) {
      state->max_exp_avg_sq(state->max_exp_avg_sq().to(device));
    }
  };
  for (auto& [key, state] : optimizer->state()) {
    if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(state.get())) {
      move(adam);
    } else if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(state.get())) {
      move(adamw);
    }
  }
}

absl::Status LoadCheckpoint(const std::string& checkpoint_dir, torch::nn::Module* model,
                            torch::optim::Optimizer* optimizer, torch::nn::Module* objective) {
  const fs::path dir(checkpoint_dir);
  RETURN_IF_ERROR(LoadModelWeights((dir / "model.pt").string(), model));
  if (objective != nullptr && !objective->parameters().empty()) {
    RETURN_IF_ERROR(LoadModelWeights((dir / kObjectiveFile).string(), objective));
  }
  return LoadTorchArchive((dir / "optimizer.pt").string(),
                          [&](torch::serialize::InputArchive& a) { optimizer->load(a); });
}

}  // namespace sketch
