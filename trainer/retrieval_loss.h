// Objectives that shape fc_1 (the 1024-d feature the service searches with) for retrieval,
// added to the cross-entropy on the logits during training. Cross-entropy alone only asks the
// features to be linearly separable by class; these ask that same-class features lie close
// under the metric the index uses (L2 on normalized features), which is what leave-one-out mAP
// and a gallery of unseen classes measure.
//
//   supcon   supervised contrastive loss (Khosla et al. 2020, L_out) on the batch: each drawing
//            is pulled towards the other drawings of its class and pushed from the rest, cosine
//            similarity over a temperature. No parameters.
//   cosface  large-margin cosine loss (Wang et al. 2018): a learned proxy per class, logits
//            scale * (cos(feature, proxy) - margin on the true class). The proxies are training
//            state only (checkpointed, never in the bundle).
//   instance instance-contrastive loss (SimCLR's NT-Xent, Chen et al. 2020): each batch holds two
//            independently augmented views of every drawing, and each view is pulled towards
//            the other view of its drawing and pushed from every other drawing, classes
//            ignored. The class objectives above gather each class into a tight cluster, which
//            is what their own classes' mAP rewards and what a gallery of words the model never
//            saw does not: there the features must keep what tells drawings apart beyond the
//            16 classes. Each step costs two forward/backward passes per drawing.
//
// The network's layers, its logits and its 1024-d feature are unchanged: a model trained with
// an objective is served exactly as any other.
#ifndef SKETCH_TRAINER_RETRIEVAL_LOSS_H_
#define SKETCH_TRAINER_RETRIEVAL_LOSS_H_

#include <torch/torch.h>

#include "trainer/image_batcher.h"  // Batch
#include "trainer/train_config.h"   // RetrievalLossOptions

namespace sketch {

// Supervised contrastive loss of `features` (float [N, D], any scale: rows are L2-normalized
// here) with int64 `labels` [N], averaged over the anchors that have at least one positive
// (another row of the same label); zero (still differentiable) when none has.
torch::Tensor SupervisedContrastiveLoss(const torch::Tensor& features, const torch::Tensor& labels,
                                        double temperature);

// Large-margin cosine loss of `features` [N, D] against class `proxies` [C, D] (both rows
// L2-normalized here), int64 `labels` [N] in [0, C).
torch::Tensor CosFaceLoss(const torch::Tensor& features, const torch::Tensor& labels,
                          const torch::Tensor& proxies, double scale, double margin);

// The objective a run trains with, with its parameters (cosface's proxies; none otherwise),
// which the trainer optimizes and checkpoints beside the model.
class RetrievalObjectiveImpl : public torch::nn::Module {
 public:
  RetrievalObjectiveImpl(RetrievalLossOptions options, int num_classes, int feature_dim);

  // weight * the objective's loss on a batch's features (computed in float32): over its labels
  // (supcon, cosface) or its example indices (instance: a drawing's views are the positives);
  // an undefined tensor for kind "none".
  torch::Tensor forward(const torch::Tensor& features, const Batch& batch);
  // The same over `labels` alone: supcon, cosface and none; throws (c10::Error) for instance.
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& labels);

  // Renderings per example the batches must carry (ImageBatcherOptions::views): 2 for instance.
  int views() const { return options_.kind == "instance" ? 2 : 1; }

  const RetrievalLossOptions& options() const { return options_; }

 private:
  RetrievalLossOptions options_;
  torch::Tensor proxies_;  // cosface: [num_classes, feature_dim]
};
TORCH_MODULE(RetrievalObjective);

}  // namespace sketch

#endif  // SKETCH_TRAINER_RETRIEVAL_LOSS_H_
