#include "core/sketch_reader.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

using ::testing::HasSubstr;

const std::string kData = std::string(SKETCH_TEST_DATA_DIR) + "/quickdraw";

std::string TempDirForTest() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = absl::StrCat(::testing::TempDir(), "/sketch_reader_test_", info->name());
  std::filesystem::create_directories(dir);
  return dir;
}

// Counts the records of `path`, or returns the first error.
absl::StatusOr<int> Count(const std::string& path, const ReaderOptions& options = {}) {
  absl::StatusOr<std::unique_ptr<SketchReader>> reader = OpenSketchReader(path, options);
  if (!reader.ok()) return reader.status();
  Sketch sketch;
  int n = 0;
  while (true) {
    absl::StatusOr<bool> got = (*reader)->Next(&sketch);
    if (!got.ok()) return got.status();
    if (!*got) return n;
    ++n;
  }
}

TEST(ParseSketchFormatTest, KnowsTheFourNames) {
  EXPECT_EQ(*ParseSketchFormat("auto"), SketchFormat::kAuto);
  EXPECT_EQ(*ParseSketchFormat("ndjson"), SketchFormat::kNdjson);
  EXPECT_EQ(*ParseSketchFormat("bin"), SketchFormat::kBinary);
  EXPECT_EQ(*ParseSketchFormat("npy"), SketchFormat::kNpy);
  for (const char* bad : {"", "json", "NDJSON", "binary", "npz"}) {
    absl::StatusOr<SketchFormat> format = ParseSketchFormat(bad);
    EXPECT_EQ(format.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(ParseSketchFormat("png").status().message(), HasSubstr("\"png\""));
}

TEST(OpenSketchReaderTest, ReadsEveryFormatByExtension) {
  EXPECT_EQ(*Count(kData + "/simplified/cat.ndjson"), 120);
  EXPECT_EQ(*Count(kData + "/raw/The Eiffel Tower.ndjson"), 25);
  EXPECT_EQ(*Count(kData + "/numpy_bitmap/train.npy"), 60);
  // The sample ships no .bin: ConvertToBinary's tests cover it; here an empty one.
  const std::string empty_bin = TempDirForTest() + "/empty.bin";
  std::ofstream(empty_bin).close();
  EXPECT_EQ(*Count(empty_bin), 0);
}

TEST(OpenSketchReaderTest, ExtensionIsCaseInsensitiveAndFormatCanBeForced) {
  const std::string dir = TempDirForTest();
  std::filesystem::copy_file(kData + "/simplified/cat.ndjson", dir + "/CAT.NDJSON",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(kData + "/numpy_bitmap/cat.npy", dir + "/cat.data",
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_EQ(*Count(dir + "/CAT.NDJSON"), 120);
  EXPECT_EQ(Count(dir + "/cat.data").status().code(), absl::StatusCode::kInvalidArgument);
  ReaderOptions options;
  options.format = SketchFormat::kNpy;
  EXPECT_EQ(*Count(dir + "/cat.data", options), 60);
  // Forcing the wrong format fails on the content, naming the file.
  options.format = SketchFormat::kNdjson;
  absl::StatusOr<int> wrong = Count(dir + "/cat.data", options);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("cat.data:line 1: "));
}

TEST(OpenSketchReaderTest, ReportsMissingFilesDirectoriesAndUnknownFormats) {
  auto missing = OpenSketchReader(kData + "/simplified/unicorn.ndjson");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("unicorn.ndjson"));

  const std::string dir = TempDirForTest() + "/folder.ndjson";
  std::filesystem::create_directories(dir);
  EXPECT_EQ(OpenSketchReader(dir).status().code(), absl::StatusCode::kInvalidArgument);

  auto unknown = OpenSketchReader(kData + "/README.md");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("README.md"));
}

TEST(OpenSketchReaderTest, BadNpyHeaderFailsAtOpen) {
  const std::string path = TempDirForTest() + "/bad.npy";
  std::ofstream(path) << "not numpy";
  auto reader = OpenSketchReader(path);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.status().message(), HasSubstr("bad.npy: bad .npy header"));
}

TEST(OpenSketchReaderTest, WordDefaultsToTheFileStemForFormatsWithoutOne) {
  Sketch sketch;
  auto reader = OpenSketchReader(kData + "/numpy_bitmap/star.npy");
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(*(*reader)->Next(&sketch));
  EXPECT_EQ(sketch.word, "star");
  ReaderOptions options;
  options.word = "asterisk";
  reader = OpenSketchReader(kData + "/numpy_bitmap/star.npy", options);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(*(*reader)->Next(&sketch));
  EXPECT_EQ(sketch.word, "asterisk");
  // ndjson records carry their own word.
  reader = OpenSketchReader(kData + "/simplified/cat.ndjson", options);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(*(*reader)->Next(&sketch));
  EXPECT_EQ(sketch.word, "cat");
  EXPECT_EQ((*reader)->Position(), kData + "/simplified/cat.ndjson:line 1");
}

TEST(OpenSketchReaderTest, SkipInvalidKeepsGoodLinesOfARealFile) {
  const std::string path = TempDirForTest() + "/mixed.ndjson";
  {
    std::ifstream in(kData + "/simplified/cat.ndjson");
    std::ofstream out(path);
    std::string line;
    for (int i = 0; std::getline(in, line); ++i) {
      out << line << "\n";
      if (i % 10 == 0) out << "{\"broken\": \n";
    }
  }
  absl::StatusOr<int> strict = Count(path);
  EXPECT_EQ(strict.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(strict.status().message(), HasSubstr("mixed.ndjson:line 2: malformed JSON"));
  ReaderOptions options;
  options.skip_invalid = true;
  auto reader = OpenSketchReader(path, options);
  ASSERT_TRUE(reader.ok());
  Sketch sketch;
  int n = 0;
  while (*(*reader)->Next(&sketch)) ++n;
  EXPECT_EQ(n, 120);
  EXPECT_EQ((*reader)->skipped(), 12);
}

}  // namespace
}  // namespace sketch
