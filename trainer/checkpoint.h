// Periodic checkpoints of a training run (model, optimizer and a small JSON state) that make it
// resumable, under its output directory (trainer/run_files.h):
//
//   out/checkpoints/step-00000120/{model.pt, optimizer.pt, state.json}
//
// A checkpoint is written as a ".tmp" directory renamed into place, so a crash leaves the old
// checkpoint or the new one, never a torn one.
#ifndef SKETCH_TRAINER_CHECKPOINT_H_
#define SKETCH_TRAINER_CHECKPOINT_H_

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sketch {

// state.json of a checkpoint.
struct CheckpointState {
  int64_t step = 0;         // optimizer steps done; training resumes at this global step
  int64_t epoch = 0;        // epoch of the next step
  double elapsed_s = 0.0;   // training time so far, across resumes
  std::string config_json;  // the run's resolved TrainConfig (TrainConfigToJson)
};

// Writes out_dir/checkpoints/step-<state.step>/ (model.pt: SaveModelWeights; optimizer.pt: its
// state; state.json; objective.pt: the training objective's parameters, when `objective` is given
// and has any — trainer/retrieval_loss.h) as a ".tmp" directory renamed into place, then deletes
// all but the newest `keep` complete checkpoints and any leftover ".tmp" directories.
// InvalidArgument when state.config_json is not JSON; Internal on I/O or torch failure. Not
// thread-safe with a concurrent step.
absl::Status SaveCheckpoint(const std::string& out_dir, const CheckpointState& state,
                            const torch::nn::Module& model,
                            const torch::optim::Optimizer& optimizer, int keep = 2,
                            const torch::nn::Module* objective = nullptr);

// The directory of the newest complete checkpoint under out_dir/checkpoints (".tmp" leftovers
// are ignored). NotFound when there is none.
absl::StatusOr<std::string> FindLatestCheckpoint(const std::string& out_dir);

// Reads checkpoint_dir/state.json. NotFound / DataLoss (unparsable) errors name the file.
absl::StatusOr<CheckpointState> ReadCheckpointState(const std::string& checkpoint_dir);

// Loads the checkpoint's weights into `model`, its state into `optimizer` and (when it has
// parameters) `objective`'s; all must be built exactly as when saved (same architecture, config
// and parameter groups). DataLoss when the files do not match them; NotFound for a missing file.
absl::Status LoadCheckpoint(const std::string& checkpoint_dir, torch::nn::Module* model,
                            torch::optim::Optimizer* optimizer,
                            torch::nn::Module* objective = nullptr);

// Moves the per-parameter state of an Adam or AdamW optimizer (the moment estimates and step
// counts) to `device`, after its parameters were moved there in place (Module::to): a
// checkpoint loads on the CPU, the step then runs where the parameters are. Other optimizers'
// state is left as it is. May throw c10::Error.
void MoveOptimizerState(torch::optim::Optimizer* optimizer, c10::Device device);

}  // namespace sketch

#endif  // SKETCH_TRAINER_CHECKPOINT_H_
