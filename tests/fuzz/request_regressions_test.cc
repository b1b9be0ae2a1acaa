// Replays every saved request fuzzer input (tests/fuzz/regressions/request_fuzzer/) through the
// fuzzer's body in the normal test build. It lives in sketch_server_test, not beside the other
// fuzz bodies in sketch_core_test, because it needs the protobuf messages and the server's request
// conversion.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/request_body.h"

namespace sketch {
namespace {

bool Replay(const std::string& bytes) {
  return FuzzRequest(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

TEST(RequestFuzzRegressionsTest, ReplaysEverySavedInput) {
  const std::filesystem::path dir =
      std::filesystem::path(SKETCH_FUZZ_REGRESSIONS_DIR) / "request_fuzzer";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    SCOPED_TRACE(entry.path().string());
    // A regression aborts the process (the body's invariants) or trips a sanitizer.
    const bool accepted = Replay(std::string(std::istreambuf_iterator<char>(in), {}));
    // The seeds (make_request_seeds) are valid requests: they must stay accepted, or the fuzzer
    // would start from the parser's rejections instead of deep in the conversion.
    if (entry.path().filename().string().rfind("seed-", 0) == 0) {
      EXPECT_TRUE(accepted) << "a seed request is rejected";
    }
    ++replayed;
  }
  EXPECT_GT(replayed, 0) << "no saved inputs in " << dir;
  RecordProperty("replayed", replayed);
}

// Inputs the fuzzer may never have saved: empty, a selector alone, and each message kind empty
// (a request without a drawing) or with garbage after the selector.
TEST(RequestFuzzRegressionsTest, SurvivesSimpleInputs) {
  Replay("");
  for (int selector = 0; selector < 256; ++selector) {
    const std::string head(1, static_cast<char>(selector));
    Replay(head);
    Replay(head + std::string(64, '\xff'));
    Replay(head + "\x0a\x02\x12\x00");  // field 1 holding a message with an empty field 2
  }
}

}  // namespace
}  // namespace sketch
