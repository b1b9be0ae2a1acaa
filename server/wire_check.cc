#include "server/wire_check.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// Field numbers of proto/sketchsearch/v1/sketch_search.proto that the walk follows.
constexpr int kRequestDrawing = 1;  // ClassifyRequest, SearchRequest, EmbedRequest
constexpr int kSearchClasses = 4;   // SearchRequest.classes
constexpr int kBatchRequests = 1;   // ClassifyBatchRequest / SearchBatchRequest.requests
constexpr int kDrawingInk = 1;      // Drawing.ink
constexpr int kInkStrokes = 2;      // Ink.strokes

// What one request (one batch entry) has shown so far.
struct Counts {
  int64_t strokes = 0;
  int64_t classes = 0;
};

absl::Status Malformed() {
  return absl::InvalidArgumentError("request: not a valid protobuf message");
}

// Calls on_field(field number, wire type) for each field of the message that ends at the
// current limit; on_field reads or skips the field's value itself.
template <typename OnField>
absl::Status ForEachField(CodedInputStream* in, OnField&& on_field) {
  while (true) {
    const uint32_t tag = in->ReadTag();
    if (tag == 0) return in->ConsumedEntireMessage() ? absl::OkStatus() : Malformed();
    RETURN_IF_ERROR(on_field(tag));
  }
}

// Enters a length-delimited field as a sub-message and walks it with `walk`.
template <typename Walk>
absl::Status InMessage(CodedInputStream* in, uint32_t tag, Walk&& walk) {
  if (WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
    return Malformed();
  }
  int length = 0;
  if (!in->ReadVarintSizeAsInt(&length)) return Malformed();
  const CodedInputStream::Limit limit = in->PushLimit(length);
  absl::Status status = walk();
  if (status.ok() && !in->ConsumedEntireMessage()) status = Malformed();
  in->PopLimit(limit);
  return status;
}

absl::Status Skip(CodedInputStream* in, uint32_t tag) {
  return WireFormatLite::SkipField(in, tag) ? absl::OkStatus() : Malformed();
}

absl::Status WalkInk(CodedInputStream* in, const RequestLimits& limits, const std::string& field,
                     Counts* counts) {
  return ForEachField(in, [&](uint32_t tag) {
    if (WireFormatLite::GetTagFieldNumber(tag) == kInkStrokes) {
      if (++counts->strokes > static_cast<int64_t>(limits.sketch.max_strokes)) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".ink.strokes: more than ", limits.sketch.max_strokes, " strokes"));
      }
    }
    return Skip(in, tag);
  });
}

absl::Status WalkDrawing(CodedInputStream* in, const RequestLimits& limits,
                         const std::string& field, Counts* counts) {
  return ForEachField(in, [&](uint32_t tag) {
    if (WireFormatLite::GetTagFieldNumber(tag) == kDrawingInk) {
      return InMessage(in, tag, [&] { return WalkInk(in, limits, field, counts); });
    }
    return Skip(in, tag);
  });
}

// A Classify/Search/Embed request (or one batch entry); `prefix` is "" or "requests[i].".
absl::Status WalkRequest(CodedInputStream* in, bool search, const RequestLimits& limits,
                         const std::string& prefix, Counts* counts) {
  return ForEachField(in, [&](uint32_t tag) {
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    if (number == kRequestDrawing) {
      return InMessage(in, tag, [&] {
        return WalkDrawing(in, limits, absl::StrCat(prefix, "drawing"), counts);
      });
    }
    if (search && number == kSearchClasses &&
        ++counts->classes > static_cast<int64_t>(limits.max_class_filters)) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "classes: more than ", limits.max_class_filters, " entries"));
    }
    return Skip(in, tag);
  });
}

absl::Status WalkBatch(CodedInputStream* in, bool search, const RequestLimits& limits) {
  int64_t requests = 0;
  return ForEachField(in, [&](uint32_t tag) {
    if (WireFormatLite::GetTagFieldNumber(tag) != kBatchRequests) return Skip(in, tag);
    if (++requests > limits.max_batch_requests) {
      return absl::InvalidArgumentError(
          absl::StrCat("requests: more than ", limits.max_batch_requests, " entries"));
    }
    // Each entry is its own message: its counts start afresh.
    Counts counts;
    const std::string prefix = absl::StrCat("requests[", requests - 1, "].");
    return InMessage(in, tag, [&] { return WalkRequest(in, search, limits, prefix, &counts); });
  });
}

}  // namespace

absl::Status CheckRequestWire(RequestKind kind, google::protobuf::io::ZeroCopyInputStream* input,
                              const RequestLimits& limits) {
  CodedInputStream in(input);
  Counts counts;
  switch (kind) {
    case RequestKind::kClassify:
    case RequestKind::kEmbed:
      return WalkRequest(&in, /*search=*/false, limits, "", &counts);
    case RequestKind::kSearch:
      return WalkRequest(&in, /*search=*/true, limits, "", &counts);
    case RequestKind::kClassifyBatch:
      return WalkBatch(&in, /*search=*/false, limits);
    case RequestKind::kSearchBatch:
      return WalkBatch(&in, /*search=*/true, limits);
    case RequestKind::kGetInfo:
      return ForEachField(&in, [&](uint32_t tag) { return Skip(&in, tag); });
  }
  return absl::InternalError("unknown request kind");
}

int64_t MaxRequestBytes(RequestKind kind, const RequestLimits& limits) {
  // x, y and t of every point as 4-byte floats, packed or not (5 bytes a value with its tag),
  // a stroke's own framing, the largest bitmap, and room for the key_id, word, k and options.
  const int64_t points = static_cast<int64_t>(limits.sketch.max_total_points);
  const int64_t strokes = static_cast<int64_t>(limits.sketch.max_strokes);
  const int64_t bitmap = static_cast<int64_t>(limits.max_bitmap_size) * limits.max_bitmap_size;
  const int64_t drawing = points * 3 * 5 + strokes * 16 + bitmap + 4096;
  switch (kind) {
    case RequestKind::kClassify:
    case RequestKind::kEmbed:
      return drawing;
    case RequestKind::kSearch:
      // exclude_key_ids (10-byte varints, unpacked at worst) and class names (256 bytes each).
      return drawing + static_cast<int64_t>(limits.max_excluded_key_ids) * 11 +
             static_cast<int64_t>(limits.max_class_filters) * 258;
    case RequestKind::kGetInfo:
      return 1024;
    case RequestKind::kClassifyBatch:
    case RequestKind::kSearchBatch:
      break;
  }
  return -1;  // batches: the server's receive limit
}

}  // namespace sketch
