#include "server/request_limits.h"

#include "absl/strings/str_cat.h"

namespace sketch {

absl::Status ValidateRequestLimits(const RequestLimits& limits) {
  const struct {
    const char* name;
    int64_t value;
  } fields[] = {
      {"max_strokes", static_cast<int64_t>(limits.sketch.max_strokes)},
      {"max_points_per_stroke", static_cast<int64_t>(limits.sketch.max_points_per_stroke)},
      {"max_total_points", static_cast<int64_t>(limits.sketch.max_total_points)},
      {"max_bitmap_size", limits.max_bitmap_size},
      {"max_search_k", limits.max_search_k},
      {"max_excluded_key_ids", limits.max_excluded_key_ids},
      {"max_class_filters", limits.max_class_filters},
      {"max_batch_requests", limits.max_batch_requests},
      {"max_batch_hits", limits.max_batch_hits},
      {"max_drawing_hits", limits.max_drawing_hits},
      {"max_nprobe", limits.max_nprobe},
      {"max_ef_search", limits.max_ef_search},
  };
  for (const auto& f : fields) {
    if (f.value < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("limits.", f.name, ": ", f.value, " must be positive"));
    }
  }
  if (!(limits.sketch.max_raw_abs_coordinate > 0)) {
    return absl::InvalidArgumentError("limits.max_raw_abs_coordinate must be positive");
  }
  return absl::OkStatus();
}

absl::Status CheckSearchKnobs(absl::string_view prefix, int64_t nprobe, int64_t ef_search,
                              const RequestLimits& limits) {
  absl::Status status =
      CheckInRange(absl::StrCat(prefix, "params.nprobe"), nprobe, 0, limits.max_nprobe);
  if (!status.ok()) return status;
  return CheckInRange(absl::StrCat(prefix, "params.ef_search"), ef_search, 0, limits.max_ef_search);
}

absl::Status CheckInRange(absl::string_view field, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", value, " is outside ", lo, "..", hi));
  }
  return absl::OkStatus();
}

absl::Status CheckCount(absl::string_view field, int64_t count, int64_t max,
                        absl::string_view what) {
  if (count > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", count, " ", what, " exceed the limit of ", max));
  }
  return absl::OkStatus();
}

absl::Status Annotate(const absl::Status& status, absl::string_view field) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(field, ": ", status.message()));
}

}  // namespace sketch
