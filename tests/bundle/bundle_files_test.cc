#include "bundle/bundle_files.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "bundle/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("bundle_files_test_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Both ways of taking a bundle file fail the same way.
void ExpectRefused(const std::string& dir, const std::string& name, const BundleLimits& limits,
                   const std::string& rule) {
  const auto hashed = HashBundleFile(dir, name, limits);
  EXPECT_EQ(hashed.status().code(), absl::StatusCode::kDataLoss) << name;
  EXPECT_THAT(std::string(hashed.status().message()), AllOf(HasSubstr(name), HasSubstr(rule)));
  const auto read = ReadBundleFile(dir, name, limits);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << name;
  EXPECT_THAT(std::string(read.status().message()), AllOf(HasSubstr(name), HasSubstr(rule)));
}

TEST(BundleFilesTest, NamesArePlainFileNames) {
  for (const std::string name : {"model.pt", "index_metadata.tsv", "mean_image.npy", "a-B_9.x"}) {
    EXPECT_TRUE(CheckBundleFileName(name, "m.json").ok()) << name;
  }
  for (const std::string& name :
       {std::string(), std::string("."), std::string(".."), std::string("../x"),
        std::string("/dev/zero"), std::string("/etc/passwd"), std::string("a/b"),
        std::string(".hidden"), std::string("a b"), std::string("x\n"), std::string("a\\b"),
        std::string("na\xc3\xafve"), std::string("a\0b", 3), std::string(256, 'a')}) {
    const absl::Status status = CheckBundleFileName(name, "m.json");
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << name;
    EXPECT_THAT(std::string(status.message()),
                AllOf(HasSubstr("m.json"), HasSubstr("not a plain file name")));
  }
  EXPECT_TRUE(CheckBundleFileName(std::string(255, 'a'), "m.json").ok());

  // The name is checked before the file system is asked anything.
  const std::string dir = TempDir("names");
  WriteFile(fs::path(dir).parent_path() / "outside.bin", "secret");
  for (const std::string name : {"../outside.bin", "/dev/zero"}) {
    ExpectRefused(dir, name, BundleLimits(), "not a plain file name");
  }
}

TEST(BundleFilesTest, RegularFilesWithinTheirCapAreHashedAndRead) {
  const std::string dir = TempDir("regular");
  WriteFile(dir + "/notes.txt", "0123456789");
  auto hashed = HashBundleFile(dir, "notes.txt", BundleLimits());
  ASSERT_TRUE(hashed.ok()) << hashed.status();
  EXPECT_EQ(*hashed, *Sha256File(dir + "/notes.txt"));
  EXPECT_EQ(*ReadBundleFile(dir, "notes.txt", BundleLimits()), "0123456789");

  BundleLimits limits;
  limits.small_file_bytes = 10;  // exactly the file's size: still within
  EXPECT_TRUE(HashBundleFile(dir, "notes.txt", limits).ok());
  limits.small_file_bytes = 9;
  ExpectRefused(dir, "notes.txt", limits, "over the cap of 9 bytes");

  // Each file has its own cap.
  WriteFile(dir + "/model.pt", "0123456789");
  limits = BundleLimits();
  limits.model_bytes = 5;
  ExpectRefused(dir, "model.pt", limits, "over the cap of 5 bytes");
  EXPECT_TRUE(HashBundleFile(dir, "notes.txt", limits).ok());

  const auto missing = HashBundleFile(dir, "missing.bin", BundleLimits());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("missing.bin"));
}

// Sparse files as large as the caps: refused from their size alone, without reading a byte.
TEST(BundleFilesTest, FilesOverTheDefaultCapsAreRefusedUnread) {
  const std::string dir = TempDir("sparse");
  const BundleLimits limits;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& [name, cap] : {std::pair<std::string, int64_t>{"model.pt", limits.model_bytes},
                                  {"index.faiss", limits.index_bytes},
                                  {"index_metadata.tsv", limits.metadata_bytes},
                                  {"manifest.json", limits.small_file_bytes}}) {
    WriteFile(dir + "/" + name, "");
    fs::resize_file(dir + "/" + name, static_cast<uintmax_t>(cap) + 1);
    ExpectRefused(dir, name, limits, "over the cap");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(BundleFilesTest, SymlinksFifosDevicesAndDirectoriesAreRefused) {
  const std::string dir = TempDir("special");
  const std::string outside = (fs::path(dir).parent_path() / "outside_model.pt").string();
  WriteFile(outside, "weights");
  fs::create_symlink(outside, dir + "/model.pt");
  ExpectRefused(dir, "model.pt", BundleLimits(), "a symbolic link");
  fs::create_symlink("/dev/zero", dir + "/index.faiss");
  ExpectRefused(dir, "index.faiss", BundleLimits(), "a symbolic link");
  WriteFile(dir + "/inside.json", "{}");
  fs::create_symlink("inside.json", dir + "/manifest.json");  // even to a file beside it
  ExpectRefused(dir, "manifest.json", BundleLimits(), "a symbolic link");

  // Never opened: opening a FIFO without a writer would block.
  ASSERT_EQ(::mkfifo((dir + "/index_metadata.tsv").c_str(), 0600), 0);
  ExpectRefused(dir, "index_metadata.tsv", BundleLimits(), "a FIFO");
  fs::create_directories(dir + "/preprocessing.json");
  ExpectRefused(dir, "preprocessing.json", BundleLimits(), "a directory");
  // /dev/zero's own device node, where this process may make one (root with CAP_MKNOD).
  if (::mknod((dir + "/zero.bin").c_str(), S_IFCHR | 0600, makedev(1, 5)) == 0) {
    ExpectRefused(dir, "zero.bin", BundleLimits(), "a device");
  }
}

}  // namespace
}  // namespace sketch
