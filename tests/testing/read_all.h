// Test helpers: every record of a SketchReader, or of a file.
#ifndef SKETCH_TESTS_TESTING_READ_ALL_H_
#define SKETCH_TESTS_TESTING_READ_ALL_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/sketch.h"
#include "core/sketch_reader.h"
#include "gtest/gtest.h"

namespace sketch {

// Reads to the end or the first error: the records go to `records`; returns the error (OK at
// the end).
inline absl::Status ReadAll(SketchReader& reader, std::vector<Sketch>* records) {
  Sketch sketch;
  while (true) {
    absl::StatusOr<bool> got = reader.Next(&sketch);
    if (!got.ok()) return got.status();
    if (!*got) return absl::OkStatus();
    records->push_back(sketch);
  }
}

// Every record of the file at `path` (word = options.word for formats without one); an error
// fails the calling test and ends the list.
inline std::vector<Sketch> ReadAll(const std::string& path, const std::string& word = "") {
  ReaderOptions options;
  options.word = word;
  std::vector<Sketch> sketches;
  auto reader = OpenSketchReader(path, options);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (reader.ok()) {
    const absl::Status status = ReadAll(**reader, &sketches);
    EXPECT_TRUE(status.ok()) << status;
  }
  return sketches;
}

}  // namespace sketch

#endif  // SKETCH_TESTS_TESTING_READ_ALL_H_
