#include "core/atomic_file.h"

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

TEST(AtomicFileTest, WritesAndReplacesWithoutLeavingTheTemporary) {
  const std::string path = TempPath("atomic_replace.txt");
  ASSERT_TRUE(WriteFileAtomically(path, std::string("first\0bytes", 11)).ok());
  EXPECT_EQ(ReadFileBytes(path), std::string("first\0bytes", 11));
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  EXPECT_EQ(ReadFileBytes(path), "second");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(AtomicFileTest, AFailedWriterLeavesThePreviousFile) {
  const std::string path = TempPath("atomic_failed.txt");
  ASSERT_TRUE(WriteFileAtomically(path, "kept").ok());
  const absl::Status status = WriteStreamAtomically(path, [](std::ostream& out) {
    out << "half of a new file";
    return absl::DataLossError("input ended early");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ReadFileBytes(path), "kept");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(AtomicFileTest, AStreamThatFailsIsAnErrorToo) {
  const std::string path = TempPath("atomic_badbit.txt");
  ASSERT_TRUE(WriteFileAtomically(path, "kept").ok());
  const absl::Status status = WriteStreamAtomically(path, [](std::ostream& out) {
    out.setstate(std::ios::badbit);  // what a full disk does to an ofstream
    return absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), testing::HasSubstr("atomic_badbit.txt.tmp"));
  EXPECT_EQ(ReadFileBytes(path), "kept");
}

TEST(AtomicFileTest, AnUnwritablePlaceIsNamed) {
  const std::string path = TempPath("no_such_dir/file.txt");
  const absl::Status status = WriteFileAtomically(path, "x");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), testing::HasSubstr("no_such_dir/file.txt.tmp"));
}

}  // namespace
}  // namespace sketch
