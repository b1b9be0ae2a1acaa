// A small real model directory for the serving tests that need LibTorch: 4 Quick, Draw! classes
// from tests/data and a 32 px skNet, written as `sketch-trainer train` writes its output (so
// LoadTrainedModel and BuildBundle read it), made once per test process. The weights are freshly
// initialized rather than trained (training costs ~10 s per process under ctest); BatchNorm's
// running statistics come from real batches so that folding them is not the identity.
#ifndef SKETCH_TESTS_SERVER_MODEL_FIXTURE_H_
#define SKETCH_TESTS_SERVER_MODEL_FIXTURE_H_

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dataset.h"
#include "models/sketch_model.h"
#include "core/status_macros.h"
#include "gtest/gtest.h"
#include "models/model_files.h"
#include "models/preprocessing.h"
#include "tests/testing/sample_dataset.h"
#include "trainer/run_files.h"
#include "trainer/train.h"

namespace sketch::testing {

struct ModelFixture {
  std::string dataset_path;  // 4 classes x (40 train + 10 test)
  std::string model_dir;     // what LoadTrainedModel reads
};

// A fresh directory under the test temp dir.
inline std::string FreshTempDir(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("server_model_test_" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

// Runs training-mode forward passes (no optimizer) over the first train batches: BatchNorm
// running statistics move from (0, 1) towards the data's.
inline absl::Status CalibrateBatchNorm(SketchModel* model, const Preprocessing& preprocessing,
                                       const std::vector<DatasetExample>& train) {
  torch::NoGradGuard no_grad;
  model->train();
  for (size_t start = 0; start + 16 <= train.size() && start < 64; start += 16) {
    std::vector<const Sketch*> batch;
    for (size_t i = start; i < start + 16; ++i) batch.push_back(&train[i].sketch);
    ASSIGN_OR_RETURN(torch::Tensor images, RasterizeBatch(batch, preprocessing));
    RETURN_IF_ERROR(SafeForward(model, images).status());
  }
  model->eval();
  return absl::OkStatus();
}

inline absl::StatusOr<ModelFixture> MakeModelFixture() {
  ModelFixture fixture;
  ASSIGN_OR_RETURN(const std::string dataset_path,
                   PrepareSampleDataset("server_model_dataset",
                                        {"airplane", "eye", "guitar", "television"}, 40, 10));
  ASSIGN_OR_RETURN(Dataset dataset, ReadDataset(dataset_path));

  RecipeOverrides overrides;
  overrides.input_size = 32;
  overrides.seed = 1;
  ASSIGN_OR_RETURN(TrainConfig config, ResolveTrainConfig("default", overrides));
  ASSIGN_OR_RETURN(Preprocessing preprocessing, MakePreprocessing(config, dataset.train));
  ModelConfig model_config;
  model_config.num_classes = static_cast<int>(dataset.metadata.classes.size());
  model_config.input_size = config.input_size;
  torch::manual_seed(config.seed);
  ASSIGN_OR_RETURN(std::shared_ptr<SketchModel> model,
                   MakeSketchModel(config.architecture, model_config));
  RETURN_IF_ERROR(CalibrateBatchNorm(model.get(), preprocessing, dataset.train));

  fixture.dataset_path = dataset_path;
  fixture.model_dir = FreshTempDir("model");
  std::filesystem::create_directories(fixture.model_dir);
  RunInfo info;
  info.classes = dataset.metadata.classes;
  info.dataset_path = dataset_path;
  info.num_train = static_cast<int64_t>(dataset.train.size());
  RETURN_IF_ERROR(SaveTrainConfig(fixture.model_dir, config, info));
  RETURN_IF_ERROR(SavePreprocessing(preprocessing, fixture.model_dir));
  RETURN_IF_ERROR(SaveModelWeights(*model, fixture.model_dir + "/model.pt"));
  return fixture;
}

// Built on first use, shared by every test of the process. Fails the calling test on error.
inline const ModelFixture* SharedModelFixture() {
  static const absl::StatusOr<ModelFixture>* fixture =
      new absl::StatusOr<ModelFixture>(MakeModelFixture());
  if (!fixture->ok()) {
    ADD_FAILURE() << "cannot make the model directory: " << fixture->status();
    return nullptr;
  }
  return &**fixture;
}

}  // namespace sketch::testing

#endif  // SKETCH_TESTS_SERVER_MODEL_FIXTURE_H_
