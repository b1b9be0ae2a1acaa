#ifndef SKETCH_CORE_ATOMIC_FILE_H_
#define SKETCH_CORE_ATOMIC_FILE_H_

#include <functional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sketch {

// Every file the programs write goes through here, so that a reader (or a run resumed after a
// kill) sees either the previous file or the complete new one, never a torn mix: the bytes go
// to `path + ".tmp"`, which is renamed over `path` only once written and flushed. On any
// failure the temporary is removed, `path` is left as it was, and the error names the file.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// The same for writers that stream (records, archives): `write` fills the stream; an error it
// returns, or a stream left failed, aborts the write.
absl::Status WriteStreamAtomically(const std::string& path,
                                   const std::function<absl::Status(std::ostream&)>& write);

}  // namespace sketch

#endif  // SKETCH_CORE_ATOMIC_FILE_H_
