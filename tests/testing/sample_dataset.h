// Test helper: a small dataset prepared from the committed real sample
// (tests/data/quickdraw/simplified) into the test process's temporary directory.
#ifndef SKETCH_TESTS_TESTING_SAMPLE_DATASET_H_
#define SKETCH_TESTS_TESTING_SAMPLE_DATASET_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/status_macros.h"
#include "gtest/gtest.h"
#include "trainer/prepare.h"

namespace sketch {

// Writes <TempDir>/<name>.skds with `train` + `test` drawings of each class; returns its path.
inline absl::StatusOr<std::string> PrepareSampleDataset(const std::string& name,
                                                        std::vector<std::string> classes,
                                                        int train, int test, uint64_t seed = 0) {
  PrepareOptions o;
  o.input_dir = std::string(SKETCH_TEST_DATA_DIR) + "/quickdraw/simplified";
  o.output_path = (std::filesystem::path(::testing::TempDir()) / (name + ".skds")).string();
  o.classes = std::move(classes);
  o.train_per_class = train;
  o.test_per_class = test;
  o.seed = seed;
  o.progress = false;
  RETURN_IF_ERROR(PrepareDataset(o).status());
  return o.output_path;
}

}  // namespace sketch

#endif  // SKETCH_TESTS_TESTING_SAMPLE_DATASET_H_
