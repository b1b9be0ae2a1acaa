#include "core/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace sketch {

absl::Status WriteStreamAtomically(const std::string& path,
                                   const std::function<absl::Status(std::ostream&)>& write) {
  const std::string tmp = path + ".tmp";
  absl::Status status;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", tmp));
    status = write(out);
    out.flush();
    out.close();
    if (status.ok() && out.fail()) {
      status = absl::DataLossError(absl::StrCat("cannot write ", tmp));
    }
  }
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  if (!status.ok()) std::remove(tmp.c_str());
  return status;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  return WriteStreamAtomically(path, [contents](std::ostream& out) {
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    return absl::OkStatus();
  });
}

}  // namespace sketch
