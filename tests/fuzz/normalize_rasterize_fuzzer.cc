// libFuzzer entry point for NormalizeToSimplified and Rasterize; the body is shared with the
// regression replay in the normal test build.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/normalize_rasterize_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sketch::FuzzNormalizeRasterize(data, size);
  return 0;
}
