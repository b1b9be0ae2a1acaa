#include "tests/fuzz/fuzz_bodies.h"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "core/binary_format.h"
#include "core/ndjson_reader.h"
#include "core/npy_reader.h"
#include "core/sketch.h"
#include "core/sketch_reader.h"
#include "core/sketch_validation.h"

namespace sketch {
namespace {

// Small enough that the fuzzer reaches the over-long-line path (run it with -max_len=20000 or
// more), big enough for most real drawings.
constexpr size_t kMaxLineBytes = size_t{8} << 10;
// Bounds the time one input can take.
constexpr size_t kMaxRecords = size_t{1} << 14;
constexpr char kName[] = "fuzz-input";

using ReaderFactory = std::function<absl::StatusOr<std::unique_ptr<SketchReader>>(
    std::unique_ptr<std::istream>, const ReaderOptions&)>;

void Require(bool ok, const char* what, const absl::Status& status = absl::OkStatus()) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %s (%s)\n", what, status.ToString().c_str());
  std::abort();
}

std::unique_ptr<std::istream> StreamOf(std::string bytes) {
  return std::make_unique<std::istringstream>(std::move(bytes));
}

bool SameRecord(const Sketch& a, const Sketch& b) {
  if (a.key_id != b.key_id || a.word != b.word || a.countrycode != b.countrycode ||
      a.recognized != b.recognized || a.timestamp != b.timestamp || a.frame != b.frame ||
      a.bitmap.size != b.bitmap.size || a.bitmap.pixels != b.bitmap.pixels ||
      a.strokes.size() != b.strokes.size()) {
    return false;
  }
  for (size_t i = 0; i < a.strokes.size(); ++i) {
    const Stroke& s = a.strokes[i];
    const Stroke& t = b.strokes[i];
    if (s.x != t.x || s.y != t.y || s.t != t.t) return false;
  }
  return true;
}

struct Drained {
  std::vector<Sketch> records;
  absl::Status error;  // what stopped a strict read, or OK
  int64_t skipped = 0;
};

bool SameRecords(const Drained& a, const Drained& b) {
  if (a.error != b.error || a.skipped != b.skipped || a.records.size() != b.records.size()) {
    return false;
  }
  for (size_t i = 0; i < a.records.size(); ++i) {
    if (!SameRecord(a.records[i], b.records[i])) return false;
  }
  return true;
}

// Reads everything `open` makes of `bytes`, checking what every reader promises. Readers reuse
// the caller's Sketch (and their own buffers); `fresh_sketches` passes a new one each time.
Drained Drain(const std::string& bytes, bool skip_invalid, const ReaderFactory& open,
              bool fresh_sketches = false) {
  ReaderOptions options;
  options.skip_invalid = skip_invalid;
  options.word = "fuzz";
  Drained out;
  absl::StatusOr<std::unique_ptr<SketchReader>> reader = open(StreamOf(bytes), options);
  if (!reader.ok()) {  // only the .npy header is read up front
    Require(absl::IsInvalidArgument(reader.status()), "open failed with an unexpected code",
            reader.status());
    Require(absl::StrContains(reader.status().message(), kName), "error does not name the file",
            reader.status());
    out.error = reader.status();
    return out;
  }
  Sketch sketch;
  while (out.records.size() < kMaxRecords) {
    if (fresh_sketches) sketch = Sketch();
    const absl::StatusOr<bool> got = (*reader)->Next(&sketch);
    if (!got.ok()) {
      const absl::Status& status = got.status();
      Require(!skip_invalid, "an error despite skip_invalid", status);
      Require(absl::IsInvalidArgument(status) || absl::IsDataLoss(status),
              "Next failed with an unexpected code", status);
      Require(absl::StrContains(status.message(), (*reader)->Position()),
              "error does not name the position", status);
      Require(absl::StrContains(status.message(), kName), "error does not name the file", status);
      out.error = status;
      break;
    }
    if (!*got) break;
    const absl::Status valid = ValidateSketch(sketch, options.limits);
    Require(valid.ok(), "a returned sketch does not validate", valid);
    out.records.push_back(sketch);
  }
  out.skipped = (*reader)->skipped();
  Require(skip_invalid || out.skipped == 0, "strict mode skipped a record");
  return out;
}

// Strict reading stops at the first bad record; up to there it must agree with skipping.
void CheckStrictIsPrefix(const Drained& strict, const Drained& lenient) {
  Require(strict.records.size() <= lenient.records.size(), "strict read more than skipping");
  for (size_t i = 0; i < strict.records.size(); ++i) {
    Require(SameRecord(strict.records[i], lenient.records[i]), "strict and skipping differ");
  }
}

void CheckBinaryRoundTrip(const Sketch& sketch) {
  std::ostringstream out;
  const absl::Status written = WriteBinaryRecord(sketch, out);
  if (!written.ok()) {
    // A valid simplified sketch only outgrows .bin through its u32 timestamp.
    Require(sketch.timestamp < 0 || sketch.timestamp > int64_t{UINT32_MAX},
            "WriteBinaryRecord rejected a valid sketch", written);
    return;
  }
  ReaderOptions options;
  options.word = sketch.word;
  std::unique_ptr<SketchReader> reader = MakeBinaryReader(StreamOf(out.str()), kName, options);
  Sketch back;
  absl::StatusOr<bool> got = reader->Next(&back);
  Require(got.ok() && *got, "a written record does not read back", got.status());
  Require(SameRecord(sketch, back), "the .bin round trip changed the record");
  got = reader->Next(&back);
  Require(got.ok() && !*got, "a written record reads back as more than one");
}

}  // namespace

