#include "models/sketch_model.h"

#include <torch/torch.h>

#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/sknet.h"
#include "models/skresnet.h"

namespace sketch {
namespace {

std::string ShapeString(const torch::Tensor& t) {
  if (!t.defined()) return "undefined";
  const auto sizes = t.sizes();
  return absl::StrCat("[", absl::StrJoin(std::vector<int64_t>(sizes.begin(), sizes.end()), ", "),
                      "] ", std::string(c10::toString(t.scalar_type())));
}

std::vector<std::shared_ptr<ConvBnReluImpl>> ConvUnits(const torch::nn::Module& module) {
  std::vector<std::shared_ptr<ConvBnReluImpl>> units;
  for (const auto& child : module.modules(/*include_self=*/false)) {
    if (auto unit = std::dynamic_pointer_cast<ConvBnReluImpl>(child)) units.push_back(unit);
  }
  return units;
}

// Copies every parameter and buffer of `from` into the same-named tensor of `to`. The two
// must have the same architecture, config and folding state.
absl::Status CopyState(const torch::nn::Module& from, torch::nn::Module* to) {
  torch::NoGradGuard no_grad;
  auto dst_params = to->named_parameters();
  auto dst_buffers = to->named_buffers();
  const auto src_params = from.named_parameters();
  const auto src_buffers = from.named_buffers();
  if (src_params.size() != dst_params.size() || src_buffers.size() != dst_buffers.size()) {
    return absl::InternalError("model copy: parameter or buffer lists differ");
  }
  for (const auto* src : {&src_params, &src_buffers}) {
    auto& dst = src == &src_params ? dst_params : dst_buffers;
    for (const auto& item : *src) {
      torch::Tensor* target = dst.find(item.key());
      if (target == nullptr || !target->sizes().equals(item.value().sizes())) {
        return absl::InternalError(absl::StrCat("model copy: no match for ", item.key()));
      }
      target->copy_(item.value());
    }
  }
  return absl::OkStatus();
}

}  // namespace

ConvBnReluImpl::ConvBnReluImpl(int64_t in_channels, int64_t out_channels) {
  // No conv bias: the BatchNorm that follows subtracts the mean and adds its own shift.
  conv_ = register_module(
      "conv",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(in_channels, out_channels, 3).stride(1).padding(1).bias(false)));
  bn_ = register_module("bn", torch::nn::BatchNorm2d(out_channels));
  // He initialisation for ReLU nets, as torchvision's ResNet does (fan_out).
  torch::nn::init::kaiming_normal_(conv_->weight, 0, torch::kFanOut, torch::kReLU);
}

torch::Tensor ConvBnReluImpl::forward(const torch::Tensor& x) {
  // In-place ReLU is safe for autograd: neither conv nor batch_norm needs its own output.
  torch::Tensor y = bn_ ? bn_(conv_(x)) : conv_(x);
  torch::relu_(y);
  return y;
}

void ConvBnReluImpl::Fold() {
  if (!bn_) return;
  torch::NoGradGuard no_grad;
  // In double so the folded weights round once, not at each step.
  const torch::Tensor scale = bn_->weight.to(torch::kDouble) /
                              torch::sqrt(bn_->running_var.to(torch::kDouble) + bn_->options.eps());
  const torch::Tensor& w = conv_->weight;
  const torch::Tensor folded_w =
      (w.to(torch::kDouble) * scale.reshape({-1, 1, 1, 1})).to(w.dtype());
  const torch::Tensor folded_b =
      (bn_->bias.to(torch::kDouble) - bn_->running_mean.to(torch::kDouble) * scale).to(w.dtype());
  // A bias-free Conv2d registers "bias" as an empty slot that cannot be filled afterwards, so
  // the conv is replaced by one with a bias.
  const auto& o = conv_->options;
  torch::nn::Conv2d folded(torch::nn::Conv2dOptions(o.in_channels(), o.out_channels(), 3)
                               .stride(1)
                               .padding(1)
                               .bias(true));
  folded->weight.set_data(folded_w);  // set_data keeps w's memory format (channels-last)
  folded->bias.set_data(folded_b);
  folded->train(is_training());
  conv_ = replace_module("conv", folded);
  unregister_module("bn");
  bn_ = nullptr;
}

SketchModel::SketchModel(std::string architecture, const ModelConfig& config)
    : architecture_(std::move(architecture)), config_(config) {}

