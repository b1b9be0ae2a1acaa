// Whole small files read at once: the bytes, or a JSON object (configs, manifests, state files).
// The writing side is core/atomic_file.h.
#ifndef SKETCH_CORE_FILE_CONTENTS_H_
#define SKETCH_CORE_FILE_CONTENTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace sketch {

// The whole file. NotFound when it cannot be opened; Internal on a read error.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// The file parsed as one JSON object. NotFound / Internal as ReadFileToString; DataLoss naming
// the file when it is not a JSON object.
absl::StatusOr<nlohmann::json> ReadJsonObjectFile(const std::string& path);

}  // namespace sketch

#endif  // SKETCH_CORE_FILE_CONTENTS_H_
