#include "models/fused_adam.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <memory>
#include <tuple>
#include <vector>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SKETCH_HAS_FUSED_ADAM_CPU 1
#endif

namespace sketch {

#if defined(SKETCH_HAS_FUSED_ADAM_CPU)
namespace {

// The tensors of one group in the fused kernel's argument order, and their parameters' states.
// Adam and AdamW keep the same fields under two types; State is one of them.
template <typename State>
struct GroupTensors {
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
  std::vector<State*> states;
};

template <typename State>
bool CollectGroup(torch::optim::Optimizer* optimizer, torch::optim::OptimizerParamGroup& group,
                  GroupTensors<State>* out) {
  auto& state_map = optimizer->state();
  for (const torch::Tensor& p : group.params()) {
    if (!p.grad().defined()) continue;
    const torch::Tensor& grad = p.grad();
    const torch::Tensor& first = out->params.empty() ? p : out->params.front();
    // The kernel walks the raw buffers of each tensor list in step: every tensor must be dense
    // with the same strides as its parameter, on one device and in one dtype.
    if (grad.is_sparse() || !p.is_non_overlapping_and_dense() || grad.strides() != p.strides() ||
        p.device() != first.device() || p.scalar_type() != first.scalar_type() ||
        grad.scalar_type() != p.scalar_type()) {
      return false;
    }
    void* key = p.unsafeGetTensorImpl();
    auto found = state_map.find(key);
    if (found == state_map.end()) {
      auto state = std::make_unique<State>();
      state->step(0);
      state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      found = state_map.emplace(key, std::move(state)).first;
    }
    auto& state = static_cast<State&>(*found->second);
    if (state.exp_avg().strides() != p.strides() || state.exp_avg_sq().strides() != p.strides()) {
      return false;
    }
    out->params.push_back(p);
    out->grads.push_back(grad);
    out->exp_avgs.push_back(state.exp_avg());
    out->exp_avg_sqs.push_back(state.exp_avg_sq());
    out->states.push_back(&state);
  }
  return true;
}

template <typename Options, typename State>
bool FusedStep(torch::optim::Optimizer* optimizer, bool decoupled_weight_decay) {
  std::vector<GroupTensors<State>> groups;
  for (auto& group : optimizer->param_groups()) {
    if (static_cast<Options&>(group.options()).amsgrad()) return false;
    GroupTensors<State> tensors;
    if (!CollectGroup<State>(optimizer, group, &tensors)) return false;
    groups.push_back(std::move(tensors));
  }
  torch::NoGradGuard no_grad;
  for (size_t g = 0; g < groups.size(); ++g) {
    GroupTensors<State>& t = groups[g];
    if (t.params.empty()) continue;
    const auto& options = static_cast<const Options&>(optimizer->param_groups()[g].options());
    // As Adam's loop: the step count goes up before the bias corrections use it. The kernel
    // reads each count from a float tensor beside its parameter.
    for (size_t i = 0; i < t.params.size(); ++i) {
      State& state = *t.states[i];
      state.step(state.step() + 1);
      t.steps.push_back(
          torch::full({}, static_cast<float>(state.step()),
                      torch::TensorOptions(torch::kFloat).device(t.params[i].device())));
    }
    const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
    const std::vector<torch::Tensor> no_max;  // amsgrad is off
    if (decoupled_weight_decay) {
      at::_fused_adamw_(t.params, t.grads, t.exp_avgs, t.exp_avg_sqs, no_max, t.steps, options.lr(),
                        beta1, beta2, options.weight_decay(), options.eps(),
                        /*amsgrad=*/false, /*maximize=*/false);
    } else {
      at::_fused_adam_(t.params, t.grads, t.exp_avgs, t.exp_avg_sqs, no_max, t.steps, options.lr(),
                       beta1, beta2, options.weight_decay(), options.eps(),
                       /*amsgrad=*/false, /*maximize=*/false);
    }
  }
  return true;
}

}  // namespace
#endif

void SetGradientsToNone(torch::optim::Optimizer* optimizer) {
  for (auto& group : optimizer->param_groups()) {
    for (torch::Tensor& p : group.params()) p.mutable_grad().reset();
  }
}

bool FusedAdamStep(torch::optim::Optimizer* optimizer) {
#if defined(SKETCH_HAS_FUSED_ADAM_CPU)
  // AdamW and Adam are unrelated classes with look-alike options and states.
  if (dynamic_cast<torch::optim::AdamW*>(optimizer) != nullptr &&
      FusedStep<torch::optim::AdamWOptions, torch::optim::AdamWParamState>(optimizer, true)) {
    return true;
  }
  if (dynamic_cast<torch::optim::Adam*>(optimizer) != nullptr &&
      FusedStep<torch::optim::AdamOptions, torch::optim::AdamParamState>(optimizer, false)) {
    return true;
  }
#endif
  optimizer->step();
  return false;
}

}  // namespace sketch
