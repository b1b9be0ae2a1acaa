// Replays every saved fuzzer input (tests/fuzz/regressions/<fuzzer>/) through the same body the
// fuzzer runs, so crashes found once stay fixed in the normal build, sanitizers or not.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/fuzz_bodies.h"
#include "tests/fuzz/normalize_rasterize_body.h"

namespace sketch {
namespace {

struct FuzzTarget {
  const char* fuzzer;  // the *_fuzzer.cc name, which is also its regressions folder
  void (*body)(const uint8_t*, size_t);
};

// One entry per tests/fuzz/*_fuzzer.cc.
const FuzzTarget kTargets[] = {
    {"ndjson_fuzzer", FuzzNdjson},
    {"bin_fuzzer", FuzzBinary},
    {"npy_fuzzer", FuzzNpy},
    {"normalize_rasterize_fuzzer", FuzzNormalizeRasterize},
};

class FuzzRegressionsTest : public ::testing::TestWithParam<FuzzTarget> {};

TEST_P(FuzzRegressionsTest, ReplaysEverySavedInput) {
  const std::filesystem::path dir =
      std::filesystem::path(SKETCH_FUZZ_REGRESSIONS_DIR) / GetParam().fuzzer;
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "no " << dir;
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes(std::istreambuf_iterator<char>(in), {});
    SCOPED_TRACE(entry.path().string());
    // A regression aborts the process (the fuzz bodies' invariants) or trips a sanitizer.
    GetParam().body(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++replayed;
  }
  RecordProperty("replayed", replayed);
}

// Bodies run on inputs the fuzzer never saw too: empty input and a few shapes.
TEST_P(FuzzRegressionsTest, SurvivesSimpleInputs) {
  const std::vector<std::string> inputs = {"", "\n", "{}", std::string(1000, '['),
                                           std::string("\x93NUMPY\x01\x00", 8)};
  for (const std::string& bytes : inputs) {
    GetParam().body(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Fuzzers, FuzzRegressionsTest, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<FuzzTarget>& info) {
                           return std::string(info.param.fuzzer);
                         });

}  // namespace
}  // namespace sketch