torch::Tensor SketchModel::Pool(const torch::Tensor& x) {
  return torch::max_pool2d(x, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);
}

void SketchModel::RegisterHead(int64_t in_features) {
  fc_1_ = register_module("fc_1", torch::nn::Linear(in_features, kFeatureSize));
  fc_2_ = register_module("fc_2", torch::nn::Linear(kFeatureSize, config_.num_classes));
}

ModelOutput SketchModel::Head(const torch::Tensor& x) {
  torch::Tensor features = torch::relu(fc_1_(x.flatten(1)));
  torch::Tensor hidden = features;
  if (config_.dropout > 0 && is_training()) {
    hidden = torch::dropout(features, config_.dropout, /*train=*/true);
  }
  torch::Tensor logits = fc_2_(hidden);
  // Under bf16 autocast the linears answer bf16; callers (losses, the index) get float32.
  return {logits.to(torch::kFloat), features.to(torch::kFloat)};
}

absl::Status ValidateModelConfig(const ModelConfig& config) {
  if (config.num_classes < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_classes must be at least 2, got ", config.num_classes));
  }
  if (config.input_size <= 0 || config.input_size % 16 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input_size must be a positive multiple of 16 (four 2x pools), got ", config.input_size));
  }
  if (config.in_channels < 1 || config.in_channels > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("in_channels must be in 1..16, got ", config.in_channels));
  }
  if (!(config.dropout >= 0 && config.dropout < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dropout must be in [0, 1), got ", config.dropout));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SketchModel>> MakeSketchModel(const std::string& architecture,
                                                             const ModelConfig& config) {
  if (architecture != kSkNetName && architecture != kSkResNetName) {
    return absl::InvalidArgumentError(absl::StrCat("unknown architecture \"", architecture,
                                                   "\"; expected ", kSkNetName, " or ",
                                                   kSkResNetName));
  }
  if (absl::Status status = ValidateModelConfig(config); !status.ok()) return status;
  try {
    if (architecture == kSkNetName) return std::make_shared<SkNet>(config);
    return std::make_shared<SkResNet>(config);
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("building ", architecture, ": ", e.what_without_backtrace()));
  }
}

absl::Status ValidateImages(const SketchModel& model, const torch::Tensor& images) {
  const int64_t s = model.input_size();
  const int64_t c = model.in_channels();
  if (!images.defined() || images.dim() != 4 || images.size(0) < 1 || images.size(1) != c ||
      images.size(2) != s || images.size(3) != s || images.scalar_type() != torch::kFloat) {
    return absl::InvalidArgumentError(absl::StrCat("images must be float32 [N >= 1, ", c, ", ", s,
                                                   ", ", s, "], got ", ShapeString(images)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelOutput> SafeForward(SketchModel* model, const torch::Tensor& images) {
  if (absl::Status status = ValidateImages(*model, images); !status.ok()) return status;
  try {
    return model->Forward(images);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(model->architecture(), " forward on ",
                                            ShapeString(images), ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(model->architecture(), " forward: ", e.what()));
  }
}

absl::Status FoldBatchNorm(SketchModel* model) {
  try {
    model->eval();
    const auto units = ConvUnits(*model);
    if (units.empty()) return absl::InternalError("FoldBatchNorm: no conv units found");
    for (const auto& unit : units) unit->Fold();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("FoldBatchNorm: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SketchModel>> MakeInferenceCopy(const SketchModel& model) {
  absl::StatusOr<std::shared_ptr<SketchModel>> copy =
      MakeSketchModel(model.architecture(), model.config());
  if (!copy.ok()) return copy.status();
  try {
    const auto units = ConvUnits(model);
    const bool source_folded = !units.empty() && units.front()->folded();
    // Fold first when the source is folded so both have the same tensor names; the copy then
    // overwrites the fresh weights.
    if (source_folded) {
      if (absl::Status status = FoldBatchNorm(copy->get()); !status.ok()) return status;
    }
    if (absl::Status status = CopyState(model, copy->get()); !status.ok()) return status;
    if (absl::Status status = FoldBatchNorm(copy->get()); !status.ok()) return status;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("MakeInferenceCopy: ", e.what_without_backtrace()));
  }
  return copy;
}

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const torch::Tensor& p : module.parameters()) count += p.numel();
  return count;
}

}  // namespace sketch
