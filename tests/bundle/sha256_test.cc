#include "bundle/sha256.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace sketch {
namespace {

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(*Sha256Bytes(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(*Sha256Bytes("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, FilesAndBytesAgreeAcrossManyPieces) {
  std::string bytes;
  for (int i = 0; i < 200000; ++i) bytes += static_cast<char>(i * 7919 % 251);  // > 3 pieces
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / "sha256_test.bin").string();
  std::ofstream(path, std::ios::binary) << bytes;
  auto from_file = Sha256File(path);
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(*from_file, *Sha256Bytes(bytes));
  EXPECT_EQ(Sha256File(path + ".missing").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sketch
