// The Quick, Draw! binary .bin format (simplified strokes only): a streaming reader and a writer.
// Little-endian records, one after another until EOF:
//   key_id u64 | countrycode 2 bytes ("\0\0" = none) | recognized u8 (0/1) | timestamp u32 |
//   n_strokes u16 | per stroke: n_points u16, x[n_points] u8, y[n_points] u8.
// The format carries no word: readers take it from ReaderOptions::word.
#ifndef SKETCH_CORE_BINARY_FORMAT_H_
#define SKETCH_CORE_BINARY_FORMAT_H_

#include <cstdint>
#include <istream>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "core/sketch.h"
#include "core/sketch_reader.h"

namespace sketch {

// Reads .bin records from `in`, naming them "<name>:record N" (N is the 0-based record index)
// in Position() and errors. A record cut short by EOF is DataLoss ("truncated"); a record that
// decodes but breaks ValidateSketch(options.limits) (no strokes, an empty stroke, a limit) or
// has a recognized byte other than 0/1 is InvalidArgument. Both are skipped and counted with
// skip_invalid (a truncated record ends the stream). Over-limit records are skipped over
// without being stored, so memory stays bounded whatever the counts say.
std::unique_ptr<SketchReader> MakeBinaryReader(std::unique_ptr<std::istream> in, std::string name,
                                               const ReaderOptions& options);

// Appends one record for `sketch` to `out`. InvalidArgument (and nothing written) unless the
// sketch has simplified strokes (1..65535 strokes of 1..65535 points, integer coordinates
// 0..255), a countrycode of 0 or 2 printable ASCII characters and a timestamp within u32;
// DataLoss if the stream fails. Thread-compatible.
absl::Status WriteBinaryRecord(const Sketch& sketch, std::ostream& out);

// Streams every record of the stroke file `in_path` (any format OpenSketchReader takes, read
// with `options`) into the .bin file `out_path`, and sets `*written` (may be null) to the number
// of records written. The output goes to out_path + ".tmp", renamed over out_path only when
// complete, so a failed conversion never leaves a partial .bin behind. Errors name the input
// position; raw or bitmap input is InvalidArgument.
absl::Status ConvertToBinary(const std::string& in_path, const std::string& out_path,
                             const ReaderOptions& options, int64_t* written);

}  // namespace sketch

#endif  // SKETCH_CORE_BINARY_FORMAT_H_
