#include "trainer/evaluate.h"

#include <torch/torch.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/progress_bar.h"
#include "core/status_macros.h"
#include "models/inference_engine.h"
#include "trainer/image_batcher.h"

namespace sketch {
namespace {

absl::Status CheckLabels(const std::vector<DatasetExample>& examples, int num_classes) {
  if (examples.empty()) return absl::InvalidArgumentError("no examples to evaluate");
  for (size_t i = 0; i < examples.size(); ++i) {
    if (examples[i].label < 0 || examples[i].label >= num_classes) {
      return absl::InvalidArgumentError(absl::StrCat("example ", i, " has label ",
                                                     examples[i].label, "; the model has ",
                                                     num_classes, " classes"));
    }
  }
  return absl::OkStatus();
}

// Adds one batch's outputs to the running totals.
void Accumulate(const InferenceOutput& out, const torch::Tensor& labels, bool keep_features,
                SplitEvaluation* eval, double* loss_sum) {
  const torch::Tensor& logits = out.logits;
  *loss_sum += torch::nn::functional::cross_entropy(
                   logits, labels,
                   torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                   .item<double>();
  const int64_t k = std::min<int64_t>(5, logits.size(1));
  const torch::Tensor top = std::get<1>(logits.topk(k, 1));
  const auto top_a = top.accessor<int64_t, 2>();
  const auto label_a = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < logits.size(0); ++i) {
    const int64_t truth = label_a[i];
    eval->top1 += top_a[i][0] == truth;
    for (int64_t j = 0; j < k; ++j) eval->top5 += top_a[i][j] == truth;
    ++eval->confusion[truth][top_a[i][0]];
    eval->labels.push_back(static_cast<int>(truth));
    eval->predictions.push_back(static_cast<int>(top_a[i][0]));
  }
  if (keep_features) {
    const torch::Tensor& f = out.features;
    eval->features.insert(eval->features.end(), f.data_ptr<float>(),
                          f.data_ptr<float>() + f.numel());
  }
}

void Finalize(double loss_sum, SplitEvaluation* eval) {
  const double n = static_cast<double>(eval->labels.size());
  eval->count = static_cast<int64_t>(eval->labels.size());
  eval->top1 /= n;
  eval->top5 /= n;
  eval->loss = loss_sum / n;
  const size_t classes = eval->confusion.size();
  eval->per_class_accuracy.assign(classes, std::nan(""));
  for (size_t c = 0; c < classes; ++c) {
    int64_t total = 0;
    for (int64_t v : eval->confusion[c]) total += v;
    if (total > 0) eval->per_class_accuracy[c] = double(eval->confusion[c][c]) / total;
  }
}

absl::StatusOr<SplitEvaluation> RunPass(const TrainedModel& model,
                                        const std::vector<DatasetExample>& examples,
                                        const EvaluateOptions& options) {
  ImageBatcherOptions batcher_options;
  batcher_options.batch_size = options.batch_size;
  batcher_options.loader_threads = options.loader_threads;
  ASSIGN_OR_RETURN(auto batcher,
                   ImageBatcher::Create(&examples, model.preprocessing, batcher_options));
  // The served model's recipe (BatchNorm folded, the precision's layout and weights), so the
  // offline figures and the bundle's index features are what the server computes.
  ASSIGN_OR_RETURN(const c10::Device device, ParseDevice(options.device));
  ASSIGN_OR_RETURN(
      std::unique_ptr<InferenceEngine> engine,
      InferenceEngine::Create(*model.model, model.preprocessing, options.precision, device));
  const int num_classes = model.model->num_classes();
  SplitEvaluation eval;
  eval.confusion.assign(num_classes, std::vector<int64_t>(num_classes, 0));
  ProgressBar bar(options.progress_label, static_cast<int64_t>(examples.size()), "img",
                  !options.progress_label.empty());
  double loss_sum = 0;
  c10::InferenceMode inference;  // for the loss and top-k below; the engine sets its own
  while (true) {
    absl::StatusOr<Batch> batch = batcher->Next();
    if (absl::IsOutOfRange(batch.status())) break;
    if (!batch.ok()) return batch.status();
    ASSIGN_OR_RETURN(InferenceOutput out, engine->Run(batch->images));
    Accumulate(out, batch->labels, options.keep_features, &eval, &loss_sum);
    bar.Update(static_cast<int64_t>(eval.labels.size()));
  }
  bar.Finish();
  Finalize(loss_sum, &eval);
  return eval;
}

}  // namespace

absl::StatusOr<SplitEvaluation> EvaluateSplit(const TrainedModel& model,
                                              const std::vector<DatasetExample>& examples,
                                              const EvaluateOptions& options) {
  RETURN_IF_ERROR(ValidateTrainedModel(model));
  RETURN_IF_ERROR(CheckLabels(examples, model.model->num_classes()));
  try {
    return RunPass(model, examples, options);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("evaluation failed: ", e.what_without_backtrace()));
  }
}

std::string ConfusionMatrixCsv(const SplitEvaluation& evaluation,
                               const std::vector<std::string>& classes) {
  std::string csv = "true\\predicted";
  for (const std::string& c : classes) absl::StrAppend(&csv, ",", c);
  csv += "\n";
  for (size_t t = 0; t < evaluation.confusion.size(); ++t) {
    csv += classes[t];
    for (int64_t v : evaluation.confusion[t]) absl::StrAppend(&csv, ",", v);
    csv += "\n";
  }
  return csv;
}

std::string PerClassAccuracyCsv(const SplitEvaluation& evaluation,
                                const std::vector<std::string>& classes) {
  std::string csv = "class,accuracy,count\n";
  for (size_t c = 0; c < evaluation.per_class_accuracy.size(); ++c) {
    int64_t total = 0;
    for (int64_t v : evaluation.confusion[c]) total += v;
    absl::StrAppend(&csv, classes[c], ",", absl::StrFormat("%.4f", evaluation.per_class_accuracy[c]),
                    ",", total, "\n");
  }
  return csv;
}

}  // namespace sketch
