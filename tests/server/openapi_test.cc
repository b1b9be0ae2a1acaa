#include "server/openapi.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <httplib.h>

#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::Struct;

Struct ParsedDocument() {
  Struct document;
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(OpenApiDocument(HttpRpcRoutes()), &document)
          .ok());
  return document;
}

// Every message a request or response of `routes` holds, transitively.
std::set<const Descriptor*> ReachableMessages(const std::vector<HttpRoute>& routes) {
  std::set<const Descriptor*> seen;
  std::vector<const Descriptor*> pending;
  for (const HttpRoute& route : routes)
    pending.insert(pending.end(), {route.request, route.response});
  while (!pending.empty()) {
    const Descriptor* message = pending.back();
    pending.pop_back();
    if (!seen.insert(message).second || message->options().map_entry()) continue;
    for (int i = 0; i < message->field_count(); ++i) {
      if (message->field(i)->message_type() != nullptr) {
        pending.push_back(message->field(i)->message_type());
      }
    }
  }
  return seen;
}

TEST(OpenApiTest, EveryRpcOfTheServiceHasARoute) {
  const google::protobuf::ServiceDescriptor* service =
      sketchsearch::v1::SketchSearch::service_full_name() != nullptr
          ? google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
                sketchsearch::v1::SketchSearch::service_full_name())
          : nullptr;
  ASSERT_NE(service, nullptr);
  const std::vector<HttpRoute> routes = HttpRpcRoutes();
  ASSERT_EQ(static_cast<int>(routes.size()), service->method_count());
  for (int i = 0; i < service->method_count(); ++i) {
    const auto* method = service->method(i);
    EXPECT_EQ(routes[i].rpc, method->name());
    EXPECT_EQ(routes[i].request, method->input_type()) << method->name();
    EXPECT_EQ(routes[i].response, method->output_type()) << method->name();
  }
}

TEST(OpenApiTest, DescribesEveryRouteAndEveryFieldOfItsMessages) {
  const Struct document = ParsedDocument();
  EXPECT_EQ(document.fields().at("openapi").string_value(), "3.0.3");
  const auto& paths = document.fields().at("paths").struct_value().fields();
  const std::vector<HttpRoute> routes = HttpRpcRoutes();
  for (const HttpRoute& route : routes) {
    ASSERT_TRUE(paths.contains(route.path)) << route.path;
    EXPECT_TRUE(paths.at(route.path)
                    .struct_value()
                    .fields()
                    .contains(absl::AsciiStrToLower(route.http_method)))
        << route.path;
  }
  for (const char* path : {"/healthz", "/readyz", "/v1/openapi.json"}) {
    EXPECT_TRUE(paths.contains(path)) << path;
  }
  const auto& schemas = document.fields()
                            .at("components")
                            .struct_value()
                            .fields()
                            .at("schemas")
                            .struct_value()
                            .fields();
  int fields_checked = 0;
  for (const Descriptor* message : ReachableMessages(routes)) {
    if (message->options().map_entry()) continue;
    ASSERT_TRUE(schemas.contains(message->full_name())) << message->full_name();
    const auto& properties = schemas.at(message->full_name())
                                 .struct_value()
                                 .fields()
                                 .at("properties")
                                 .struct_value()
                                 .fields();
    EXPECT_EQ(static_cast<int>(properties.size()), message->field_count()) << message->full_name();
    for (int i = 0; i < message->field_count(); ++i) {
      EXPECT_TRUE(properties.contains(message->field(i)->json_name()))
          << message->full_name() << "." << message->field(i)->json_name();
      ++fields_checked;
    }
  }
  EXPECT_GT(fields_checked, 60);  // the proto has more; a walk that stopped early fails here
  // 64-bit integers are strings in the proto3 JSON mapping.
  EXPECT_EQ(schemas.at("sketchsearch.v1.SearchHit")
                .struct_value()
                .fields()
                .at("properties")
                .struct_value()
                .fields()
                .at("keyId")
                .struct_value()
                .fields()
                .at("type")
                .string_value(),
            "string");
}

TEST(OpenApiTest, EveryPathOfTheDocumentIsServed) {
  ServerOptions options;
  options.address = "";
  options.serve_http = true;
  auto server = SketchServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->http_port());
  const Struct document = ParsedDocument();
  int paths_checked = 0;
  for (const auto& [path, operations] : document.fields().at("paths").struct_value().fields()) {
    for (const auto& [method, operation] : operations.struct_value().fields()) {
      (void)operation;
      // No bundle is loaded: the RPCs answer 400 (an empty body) or 503, never 404.
      auto result = method == "get" ? client.Get(path.c_str())
                                    : client.Post(path.c_str(), "{}", "application/json");
      ASSERT_TRUE(result) << path;
      EXPECT_NE(result->status, 404) << method << " " << path;
      ++paths_checked;
    }
  }
  EXPECT_EQ(paths_checked, 9);
  // The server answers the same document it generates.
  auto served = client.Get("/v1/openapi.json");
  ASSERT_TRUE(served);
  Struct served_document;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(served->body, &served_document).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(served_document, document));
}

}  // namespace
}  // namespace sketch
