#include "server/openapi.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <initializer_list>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace sketch {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Value;

Value String(const std::string& text) {
  Value value;
  value.set_string_value(text);
  return value;
}

Value Object(std::initializer_list<std::pair<std::string, Value>> fields) {
  Value value;
  auto& out = *value.mutable_struct_value()->mutable_fields();
  for (const auto& [name, field] : fields) out[name] = field;
  return value;
}

Value Bool(bool flag) {
  Value value;
  value.set_bool_value(flag);
  return value;
}

Value List(std::initializer_list<Value> items) {
  Value value;
  for (const Value& item : items) *value.mutable_list_value()->add_values() = item;
  return value;
}

Value Ref(const std::string& name) {
  return Object({{"$ref", String(absl::StrCat("#/components/schemas/", name))}});
}

Value Typed(const char* type, const char* format = nullptr) {
  Value value = Object({{"type", String(type)}});
  if (format != nullptr)
    (*value.mutable_struct_value()->mutable_fields())["format"] = String(format);
  return value;
}

// The schema of one value of `field` (an element, for repeated fields); records the messages and
// enums it refers to in `pending`.
Value ScalarSchema(const FieldDescriptor& field, std::map<std::string, const void*>* seen,
                   std::vector<const Descriptor*>* pending,
                   std::vector<const EnumDescriptor*>* enums) {
  switch (field.type()) {
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SFIXED32:
      return Typed("integer", "int32");
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_FIXED32:
      return Typed("integer", "uint32");
    // The proto3 JSON mapping prints 64-bit integers as strings (JavaScript numbers lose digits).
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_SINT64:
    case FieldDescriptor::TYPE_SFIXED64:
      return Typed("string", "int64");
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_FIXED64:
      return Typed("string", "uint64");
    case FieldDescriptor::TYPE_FLOAT:
      return Typed("number", "float");
    case FieldDescriptor::TYPE_DOUBLE:
      return Typed("number", "double");
    case FieldDescriptor::TYPE_BOOL:
      return Typed("boolean");
    case FieldDescriptor::TYPE_STRING:
      return Typed("string");
    case FieldDescriptor::TYPE_BYTES:
      return Typed("string", "byte");
    case FieldDescriptor::TYPE_ENUM:
      if (seen->emplace(field.enum_type()->full_name(), field.enum_type()).second) {
        enums->push_back(field.enum_type());
      }
      return Ref(field.enum_type()->full_name());
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      if (seen->emplace(field.message_type()->full_name(), field.message_type()).second) {
        pending->push_back(field.message_type());
      }
      return Ref(field.message_type()->full_name());
  }
  return Typed("string");
}

Value FieldSchema(const FieldDescriptor& field, std::map<std::string, const void*>* seen,
                  std::vector<const Descriptor*>* pending,
                  std::vector<const EnumDescriptor*>* enums) {
  if (field.is_map()) {
    const FieldDescriptor& value_field = *field.message_type()->map_value();
    return Object({{"type", String("object")},
                   {"additionalProperties", ScalarSchema(value_field, seen, pending, enums)}});
  }
  Value schema = ScalarSchema(field, seen, pending, enums);
  if (field.is_repeated()) return Object({{"type", String("array")}, {"items", schema}});
  return schema;
}

