#include "client/output_format.h"

#include <google/protobuf/util/json_util.h>

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

// The message in protobuf's JSON mapping (64-bit integers as strings, as ndjson key_ids are).
nlohmann::json ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) {
    return nlohmann::json::object();  // only for messages with invalid UTF-8 strings
  }
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

// The response as JSON with the record's identity in front.
std::string RecordJson(const InputRecord& record, const google::protobuf::Message& response) {
  nlohmann::json out = {{"position", record.position},
                        {"key_id", std::to_string(record.sketch.key_id)},
                        {"word", record.sketch.word}};
  out.update(ToJson(response));
  // Replacement characters instead of an exception for non-UTF-8 words from odd files.
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string RecordHeader(const InputRecord& record) {
  std::string header = record.position;
  if (record.sketch.key_id != 0) absl::StrAppend(&header, "  key_id ", record.sketch.key_id);
  if (!record.sketch.word.empty()) absl::StrAppend(&header, "  word ", record.sketch.word);
  return header;
}

}  // namespace

std::string FormatClassify(const InputRecord& record, const v1::ClassifyResponse& response,
                           OutputStyle style) {
  if (style == OutputStyle::kJson) return RecordJson(record, response);
  std::string out = RecordHeader(record) + "\n";
  for (int i = 0; i < response.classes_size(); ++i) {
    const v1::ClassScore& c = response.classes(i);
    absl::StrAppendFormat(&out, "  %3d  %-24s %.4f\n", i + 1, c.word(), c.probability());
  }
  return out;
}

std::string FormatSearch(const InputRecord& record, const v1::SearchResponse& response,
                         OutputStyle style) {
  if (style == OutputStyle::kJson) return RecordJson(record, response);
  std::string out = RecordHeader(record);
  if (response.has_top_class()) {
    absl::StrAppendFormat(&out, "  top class %s (%.4f)", response.top_class().word(),
                          response.top_class().probability());
  }
  absl::StrAppendFormat(&out, "\n  %4s  %12s  %8s  %-20s %s\n", "rank", "distance", "id", "key_id",
                        "word");
  for (int i = 0; i < response.hits_size(); ++i) {
    const v1::SearchHit& h = response.hits(i);
    absl::StrAppendFormat(&out, "  %4d  %12.4f  %8d  %-20d %s", i + 1, h.distance(), h.id(),
                          h.key_id(), h.word());
    out += h.source().empty() ? "\n" : absl::StrCat("  (", h.source(), ")\n");
  }
  return out;
}

std::string FormatEmbed(const InputRecord& record, const v1::EmbedResponse& response,
                        OutputStyle style) {
  if (style == OutputStyle::kJson) return RecordJson(record, response);
  return absl::StrCat(
      RecordHeader(record), "  dimension ", response.feature_size(), "\n",
      absl::StrJoin(response.feature(), " ",
                    [](std::string* s, float v) { absl::StrAppendFormat(s, "%.6g", v); }),
      "\n");
}

std::string FormatInfo(const v1::GetInfoResponse& info, OutputStyle style) {
  if (style == OutputStyle::kJson) return ToJson(info).dump() + "\n";
  std::string out;
  absl::StrAppendFormat(&out, "%-14s %s\n", "architecture", info.architecture());
  absl::StrAppendFormat(&out, "%-14s %s\n", "bundle hash", info.bundle_hash());
  absl::StrAppendFormat(&out, "%-14s %d: %s\n", "classes", info.classes_size(),
                        absl::StrJoin(info.classes(), ", "));
  absl::StrAppendFormat(&out, "%-14s %d\n", "input size", info.input_size());
  absl::StrAppendFormat(&out, "%-14s %d\n", "index size", info.index_size());
  absl::StrAppendFormat(&out, "%-14s %d\n", "dimension", info.dimension());
  // Servers from before the field say 0; one view is what they computed.
  if (info.test_time_views() > 1) {
    absl::StrAppendFormat(&out, "%-14s %d forward passes a drawing, averaged\n", "views",
                          info.test_time_views());
  }
  if (info.has_index()) {
    const v1::IndexInfo& index = info.index();
    absl::StrAppendFormat(&out, "%-14s %s, %s (recall@10 %.4f), %d words, drawings %s\n",
                          "index type", index.type().empty() ? "?" : index.type(),
                          index.exact() ? "exact" : "approximate", index.recall_at_10(),
                          index.words_size(), index.has_drawings() ? "stored" : "not stored");
    if (index.query_expansion_neighbors() > 0) {
      absl::StrAppendFormat(&out, "%-14s %d neighbours, alpha %g\n", "query expansion",
                            index.query_expansion_neighbors(), index.query_expansion_alpha());
    }
  }
  if (!info.recipe().empty()) absl::StrAppendFormat(&out, "%-14s %s\n", "recipe", info.recipe());
  // A std::map copy prints the metrics in a stable order (proto maps have none).
  const std::map<std::string, double> metrics(info.metrics().begin(), info.metrics().end());
  for (const auto& [name, value] : metrics) {
    absl::StrAppendFormat(&out, "%-14s %s = %.4f\n", "metric", name, value);
  }
  const v1::Limits& l = info.limits();
  absl::StrAppendFormat(&out,
                        "%-14s strokes %d, points/stroke %d, points %d, bitmap %d px, k %d, "
                        "batch %d requests / %d hits, message %d bytes\n",
                        "limits", l.max_strokes(), l.max_points_per_stroke(), l.max_total_points(),
                        l.max_bitmap_size(), l.max_search_k(), l.max_batch_requests(),
                        l.max_batch_hits(), l.max_message_bytes());
  return out;
}

std::string FormatHealth(const std::string& service,
                         grpc::health::v1::HealthCheckResponse::ServingStatus status,
                         OutputStyle style) {
  const std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(status);
  if (style == OutputStyle::kJson) {
    return nlohmann::json({{"service", service}, {"status", name}}).dump() + "\n";
  }
  return service.empty() ? name + "\n" : absl::StrCat(service, " ", name, "\n");
}

}  // namespace sketch
