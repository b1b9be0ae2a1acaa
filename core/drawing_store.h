// The drawing store: a gallery bundle's drawings in one compact file (`drawings.skdw`), written
// once in a stream and memory-mapped when read, so that drawing i is decoded on demand without
// the file ever being loaded whole. Layout (docs/formats.md): header, records, offsets table,
// footer. Simplified strokes are stored as Google's .bin record (core/binary_format.h), other
// strokes as float32 arrays, bitmaps as their raw bytes. The word is not stored: it is the
// index's metadata (index/feature_index.h).
#ifndef SKETCH_CORE_DRAWING_STORE_H_
#define SKETCH_CORE_DRAWING_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/sketch.h"

namespace sketch {

inline constexpr uint32_t kDrawingStoreVersion = 1;

// Yields the next sketch into `*sketch` and returns true, or returns false at the end.
using SketchSource = std::function<absl::StatusOr<bool>(Sketch* sketch)>;

// Writes every sketch `next` yields, in order, to the store at `path` (atomically:
// core/atomic_file.h) and sets `*count` (may be null) to the number written. Memory: 8 bytes
// per drawing (the offsets table) beyond one sketch. InvalidArgument naming the drawing's
// position for a sketch that is neither strokes nor a bitmap; errors of `next` are returned as
// they are; Internal on I/O failure. Nothing is left at `path` on failure.
absl::Status WriteDrawingStore(const std::string& path, const SketchSource& next,
                               int64_t* count = nullptr);

// A read-only view of a drawing store file. Thread-safe: Get only reads the mapping.
class DrawingStore {
 public:
  // Maps `path` and checks its header, footer and table bounds. NotFound for a missing file;
  // DataLoss naming the file for one that is not a drawing store, has another version, or is
  // truncated. O(1): the entries themselves are checked when read.
  static absl::StatusOr<std::unique_ptr<DrawingStore>> Open(const std::string& path);
  ~DrawingStore();
  DrawingStore(const DrawingStore&) = delete;
  DrawingStore& operator=(const DrawingStore&) = delete;

  int64_t size() const { return count_; }
  int64_t file_bytes() const { return static_cast<int64_t>(bytes_); }

  // Drawing `i` as it was written, without its word. OutOfRange for i outside [0, size());
  // DataLoss naming the file and the entry when the entry's bytes are out of bounds or do not
  // decode to a valid sketch.
  absl::StatusOr<Sketch> Get(int64_t i) const;

 private:
  DrawingStore(std::string path, const uint8_t* data, size_t bytes, int64_t count,
               uint64_t table_offset);

  const std::string path_;
  const uint8_t* const data_;  // the mapping, bytes_ long
  const size_t bytes_;
  const int64_t count_;
  const uint64_t table_offset_;  // (count_ + 1) u64 offsets start here
};

}  // namespace sketch

#endif  // SKETCH_CORE_DRAWING_STORE_H_
