// SHA-256 of files: a bundle's manifest pins every file by it, and the manifest's own digest
// names the bundle.
#ifndef SKETCH_BUNDLE_SHA256_H_
#define SKETCH_BUNDLE_SHA256_H_

#include <string>

#include "absl/status/statusor.h"

namespace sketch {

// Lower-case hex SHA-256 of a file's bytes. NotFound when it cannot be opened; Internal on a
// read error or when OpenSSL has no SHA-256.
absl::StatusOr<std::string> Sha256File(const std::string& path);

}  // namespace sketch

#endif  // SKETCH_BUNDLE_SHA256_H_
