// Test helpers: paths in the test process's temporary directory, and whole-file reads.
#ifndef SKETCH_TESTS_TESTING_TEMP_FILES_H_
#define SKETCH_TESTS_TESTING_TEMP_FILES_H_

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace sketch {

// <TempDir>/<name>; ctest runs every test in its own process, so names need only be unique
// within a test binary.
inline std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

// The file's bytes; empty when it cannot be read.
inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace sketch

#endif  // SKETCH_TESTS_TESTING_TEMP_FILES_H_
