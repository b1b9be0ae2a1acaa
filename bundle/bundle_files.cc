#include "bundle/bundle_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bundle/sha256.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

constexpr size_t kMaxNameLength = 255;  // NAME_MAX on Linux
constexpr size_t kReadChunk = 1 << 16;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

const char* FileKind(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// An open file descriptor, closed when destroyed.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status CheckFileStat(const struct stat& st, const std::string& path, int64_t cap) {
  if (!S_ISREG(st.st_mode)) {
    return absl::DataLossError(absl::StrCat(path, " is ", FileKind(st.st_mode),
                                            ": a bundle file must be a regular file in the "
                                            "bundle directory"));
  }
  if (st.st_size > cap) {
    return absl::DataLossError(absl::StrCat(path, " is ", st.st_size, " bytes, over the cap of ",
                                            cap, " bytes for this bundle file"));
  }
  return absl::OkStatus();
}

// dir/name opened for reading, once its name, its type (lstat: a symlink is not followed) and its
// size pass. O_NOFOLLOW, O_NONBLOCK and fstat catch a file swapped for a symlink or a FIFO since.
absl::StatusOr<Fd> OpenChecked(const std::string& dir, const std::string& name, int64_t cap) {
  RETURN_IF_ERROR(CheckBundleFileName(name, dir));
  const std::string path = dir + "/" + name;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("bundle file missing: ", path));
    return absl::DataLossError(absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  RETURN_IF_ERROR(CheckFileStat(st, path, cap));
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::DataLossError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  if (::fstat(fd.get(), &st) != 0) {
    return absl::InternalError(absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  RETURN_IF_ERROR(CheckFileStat(st, path, cap));
  return fd;
}

// Reads the next piece of `fd` into buffer; 0 at the end. DataLoss once more than `cap` bytes
// were read in all (*total counts them): the file grew after it was checked.
absl::StatusOr<size_t> ReadPiece(const Fd& fd, char* buffer, size_t capacity, int64_t cap,
                                 int64_t* total, const std::string& path) {
  ssize_t n = 0;
  do {
    n = ::read(fd.get(), buffer, capacity);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return absl::InternalError(absl::StrCat("read error on ", path, ": ", std::strerror(errno)));
  }
  *total += n;
  if (*total > cap) {
    return absl::DataLossError(
        absl::StrCat(path, " grew past the cap of ", cap, " bytes for this bundle file"));
  }
  return static_cast<size_t>(n);
}

}  // namespace

int64_t BundleLimits::MaxBytes(const std::string& name) const {
  if (name == "model.pt") return model_bytes;
  if (name == "index.faiss") return index_bytes;
  if (name == "index_metadata.tsv") return metadata_bytes;
  if (name == "drawings.skdw") return drawings_bytes;
  return small_file_bytes;
}

absl::Status CheckBundleFileName(const std::string& name, const std::string& source) {
  bool plain = !name.empty() && name.size() <= kMaxNameLength && name[0] != '.';
  for (char c : name) plain = plain && IsNameChar(c);
  if (plain) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      source, ": bundle file name \"", name,
      "\" is not a plain file name (1 to 255 of [A-Za-z0-9._-], not starting with '.')"));
}

absl::StatusOr<std::string> HashBundleFile(const std::string& dir, const std::string& name,
                                           const BundleLimits& limits) {
  const int64_t cap = limits.MaxBytes(name);
  ASSIGN_OR_RETURN(const Fd fd, OpenChecked(dir, name, cap));
  const std::string path = dir + "/" + name;
  int64_t total = 0;
  return Sha256Stream([&](char* buffer, size_t capacity) {
    return ReadPiece(fd, buffer, capacity, cap, &total, path);
  });
}

absl::StatusOr<std::string> ReadBundleFile(const std::string& dir, const std::string& name,
                                           const BundleLimits& limits) {
  const int64_t cap = limits.MaxBytes(name);
  ASSIGN_OR_RETURN(const Fd fd, OpenChecked(dir, name, cap));
  const std::string path = dir + "/" + name;
  std::string bytes;
  int64_t total = 0;
  while (true) {
    const size_t old_size = bytes.size();
    bytes.resize(old_size + kReadChunk);
    ASSIGN_OR_RETURN(const size_t n,
                     ReadPiece(fd, bytes.data() + old_size, kReadChunk, cap, &total, path));
    bytes.resize(old_size + n);
    if (n == 0) return bytes;
  }
}

}  // namespace sketch
