// Streaming reader for Quick, Draw! ndjson: one JSON drawing per line, simplified strokes
// [[x..],[y..]] or raw strokes [[x..],[y..],[t..]], detected per record. Lines are parsed with
// simdjson.
#ifndef SKETCH_CORE_NDJSON_READER_H_
#define SKETCH_CORE_NDJSON_READER_H_

#include <cstddef>
#include <istream>
#include <memory>
#include <string>

#include "core/sketch_reader.h"

namespace sketch {

// A line longer than this is an error (and skipped with skip_invalid): it bounds the memory a
// corrupt or hostile file can make the reader take. Real drawings are a few KB.
inline constexpr size_t kDefaultMaxNdjsonLineBytes = size_t{64} << 20;

// Knobs that only tests, fuzzers and benchmarks need to turn.
struct NdjsonTuning {
  size_t max_line_bytes = kDefaultMaxNdjsonLineBytes;
};

// Reads ndjson records from `in` (a file or any other stream), naming them "<name>:line N"
// (1-based) in Position() and in errors. Each record needs the fields word, countrycode
// ("" or two ASCII characters), timestamp ("2017-03-02 23:25:10.07453 UTC" or integer unix
// seconds), recognized (bool), key_id (string of digits or non-negative integer) and drawing;
// unknown fields are ignored. Every record is checked with ValidateSketch(options.limits), and
// all records of one stream must share one frame (a mix is an error naming the line).
// Blank lines, CRLF endings and a last line without a newline are accepted.
// Memory stays bounded by tuning.max_line_bytes plus one decoded record and a few MB of stroke
// vectors recycled between records (see ndjson_reader.cc). On an error the contents of the
// caller's Sketch are unspecified. Never fails to construct.
std::unique_ptr<SketchReader> MakeNdjsonReader(std::unique_ptr<std::istream> in, std::string name,
                                               const ReaderOptions& options,
                                               const NdjsonTuning& tuning = {});

}  // namespace sketch

#endif  // SKETCH_CORE_NDJSON_READER_H_
