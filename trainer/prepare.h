// `sketch-trainer prepare`: from a directory of per-class files in any supported format, choose
// classes, draw a seeded uniform train/test sample per class and write a dataset file.
#ifndef SKETCH_TRAINER_PREPARE_H_
#define SKETCH_TRAINER_PREPARE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dataset.h"

namespace sketch {

struct PrepareOptions {
  std::string input_dir;    // one file per class: "<class>.ndjson", "<class>.bin" or "<class>.npy"
  std::string output_path;  // the dataset file to write
  std::vector<std::string> classes;  // explicit classes; empty = choose from all files
  int num_classes = 0;               // with no explicit list: 0 = all, N = N at random (seeded)
  int train_per_class = 450;
  int test_per_class = 50;
  uint64_t seed = 0;
  bool allow_fewer = false;   // accept classes with fewer drawings (split in the same ratio)
  bool skip_invalid = false;  // skip malformed records (counted) instead of failing
  int threads = 1;            // classes are read in parallel
  bool progress = true;
};

struct ClassCount {
  std::string name;
  int64_t records_read = 0;  // valid records seen in the class file
  int train = 0;
  int test = 0;
  int64_t skipped = 0;
};

struct PrepareSummary {
  std::vector<ClassCount> classes;  // label order
  int64_t num_train = 0;
  int64_t num_test = 0;
  int64_t skipped_records = 0;
  std::string payload;  // "strokes" or "bitmap"
};

// Chooses the classes, samples each class file in one streaming pass (reservoir sampling, so
// memory holds only train + test drawings per class, whatever the file size), normalizes raw
// strokes to the simplified frame and writes the dataset atomically. Deterministic: the same
// files, options and seed give a byte-identical dataset, whatever the thread count.
// Errors: NotFound (missing directory or class), InvalidArgument (a class with too few drawings
// without allow_fewer, mixed stroke and bitmap classes, a malformed record without skip_invalid,
// named with its file and line).
absl::StatusOr<PrepareSummary> PrepareDataset(const PrepareOptions& options);

// The class files of `dir`, sorted by class name. InvalidArgument when two files claim a class.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListClassFiles(
    const std::string& dir);

// A human-readable table: one row per class, then the totals.
std::string FormatPrepareSummary(const PrepareSummary& summary);

}  // namespace sketch

#endif  // SKETCH_TRAINER_PREPARE_H_
