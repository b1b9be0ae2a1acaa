// CheckRequestWire: bounds what decoding a request can cost, before it is decoded.
//
// A protobuf message is decoded into objects far larger than its bytes when it repeats small
// sub-messages or strings: an empty Stroke is 2 bytes on the wire and about 80 bytes decoded, so a
// 16 MB Classify of 8,000,000 empty strokes takes over 1 GB to decode, although it is refused as
// soon as it is looked at. The service receives requests as bytes, runs this check on them, and
// decodes only requests whose repeated sub-messages and strings stay within the request limits:
// decoding then costs at most a small multiple of the bytes (packed numbers: 4-8 bytes each).
#ifndef SKETCH_SERVER_WIRE_CHECK_H_
#define SKETCH_SERVER_WIRE_CHECK_H_

#include <cstdint>

#include "absl/status/status.h"
#include "server/request_limits.h"

namespace google::protobuf::io {
class ZeroCopyInputStream;
}  // namespace google::protobuf::io

namespace sketch {

// The request messages of sketchsearch.v1.SketchSearch.
enum class RequestKind { kClassify, kSearch, kEmbed, kClassifyBatch, kSearchBatch, kGetInfo };

// Walks the encoded request of `kind` without decoding it and counts, per request (per batch
// entry for the batch kinds, however a field is split over occurrences), the strokes of its ink,
// the class filters of a search and the entries of a batch. InvalidArgument naming the field when
// a count exceeds `limits` ("drawing.ink.strokes: more than 1024 strokes"; in a batch
// "requests[3].drawing.ink.strokes: ..."), or "request: not a valid protobuf message" when the
// bytes do not parse. Reads `input` to its end. Thread-safe.
absl::Status CheckRequestWire(RequestKind kind, google::protobuf::io::ZeroCopyInputStream* input,
                              const RequestLimits& limits);

// The largest encoded request of `kind` whose content can pass `limits`, rounded up generously:
// the receive limit for that method. Batches are bounded by the server's overall receive limit
// instead (a batch of 256 largest drawings would be hundreds of MB), which the caller applies.
int64_t MaxRequestBytes(RequestKind kind, const RequestLimits& limits);

}  // namespace sketch

#endif  // SKETCH_SERVER_WIRE_CHECK_H_