void FuzzNdjson(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const ReaderFactory open =
      [](std::unique_ptr<std::istream> in,
         const ReaderOptions& options) -> absl::StatusOr<std::unique_ptr<SketchReader>> {
    NdjsonTuning tuning;
    tuning.max_line_bytes = kMaxLineBytes;
    return MakeNdjsonReader(std::move(in), kName, options, tuning);
  };
  const Drained strict = Drain(bytes, false, open);
  const Drained lenient = Drain(bytes, true, open);
  CheckStrictIsPrefix(strict, lenient);
  // The reader recycles stroke vectors between records: nothing of one record may leak into
  // the next, whether the caller reuses its Sketch or not.
  Require(SameRecords(lenient, Drain(bytes, true, open, true)),
          "reusing the Sketch changed what was read");
  for (const Sketch& sketch : lenient.records) {
    if (sketch.frame == StrokeFrame::kSimplified) CheckBinaryRoundTrip(sketch);
  }
}

void FuzzBinary(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const ReaderFactory open =
      [](std::unique_ptr<std::istream> in,
         const ReaderOptions& options) -> absl::StatusOr<std::unique_ptr<SketchReader>> {
    return MakeBinaryReader(std::move(in), kName, options);
  };
  const Drained strict = Drain(bytes, false, open);
  const Drained lenient = Drain(bytes, true, open);
  CheckStrictIsPrefix(strict, lenient);
  if (!strict.error.ok() || strict.records.size() >= kMaxRecords) return;
  // Every byte of a clean file belongs to a record, and encoding is deterministic.
  std::ostringstream out;
  for (const Sketch& sketch : strict.records) {
    const absl::Status written = WriteBinaryRecord(sketch, out);
    Require(written.ok(), "a record read from .bin does not write back", written);
  }
  Require(out.str() == bytes, "re-encoding a clean .bin file changed its bytes");
}

void FuzzNpy(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const ReaderFactory open = [](std::unique_ptr<std::istream> in, const ReaderOptions& options) {
    return MakeNpyReader(std::move(in), kName, options);
  };
  const Drained strict = Drain(bytes, false, open);
  const Drained lenient = Drain(bytes, true, open);
  CheckStrictIsPrefix(strict, lenient);
  for (size_t i = 0; i < lenient.records.size(); ++i) {
    const Sketch& sketch = lenient.records[i];
    Require(sketch.is_bitmap() && sketch.strokes.empty(), "an .npy row is not a bitmap");
    Require(sketch.key_id == i, "the key_id is not the row index");
    Require(sketch.bitmap.size == lenient.records[0].bitmap.size, "rows differ in size");
  }
}

}  // namespace sketch
