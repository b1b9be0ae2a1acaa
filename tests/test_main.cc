// The main of every test binary: gives each test process a private TEST_TMPDIR (which
// testing::TempDir() returns), because ctest runs the tests of one suite as parallel processes
// that would otherwise race on the same scratch files. The directory is removed at exit.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gmock/gmock.h"

int main(int argc, char** argv) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("sketchsearch-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  setenv("TEST_TMPDIR", dir.c_str(), /*overwrite=*/1);
  testing::InitGoogleMock(&argc, argv);
  const int result = RUN_ALL_TESTS();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return result;
}
