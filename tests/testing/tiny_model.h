// Test helper: a tiny trained model (two of the committed sample's classes, 32 px, 3 steps on
// one thread, a second or two) in the test process's temporary directory: enough to embed
// drawings and to exercise every path that needs a model, not to classify well.
#ifndef SKETCH_TESTS_TESTING_TINY_MODEL_H_
#define SKETCH_TESTS_TESTING_TINY_MODEL_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/status_macros.h"
#include "tests/testing/sample_dataset.h"
#include "tests/testing/temp_files.h"
#include "trainer/train.h"

namespace sketch {

struct TinyModel {
  std::string dir;      // the `train` output directory
  std::string dataset;  // the dataset it was trained on (16 train, 4 test drawings a class)
};

// Trains into <TempDir>/<name>_model from <TempDir>/<name>.skds.
inline absl::StatusOr<TinyModel> TrainTinyModel(const std::string& name,
                                                std::vector<std::string> classes = {"cat", "eye"}) {
  TinyModel tiny;
  ASSIGN_OR_RETURN(tiny.dataset, PrepareSampleDataset(name, std::move(classes), 16, 4));
  TrainOptions t;
  t.dataset_path = tiny.dataset;
  t.out_dir = TempPath(name + "_model");
  t.overrides.input_size = 32;
  t.overrides.batch_size = 8;
  t.max_steps = 3;
  t.threads = 1;
  t.precision = "fp32";
  t.checkpoint_every = 0;
  t.verbose = false;
  RETURN_IF_ERROR(Train(t).status());
  tiny.dir = t.out_dir;
  return tiny;
}

}  // namespace sketch

#endif  // SKETCH_TESTS_TESTING_TINY_MODEL_H_
