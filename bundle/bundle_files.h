// The rules a model bundle's files obey, checked before a byte of one is hashed or parsed: each
// is named by a plain file name (the manifest's `files` keys, preprocessing.json's mean_image),
// is a regular file in the bundle directory itself (no symlink, device, FIFO or directory) and
// is no larger than its size cap. docs/formats.md gives the rules and the caps.
#ifndef SKETCH_BUNDLE_BUNDLE_FILES_H_
#define SKETCH_BUNDLE_BUNDLE_FILES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sketch {

// Size caps in bytes, by file name. The defaults fit the full 50M-drawing case of docs/deploy.md
// ("Sizing") with room to spare; tests inject small ones.
struct BundleLimits {
  int64_t model_bytes = int64_t{4} << 30;     // model.pt: ~75 MB at 100 classes
  int64_t index_bytes = int64_t{16} << 30;    // index.faiss: 3.6 GB for 50M compressed; 4M flat
  int64_t metadata_bytes = int64_t{4} << 30;  // index_metadata.tsv: 50M rows of <= 85 bytes
  // drawings.skdw (a gallery's drawing store): 50M simplified drawings of ~250 bytes are 12.5 GB.
  int64_t drawings_bytes = int64_t{32} << 30;
  // Every other file: manifest.json, preprocessing.json, mean_image.npy (<= 4 MiB at 1024 px),
  // a version-1 train_config.json.
  int64_t small_file_bytes = int64_t{16} << 20;

  // The cap for the file called `name`.
  int64_t MaxBytes(const std::string& name) const;
};

// OK when `name` is a plain file name: 1 to 255 characters from [A-Za-z0-9._-], the first not
// '.' (so no "..", no hidden file, no '/' and no absolute path). Otherwise DataLoss naming
// `source` (where the name was read, e.g. "dir/manifest.json") and the rule.
absl::Status CheckBundleFileName(const std::string& name, const std::string& source);

// Lower-case hex SHA-256 of dir/name, hashed while it is read in 64 KiB pieces, after checking
// the name, that it is a regular file (lstat: a symlink is refused, wherever it points) and that
// its size is within limits.MaxBytes(name); reading stops with an error if the file grows past
// the cap meanwhile. NotFound when it does not exist; DataLoss naming the file and the rule it
// breaks; Internal on a read error. Thread-safe.
absl::StatusOr<std::string> HashBundleFile(const std::string& dir, const std::string& name,
                                           const BundleLimits& limits);

// The whole of dir/name, after the same checks, errors as HashBundleFile. For the small files
// (manifest.json, preprocessing.json). Thread-safe.
absl::StatusOr<std::string> ReadBundleFile(const std::string& dir, const std::string& name,
                                           const BundleLimits& limits);

}  // namespace sketch

#endif  // SKETCH_BUNDLE_BUNDLE_FILES_H_
