// Which drawings a `sketch` subcommand sends: a file in any supported format (or ndjson on
// stdin), all of its records, only the Nth, or those with a given key_id.
#ifndef SKETCH_CLIENT_INPUT_SELECTION_H_
#define SKETCH_CLIENT_INPUT_SELECTION_H_

#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "core/sketch.h"

namespace sketch {

struct InputSelection {
  // A .ndjson, .bin or .npy file, or "-" for ndjson on stdin.
  std::string path = "-";
  // 1-based record number (the line of an ndjson file without blank lines); 0 = every record.
  int64_t record = 0;
  // Only records with this key_id.
  std::optional<uint64_t> key_id;
};

struct InputRecord {
  std::string position;  // where it came from: "cat.ndjson:line 3", "cat.npy:record 0"
  Sketch sketch;
};

// Calls `visit` for every selected record, in file order, and stops at its first error, which
// it returns. Records are validated as every reader does (an invalid one is InvalidArgument with
// its position). NotFound for a missing file, or when nothing matched `record` / `key_id`;
// InvalidArgument for record < 0. `stdin_stream` is read only for path "-". Memory stays at one
// record.
absl::Status ForEachInput(const InputSelection& selection, std::istream& stdin_stream,
                          const std::function<absl::Status(InputRecord)>& visit);

}  // namespace sketch

#endif  // SKETCH_CLIENT_INPUT_SELECTION_H_
