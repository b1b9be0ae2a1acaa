// `sketch-trainer evaluate`: one inference pass over a split gives the classification metrics
// (top-1/top-5 accuracy, mean loss, per-class accuracy, confusion matrix) and the 1024-d fc_1
// features the index and the retrieval mAP are built from. The pass runs the server's
// InferenceEngine (models/inference_engine.h), so these are the served model's figures.
#ifndef SKETCH_TRAINER_EVALUATE_H_
#define SKETCH_TRAINER_EVALUATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dataset.h"
#include "models/torch_runtime.h"
#include "models/trained_model.h"

namespace sketch {

struct EvaluateOptions {
  int batch_size = 64;
  Precision precision = Precision::kFp32;  // InferenceEngine's; kAuto resolves per device
  std::string device = "cpu";              // cpu | cuda | cuda:N (ParseDevice)
  int loader_threads = 1;
  bool keep_features = true;
  std::string progress_label;  // empty: no progress bar
};

struct SplitEvaluation {
  int64_t count = 0;
  double top1 = 0, top5 = 0;  // fractions
  double loss = 0;            // mean cross-entropy (no label smoothing)
  std::vector<double> per_class_accuracy;         // [classes]; NaN for a class with no example
  std::vector<std::vector<int64_t>> confusion;    // [true][predicted]
  std::vector<float> features;                    // float32 [count, 1024] when kept
  std::vector<int> labels;                        // [count], example order
  std::vector<int> predictions;                   // [count], top-1
};

// Runs `model` through an InferenceEngine over `examples` in their order (the model itself is
// only copied). InvalidArgument for no examples, a label outside the model's classes or a
// model whose parts do not fit (ValidateTrainedModel); Internal when torch fails.
absl::StatusOr<SplitEvaluation> EvaluateSplit(const TrainedModel& model,
                                              const std::vector<DatasetExample>& examples,
                                              const EvaluateOptions& options);

// "true\\predicted,<class>,...\n<class>,<count>,..." with class names in label order.
std::string ConfusionMatrixCsv(const SplitEvaluation& evaluation,
                               const std::vector<std::string>& classes);
// "class,accuracy,count\n..." in label order.
std::string PerClassAccuracyCsv(const SplitEvaluation& evaluation,
                                const std::vector<std::string>& classes);

}  // namespace sketch

#endif  // SKETCH_TRAINER_EVALUATE_H_
