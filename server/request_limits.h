// The bounds every request must respect, beyond the per-drawing rules of core's ValidateSketch:
// they keep one hostile or careless request from costing unbounded memory, time or response size.
#ifndef SKETCH_SERVER_REQUEST_LIMITS_H_
#define SKETCH_SERVER_REQUEST_LIMITS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/sketch_validation.h"

namespace sketch {

struct RequestLimits {
  // Strokes, points per stroke, total points, raw coordinate magnitude: core's rules.
  SketchLimits sketch;
  // Largest bitmap side accepted (pixels); the network input is far smaller.
  int max_bitmap_size = 1024;
  // Largest k of a Search; k must also stay within the index size.
  int max_search_k = 100000;
  int max_excluded_key_ids = 10000;
  int max_class_filters = 1000;
  // Requests in one ClassifyBatch / SearchBatch call.
  int max_batch_requests = 256;
  // Sum of k over one SearchBatch: bounds the response (about 35 bytes a hit, ~9 MB) and the
  // memory that builds it.
  int64_t max_batch_hits = 250000;
  // Hits that carry their drawing (include_drawings), per Search and summed over a SearchBatch.
  // A simplified drawing is ~300 bytes, a raw one up to 12 bytes a point: 100 of the largest
  // raw drawings the limits allow would still be a few hundred MB, real ones a few MB.
  int max_drawing_hits = 100;
  // Largest SearchParams.nprobe and ef_search: a request's knobs buy recall with index work, up
  // to a full scan (nprobe = nlist) or a graph walk as wide as ef_search; these bound its cost.
  int max_nprobe = 1024;
  int max_ef_search = 2048;
};

// InvalidArgument naming the first limit that is not positive.
absl::Status ValidateRequestLimits(const RequestLimits& limits);

// The request's search knobs (SearchRequest.params) within 0..max_nprobe and 0..max_ef_search
// (0: the server's default); otherwise InvalidArgument naming "<prefix>params.nprobe" or
// "<prefix>params.ef_search".
absl::Status CheckSearchKnobs(absl::string_view prefix, int64_t nprobe, int64_t ef_search,
                              const RequestLimits& limits);

// OK when lo <= value <= hi; otherwise InvalidArgument "<field>: <value> is outside lo..hi".
absl::Status CheckInRange(absl::string_view field, int64_t value, int64_t lo, int64_t hi);

// OK when count <= max; otherwise InvalidArgument "<field>: <count> <what> exceed the limit
// of <max>" (e.g. "exclude_key_ids: 20000 entries exceed the limit of 10000").
absl::Status CheckCount(absl::string_view field, int64_t count, int64_t max,
                        absl::string_view what = "entries");

// `status` with its message prefixed by "<field>: " (OK stays OK): names where in a request a
// nested check failed.
absl::Status Annotate(const absl::Status& status, absl::string_view field);

}  // namespace sketch

#endif  // SKETCH_SERVER_REQUEST_LIMITS_H_
