#include "trainer/retrieval_loss.h"

#include <cmath>
#include <limits>
#include <utility>

namespace sketch {
namespace {

namespace F = torch::nn::functional;

torch::Tensor Normalized(const torch::Tensor& rows) {
  return F::normalize(rows.to(torch::kFloat32), F::NormalizeFuncOptions().p(2).dim(1).eps(1e-8));
}

}  // namespace

torch::Tensor SupervisedContrastiveLoss(const torch::Tensor& features, const torch::Tensor& labels,
                                        double temperature) {
  const torch::Tensor z = Normalized(features);
  const int64_t n = z.size(0);
  const torch::Tensor self = torch::eye(n, torch::dtype(torch::kBool).device(z.device()));
  // Similarities over the temperature; a row's own entry never counts in its denominator.
  const torch::Tensor logits = (torch::matmul(z, z.t()) / temperature)
                                   .masked_fill(self, -std::numeric_limits<float>::infinity());
  const torch::Tensor log_prob = logits - torch::logsumexp(logits, /*dim=*/1, /*keepdim=*/true);
  const torch::Tensor positive =
      labels.view({-1, 1}).eq(labels.view({1, -1})).logical_and(self.logical_not());
  const torch::Tensor num_positive = positive.sum(1);
  const torch::Tensor has_positive = num_positive.gt(0);
  // -inf * 0 on the diagonal would be NaN: take the positives' log-probabilities only.
  const torch::Tensor positive_log_prob =
      torch::where(positive, log_prob, torch::zeros_like(log_prob)).sum(1);
  const torch::Tensor per_anchor =
      -positive_log_prob / num_positive.clamp_min(1).to(torch::kFloat32);
  const torch::Tensor anchors = has_positive.sum();
  return torch::where(has_positive, per_anchor, torch::zeros_like(per_anchor)).sum() /
         anchors.clamp_min(1).to(torch::kFloat32);
}

torch::Tensor CosFaceLoss(const torch::Tensor& features, const torch::Tensor& labels,
                          const torch::Tensor& proxies, double scale, double margin) {
  const torch::Tensor cosine = torch::matmul(Normalized(features), Normalized(proxies).t());
  const torch::Tensor target = F::one_hot(labels, cosine.size(1)).to(torch::kFloat32);
  return F::cross_entropy(scale * (cosine - margin * target), labels);
}

RetrievalObjectiveImpl::RetrievalObjectiveImpl(RetrievalLossOptions options, int num_classes,
                                               int feature_dim)
    : options_(std::move(options)) {
  if (options_.kind == "cosface") {
    // Unit-scale random directions; only their direction matters (normalized in the loss).
    proxies_ = register_parameter("proxies", torch::randn({num_classes, feature_dim}) /
                                                 std::sqrt(static_cast<double>(feature_dim)));
  }
}

torch::Tensor RetrievalObjectiveImpl::forward(const torch::Tensor& features, const Batch& batch) {
  if (options_.kind == "instance") {
    return options_.weight *
           SupervisedContrastiveLoss(features, torch::tensor(batch.indices), options_.temperature);
  }
  return forward(features, batch.labels);
}

torch::Tensor RetrievalObjectiveImpl::forward(const torch::Tensor& features,
                                              const torch::Tensor& labels) {
  // Labels would silently turn instance into supcon: its positives are a drawing's own views.
  TORCH_CHECK(options_.kind != "instance",
              "the instance objective needs the batch's example indices: forward(features, batch)");
  if (options_.kind == "supcon") {
    return options_.weight * SupervisedContrastiveLoss(features, labels, options_.temperature);
  }
  if (options_.kind == "cosface") {
    return options_.weight *
           CosFaceLoss(features, labels, proxies_, options_.scale, options_.margin);
  }
  return {};
}

}  // namespace sketch
