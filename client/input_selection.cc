#include "client/input_selection.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/ndjson_reader.h"
#include "core/sketch_reader.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

absl::StatusOr<std::unique_ptr<SketchReader>> OpenInput(const std::string& path,
                                                        std::istream& stdin_stream) {
  if (path != "-") return OpenSketchReader(path);
  // A non-owning stream over stdin's buffer: the reader may delete it, stdin stays.
  return MakeNdjsonReader(std::make_unique<std::istream>(stdin_stream.rdbuf()), "<stdin>",
                          ReaderOptions());
}

}  // namespace

absl::Status ForEachInput(const InputSelection& selection, std::istream& stdin_stream,
                          const std::function<absl::Status(InputRecord)>& visit) {
  if (selection.record < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--line: ", selection.record, " is not a record number (1, 2, ...)"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SketchReader> reader, OpenInput(selection.path, stdin_stream));
  int64_t number = 0;
  int64_t matched = 0;
  Sketch sketch;
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader->Next(&sketch));
    if (!more) break;
    ++number;
    if (selection.record > 0 && number != selection.record) continue;
    if (selection.key_id.has_value() && sketch.key_id != *selection.key_id) continue;
    ++matched;
    RETURN_IF_ERROR(visit(InputRecord{reader->Position(), std::move(sketch)}));
    sketch = Sketch();
    if (selection.record > 0) break;  // the one record asked for
  }
  if (matched > 0) return absl::OkStatus();
  if (selection.record > 0) {
    return absl::NotFoundError(
        absl::StrCat(selection.path, " has ", number, " records, no record ", selection.record));
  }
  if (selection.key_id.has_value()) {
    return absl::NotFoundError(
        absl::StrCat(selection.path, " has no record with key_id ", *selection.key_id));
  }
  return absl::NotFoundError(absl::StrCat(selection.path, " has no records"));
}

}  // namespace sketch
