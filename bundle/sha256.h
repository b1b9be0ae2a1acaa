// SHA-256 of files: a bundle's manifest pins every file by it, and the manifest's own digest
// names the bundle.
#ifndef SKETCH_BUNDLE_SHA256_H_
#define SKETCH_BUNDLE_SHA256_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sketch {

// Lower-case hex SHA-256 of the bytes `read` yields: it is called with a 64 KiB buffer until it
// returns 0 (the end) or an error, which is returned as is, so a stream is hashed as it is read
// with bounded memory. Internal when OpenSSL has no SHA-256.
absl::StatusOr<std::string> Sha256Stream(
    const std::function<absl::StatusOr<size_t>(char* buffer, size_t capacity)>& read);

// Lower-case hex SHA-256 of `bytes`. Internal when OpenSSL has no SHA-256.
absl::StatusOr<std::string> Sha256Bytes(std::string_view bytes);

// Lower-case hex SHA-256 of a file's bytes. NotFound when it cannot be opened; Internal on a
// read error or when OpenSSL has no SHA-256. Follows symlinks and reads to the end: for bundle
// files use bundle/bundle_files.h, which checks what it reads first.
absl::StatusOr<std::string> Sha256File(const std::string& path);

}  // namespace sketch

#endif  // SKETCH_BUNDLE_SHA256_H_
