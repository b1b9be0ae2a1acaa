// Conversions between the sketchsearch.v1 messages and the domain types, with the request
// checks: every violation is InvalidArgument naming the field ("requests[2].drawing.ink: stroke 3
// point 7 x is not finite", "exclude_key_ids: 20000 entries exceed the limit of 10000").
#ifndef SKETCH_SERVER_PROTO_CONVERT_H_
#define SKETCH_SERVER_PROTO_CONVERT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/sketch.h"
#include "server/classifier.h"
#include "server/request_limits.h"
#include "server/search_backend.h"
#include "server/searcher.h"
#include "sketchsearch/v1/sketch_search.pb.h"

namespace sketch {

// The drawing as a model-ready Sketch: checked with core's ValidateSketch (plus the server's
// bitmap size and stroke count bounds) and, for FRAME_RAW, normalized to the simplified frame.
// `field` names the drawing in errors ("drawing", "requests[3].drawing"). Thread-safe.
absl::StatusOr<Sketch> DrawingToSketch(const sketchsearch::v1::Drawing& drawing,
                                       const RequestLimits& limits, absl::string_view field);

// The request as a domain query. `prefix` is prepended to field names ("requests[3]." in a
// batch). k's bounds that depend on what is loaded (classes, index size) are the domain's checks.
absl::StatusOr<ClassifyQuery> ToClassifyQuery(const sketchsearch::v1::ClassifyRequest& request,
                                              const RequestLimits& limits,
                                              absl::string_view prefix = "");
absl::StatusOr<SearchQuery> ToSearchQuery(const sketchsearch::v1::SearchRequest& request,
                                          const RequestLimits& limits,
                                          absl::string_view prefix = "");
// Batches: 1..max_batch_requests requests (and at most max_batch_hits in total for searches).
// Converting a batch of raw drawings (normalization) takes time: once `deadline` has passed the
// rest is not converted (DeadlineExceeded naming the request it stopped at).
absl::StatusOr<std::vector<ClassifyQuery>> ToClassifyQueries(
    const sketchsearch::v1::ClassifyBatchRequest& batch, const RequestLimits& limits,
    absl::Time deadline = absl::InfiniteFuture());
absl::StatusOr<std::vector<SearchQuery>> ToSearchQueries(
    const sketchsearch::v1::SearchBatchRequest& batch, const RequestLimits& limits,
    absl::Time deadline = absl::InfiniteFuture());

void ToProto(const std::vector<ClassScore>& scores, sketchsearch::v1::ClassifyResponse* response);
// A hit's stored drawing becomes its Drawing by SketchToDrawing (proto/drawing_convert.h): ink
// in its frame, or the bitmap; key_id and word.
void ToProto(const SearchResult& result, sketchsearch::v1::SearchResponse* response);
void ToProto(const ClassScore& score, sketchsearch::v1::ClassScore* out);
// `max_message_bytes`: the server's receive limit, reported with the request limits.
void ToProto(const ServiceInfo& info, const RequestLimits& limits, int max_message_bytes,
             sketchsearch::v1::GetInfoResponse* response);

}  // namespace sketch

#endif  // SKETCH_SERVER_PROTO_CONVERT_H_
