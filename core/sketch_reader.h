// One streaming reader interface over the four official Quick, Draw! formats:
// simplified ndjson, raw ndjson, the binary .bin format and numpy_bitmap .npy.
#ifndef SKETCH_CORE_SKETCH_READER_H_
#define SKETCH_CORE_SKETCH_READER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/sketch.h"
#include "core/sketch_validation.h"

namespace sketch {

enum class SketchFormat { kAuto, kNdjson, kBinary, kNpy };

// "ndjson", "bin", "npy" or "auto" (by file extension).
absl::StatusOr<SketchFormat> ParseSketchFormat(const std::string& name);

struct ReaderOptions {
  SketchFormat format = SketchFormat::kAuto;
  // Bulk jobs: skip a malformed record (and count it) instead of failing on it.
  bool skip_invalid = false;
  SketchLimits limits;
  // The word given to records whose format carries none (.bin, .npy): usually the file's stem.
  std::string word;
};

// Reads records one at a time; memory stays bounded by one record whatever the file size.
// Not thread-safe: one reader per thread.
class SketchReader {
 public:
  virtual ~SketchReader() = default;

  // Decodes the next record into `*sketch` and returns true, or returns false at the end.
  // A malformed record is InvalidArgument (DataLoss for truncation) naming the file, the line
  // or record number and the reason; with skip_invalid it is counted and skipped instead.
  // I/O failures are always errors.
  virtual absl::StatusOr<bool> Next(Sketch* sketch) = 0;

  // "file:line N" or "file:record N" of the record last returned (or failed on).
  virtual std::string Position() const = 0;

  // Records skipped so far because of skip_invalid.
  int64_t skipped() const { return skipped_; }

 protected:
  int64_t skipped_ = 0;
};

// Opens `path` in the given or detected format (.ndjson, .bin, .npy).
// NotFound for a missing file, InvalidArgument for an unknown format or a bad header.
absl::StatusOr<std::unique_ptr<SketchReader>> OpenSketchReader(const std::string& path,
                                                               const ReaderOptions& options = {});

}  // namespace sketch

#endif  // SKETCH_CORE_SKETCH_READER_H_
