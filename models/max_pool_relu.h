// MaxPoolRelu: relu(max_pool2d(x, kernel 3, stride 2, padding 1)) in one pass over a channels-last
// CPU tensor, for inference.
//
// Why: in eager inference ATen's CPU max_pool2d always computes and writes the argmax indices
// (int64, four times the bytes of a bf16 output) although nothing reads them without autograd, and
// the ReLU before it is one more pass over the conv's full-size output. Max and ReLU commute
// (both are monotone), so relu(max(window)) == max(relu(window)) and the ReLU can ride in the pool
// for free. On skNet at 128 px those two passes are ~19 % of an eager bf16 forward (the profile in
// docs/results.md, issue 15).
//
// The pool is computed on the values' bit patterns: for IEEE floats and bfloat16, non-negative
// values order like their bits read as signed integers and negative ones are negative integers, so
// max(0, bits...) over signed integers is relu(max(values)) exactly; NaNs are mapped to one
// positive quiet NaN first, so a NaN anywhere in a window makes that output NaN, as in ATen.
#ifndef SKETCH_MODELS_MAX_POOL_RELU_H_
#define SKETCH_MODELS_MAX_POOL_RELU_H_

#include <torch/types.h>

namespace sketch {

// True when MaxPoolRelu can take x: a CPU tensor [N, C, H, W] with N, C, H, W >= 1, float32 or
// bfloat16, contiguous in the channels-last memory format, that does not require grad (the
// kernel has no backward).
bool CanUseMaxPoolRelu(const torch::Tensor& x);

// x as CanUseMaxPoolRelu requires (checked: c10::Error otherwise). Returns
// [N, C, (H - 1) / 2 + 1, (W - 1) / 2 + 1], channels-last, x's dtype, equal element for element to
// torch::relu(torch::max_pool2d(x, 3, 2, 1)) (a NaN output is the canonical quiet NaN, whatever
// the payload of the NaN input). Runs on ATen's intra-op threads (at::parallel_for).
torch::Tensor MaxPoolRelu(const torch::Tensor& x);

}  // namespace sketch

#endif  // SKETCH_MODELS_MAX_POOL_RELU_H_
