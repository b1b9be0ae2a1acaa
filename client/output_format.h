// How the `sketch` CLI prints answers: a readable table by default, or one JSON object per line
// (--json; protobuf's JSON mapping with the proto field names, plus the record's position,
// key_id and word) for scripts.
#ifndef SKETCH_CLIENT_OUTPUT_FORMAT_H_
#define SKETCH_CLIENT_OUTPUT_FORMAT_H_

#include <string>

#include "client/input_selection.h"
#include "grpc/health/v1/health.pb.h"
#include "sketchsearch/v1/sketch_search.pb.h"

namespace sketch {

enum class OutputStyle { kTable, kJson };

// Each returns complete lines (ending in '\n'). Thread-safe.
std::string FormatClassify(const InputRecord& record,
                           const sketchsearch::v1::ClassifyResponse& response, OutputStyle style);
std::string FormatSearch(const InputRecord& record,
                         const sketchsearch::v1::SearchResponse& response, OutputStyle style);
std::string FormatEmbed(const InputRecord& record, const sketchsearch::v1::EmbedResponse& response,
                        OutputStyle style);
std::string FormatInfo(const sketchsearch::v1::GetInfoResponse& info, OutputStyle style);
std::string FormatHealth(const std::string& service,
                         grpc::health::v1::HealthCheckResponse::ServingStatus status,
                         OutputStyle style);

}  // namespace sketch

#endif  // SKETCH_CLIENT_OUTPUT_FORMAT_H_
