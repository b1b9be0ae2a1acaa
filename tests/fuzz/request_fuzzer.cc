// libFuzzer entry point for the request path before the network (message parsing, the service's
// checks and conversion, normalization, rasterization); the body is shared with the regression
// replay in the normal test build.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/request_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sketch::FuzzRequest(data, size);
  return 0;
}
