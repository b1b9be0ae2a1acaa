#include "core/sketch_reader.h"

#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/binary_format.h"
#include "core/ndjson_reader.h"
#include "core/npy_reader.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

absl::StatusOr<SketchFormat> FormatFromExtension(const std::string& path) {
  const std::string extension =
      absl::AsciiStrToLower(std::filesystem::path(path).extension().string());
  if (extension == ".ndjson") return SketchFormat::kNdjson;
  if (extension == ".bin") return SketchFormat::kBinary;
  if (extension == ".npy") return SketchFormat::kNpy;
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": unknown stroke file format (expected .ndjson, .bin or .npy, or name the format)"));
}

absl::StatusOr<std::unique_ptr<std::istream>> OpenInput(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (std::filesystem::is_directory(status)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory"));
  }
  auto in = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!in->is_open()) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  return in;
}

}  // namespace

absl::StatusOr<SketchFormat> ParseSketchFormat(const std::string& name) {
  if (name == "auto") return SketchFormat::kAuto;
  if (name == "ndjson") return SketchFormat::kNdjson;
  if (name == "bin") return SketchFormat::kBinary;
  if (name == "npy") return SketchFormat::kNpy;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown format \"", name, "\" (expected ndjson, bin, npy or auto)"));
}

absl::StatusOr<std::unique_ptr<SketchReader>> OpenSketchReader(const std::string& path,
                                                               const ReaderOptions& options) {
  SketchFormat format = options.format;
  if (format == SketchFormat::kAuto) {
    ASSIGN_OR_RETURN(format, FormatFromExtension(path));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<std::istream> in, OpenInput(path));
  // .bin and .npy carry no word; the official files are named after it ("cat.npy").
  ReaderOptions resolved = options;
  if (resolved.word.empty()) resolved.word = std::filesystem::path(path).stem().string();
  switch (format) {
    case SketchFormat::kNdjson:
      return MakeNdjsonReader(std::move(in), path, resolved);
    case SketchFormat::kBinary:
      return MakeBinaryReader(std::move(in), path, resolved);
    case SketchFormat::kNpy:
      return MakeNpyReader(std::move(in), path, resolved);
    case SketchFormat::kAuto:
      break;
  }
  return absl::InternalError("unreachable: format still kAuto");
}

}  // namespace sketch
