#include "index/index_spec.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sketch {
namespace {

// "<prefix><digits>[<rest of digits, x or _>]", e.g. IVF1024, HNSW32, OPQ64_256, PQ64x8.
bool IsNumbered(absl::string_view part, absl::string_view prefix) {
  if (!absl::StartsWith(part, prefix) || part.size() == prefix.size()) return false;
  part.remove_prefix(prefix.size());
  if (!absl::ascii_isdigit(part[0])) return false;
  for (char c : part) {
    if (!absl::ascii_isdigit(c) && c != 'x' && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<IndexKind> IndexKindOfType(const std::string& type) {
  std::vector<absl::string_view> parts = absl::StrSplit(type, ',');
  if (parts.size() > 1 && (IsNumbered(parts[0], "OPQ") || IsNumbered(parts[0], "PCA"))) {
    parts.erase(parts.begin());
  }
  if (parts.size() == 1 && parts[0] == "Flat" && type == "Flat") return IndexKind::kFlat;
  if (parts.size() == 2 && IsNumbered(parts[0], "IVF") && !parts[1].empty()) {
    return IndexKind::kIvf;
  }
  if (IsNumbered(parts[0], "HNSW") &&
      (parts.size() == 1 || (parts.size() == 2 && parts[1] == "Flat"))) {
    return IndexKind::kHnsw;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "index type \"", type,
      "\" is not Flat, [OPQ<m>,]IVF<nlist>,<codes> (e.g. IVF1024,Flat or OPQ64,IVF1024,PQ64) "
      "or HNSW<M>"));
}

const char* IndexKindName(IndexKind kind) {
  switch (kind) {
    case IndexKind::kFlat:
      return "flat";
    case IndexKind::kIvf:
      return "ivf";
    case IndexKind::kHnsw:
      return "hnsw";
  }
  return "unknown";
}

absl::Status ValidateIndexSpec(const IndexSpec& spec) {
  if (absl::Status kind = IndexKindOfType(spec.type).status(); !kind.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("index type: ", kind.message()));
  }
  if (spec.default_knobs.nprobe < 0 || spec.default_knobs.ef_search < 0) {
    return absl::InvalidArgumentError("index default knobs: nprobe and ef_search must be >= 0");
  }
  if (spec.max_training_vectors < 1 || spec.add_chunk < 1) {
    return absl::InvalidArgumentError(
        "index spec: max_training_vectors and add_chunk must be positive");
  }
  return absl::OkStatus();
}

}  // namespace sketch