// components/schemas: every message reachable from `roots`, and their enums.
Value Schemas(const std::vector<const Descriptor*>& roots) {
  std::map<std::string, const void*> seen;
  std::vector<const Descriptor*> pending;
  std::vector<const EnumDescriptor*> enums;
  for (const Descriptor* root : roots) {
    if (seen.emplace(root->full_name(), root).second) pending.push_back(root);
  }
  Value schemas = Object({});
  auto& out = *schemas.mutable_struct_value()->mutable_fields();
  while (!pending.empty()) {
    const Descriptor* message = pending.back();
    pending.pop_back();
    Value properties = Object({});
    for (int i = 0; i < message->field_count(); ++i) {
      const FieldDescriptor& field = *message->field(i);
      (*properties.mutable_struct_value()->mutable_fields())[field.json_name()] =
          FieldSchema(field, &seen, &pending, &enums);
    }
    // Unknown fields are refused (400), so no additional properties.
    out[message->full_name()] = Object({{"type", String("object")},
                                        {"properties", properties},
                                        {"additionalProperties", Bool(false)}});
  }
  for (const EnumDescriptor* type : enums) {
    Value names;
    for (int i = 0; i < type->value_count(); ++i) {
      *names.mutable_list_value()->add_values() = String(type->value(i)->name());
    }
    out[type->full_name()] = Object({{"type", String("string")}, {"enum", names}});
  }
  out["Error"] =
      Object({{"type", String("object")},
              {"properties",
               Object({{"error",
                        Object({{"type", String("object")},
                                {"properties", Object({{"code", Typed("string")},
                                                       {"message", Typed("string")},
                                                       {"http_status", Typed("integer")}})}})}})}});
  return schemas;
}

Value JsonContent(const Value& schema) {
  return Object({{"application/json", Object({{"schema", schema}})}});
}

Value Responses(const Value& ok_schema) {
  return Object(
      {{"200", Object({{"description", String("OK")}, {"content", JsonContent(ok_schema)}})},
       {"default", Object({{"description", String("an error (status mapped from the "
                                                  "gRPC code)")},
                           {"content", JsonContent(Ref("Error"))}})}});
}

Value Operation(const HttpRoute& route) {
  Value operation =
      Object({{"operationId", String(route.rpc)},
              {"summary", String(absl::StrCat("sketchsearch.v1.SketchSearch/", route.rpc))},
              {"responses", Responses(Ref(route.response->full_name()))},
              {"parameters",
               List({Object({{"name", String("X-Request-Timeout-Ms")},
                             {"in", String("header")},
                             {"schema", Typed("integer")},
                             {"description", String("deadline of the call, milliseconds")}}),
                     Object({{"name", String("timeout_ms")},
                             {"in", String("query")},
                             {"schema", Typed("integer")},
                             {"description", String("the same, when no header is given")}})})},
              {"security", List({Object({}), Object({{"bearerAuth", List({})}})})}});
  if (route.http_method == std::string("POST")) {
    (*operation.mutable_struct_value()->mutable_fields())["requestBody"] = Object(
        {{"required", Bool(true)}, {"content", JsonContent(Ref(route.request->full_name()))}});
  }
  return operation;
}

Value PlainGet(const char* summary, const Value& schema) {
  return Object(
      {{"get", Object({{"summary", String(summary)}, {"responses", Responses(schema)}})}});
}

}  // namespace

std::string OpenApiDocument(const std::vector<HttpRoute>& routes) {
  std::vector<const Descriptor*> messages;
  Value paths = Object({});
  auto& out = *paths.mutable_struct_value()->mutable_fields();
  for (const HttpRoute& route : routes) {
    messages.push_back(route.request);
    messages.push_back(route.response);
    (*out[route.path].mutable_struct_value()->mutable_fields())[absl::AsciiStrToLower(
        route.http_method)] = Operation(route);
  }
  const Value status = Object({{"type", String("object")}});
  out["/healthz"] = PlainGet("liveness: the process answers", status);
  out["/readyz"] = PlainGet("readiness: a bundle is loaded (503 before)", status);
  out["/v1/openapi.json"] = PlainGet("this document", status);

  google::protobuf::Struct document;
  auto& top = *document.mutable_fields();
  top["openapi"] = String("3.0.3");
  top["info"] = Object({{"title", String("sketchsearch HTTP/JSON API")},
                        {"version", String("v1")},
                        {"description", String("The sketchsearch.v1.SketchSearch gRPC service as "
                                               "HTTP/JSON (proto3 JSON mapping).")}});
  top["paths"] = paths;
  top["components"] = Object(
      {{"schemas", Schemas(messages)},
       {"securitySchemes", Object({{"bearerAuth", Object({{"type", String("http")},
                                                          {"scheme", String("bearer")}})}})}});
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(document, &json, options).ok()) return "{}";
  return json;
}

}  // namespace sketch
