// One Adam or AdamW step through ATen's fused kernel, on the optimizer's own state.
#ifndef SKETCH_MODELS_FUSED_ADAM_H_
#define SKETCH_MODELS_FUSED_ADAM_H_

#include <torch/optim/optimizer.h>

namespace sketch {

// Steps `optimizer` as optimizer->step() would, but for a torch::optim::Adam or AdamW without
// amsgrad it updates each parameter group with one call of ATen's fused kernel
// (at::_fused_adam_ / at::_fused_adamw_, a CPU kernel since LibTorch 2.4: one pass over each
// tensor instead of the ~8 element-wise ops per parameter of LibTorch's C++ loop). The state it
// reads and writes is the optimizer's own (step, exp_avg, exp_avg_sq), created as Adam creates
// it, so checkpoints, resumption and a later plain step() carry on unchanged. The update is the
// same formula (bias corrections, L2 or decoupled weight decay), equal to the loop's up to float
// rounding. Falls back to optimizer->step() for other optimizers, amsgrad, a LibTorch before 2.4,
// or a group whose tensors do not share one device, dtype and layout. Returns true when the
// fused kernel ran. May throw c10::Error, as step() does. Not thread-safe with a concurrent step.
bool FusedAdamStep(torch::optim::Optimizer* optimizer);

// Drops every parameter's gradient (zero_grad with set_to_none, which LibTorch 2.x does by
// default and 1.13 cannot): the next backward writes fresh gradients instead of adding into
// zeroed ones, saving a pass over every parameter (fc_1 alone is 16.8M values) per step.
void SetGradientsToNone(torch::optim::Optimizer* optimizer);

}  // namespace sketch

#endif  // SKETCH_MODELS_FUSED_ADAM_H_
