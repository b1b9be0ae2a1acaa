// OpenApiDocument: the OpenAPI 3 description of the HTTP/JSON API (server/http_api.h), generated
// from the routes and the proto descriptors of their messages, so it cannot fall out of step with
// the proto: every field of every message a route carries appears under its JSON name, typed by
// the proto3 JSON mapping (64-bit integers as strings, enums as their names, bytes as base64).
#ifndef SKETCH_SERVER_OPENAPI_H_
#define SKETCH_SERVER_OPENAPI_H_

#include <string>
#include <vector>

#include "server/http_api.h"

namespace sketch {

// The document as JSON: `routes` as paths (plus /healthz, /readyz and /v1/openapi.json), their
// messages and every message they contain as components/schemas (named by full proto name), and
// the error body as components/schemas/Error. Thread-safe.
std::string OpenApiDocument(const std::vector<HttpRoute>& routes);

}  // namespace sketch

#endif  // SKETCH_SERVER_OPENAPI_H_
