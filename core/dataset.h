// A prepared dataset: the chosen classes and their seeded train/test samples, as simplified-frame
// strokes or bitmaps, in one compact file (layout in docs/formats.md).
#ifndef SKETCH_CORE_DATASET_H_
#define SKETCH_CORE_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/sketch.h"

namespace sketch {

struct DatasetExample {
  int label = 0;  // index into DatasetMetadata::classes
  Sketch sketch;  // simplified-frame strokes or a bitmap; word = the class name
};

struct DatasetMetadata {
  std::vector<std::string> classes;  // label order
  std::string source;                // the input directory as given
  std::string payload = "strokes";   // "strokes" or "bitmap"
  uint64_t seed = 0;
  int train_per_class = 0;  // as requested
  int test_per_class = 0;
  int64_t skipped_records = 0;  // malformed records skipped with --skip-invalid
};

struct Dataset {
  DatasetMetadata metadata;
  std::vector<DatasetExample> train;
  std::vector<DatasetExample> test;
};

// Writes `dataset` to `path` atomically (a temporary file renamed into place). The same dataset
// always gives the same bytes. InvalidArgument if examples mix strokes and bitmaps, a label is
// out of range or a stroke sketch is not in the simplified frame; Internal on I/O failure.
absl::Status WriteDataset(const Dataset& dataset, const std::string& path);

// Reads a dataset file. NotFound for a missing file; InvalidArgument for a path that is not a
// regular file, or a file that is not a dataset or has an unsupported version; DataLoss for a
// truncated or inconsistent one, naming the file (and the header field, for a count that is not
// a non-negative integer or more records than the file's size can hold).
absl::StatusOr<Dataset> ReadDataset(const std::string& path);

}  // namespace sketch

#endif  // SKETCH_CORE_DATASET_H_
