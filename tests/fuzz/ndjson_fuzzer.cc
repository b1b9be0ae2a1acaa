// libFuzzer entry point; the body is shared with the regression test (fuzz_bodies.h).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_bodies.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sketch::FuzzNdjson(data, size);
  return 0;
}
