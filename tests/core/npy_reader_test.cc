#include "core/npy_reader.h"

#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/sketch_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/read_all.h"

namespace sketch {
namespace {

using ::testing::HasSubstr;

const std::string kData = std::string(SKETCH_TEST_DATA_DIR) + "/quickdraw";
constexpr char kDict[] = "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 4), }";

// A .npy file as numpy writes it: magic, version, header length, the dict padded with spaces
// to a multiple of 64 bytes and a newline, then the data.
std::string Npy(const std::string& dict, const std::string& data, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out =
      absl::StrCat("\x93NUMPY", std::string(1, static_cast<char>(major)), std::string(1, '\0'));
  for (size_t i = 0; i < prefix - 8; ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string Pixels(size_t n) {
  std::string data(n, '\0');
  std::iota(data.begin(), data.end(), 0);
  return data;
}

absl::StatusOr<std::unique_ptr<SketchReader>> ReaderOf(const std::string& bytes,
                                                       ReaderOptions options = {}) {
  options.word = "cat";
  return MakeNpyReader(std::make_unique<std::istringstream>(bytes), "mem.npy", options);
}

TEST(NpyReaderTest, ReadsRealNumpyBitmapFile) {
  auto reader = OpenSketchReader(kData + "/numpy_bitmap/cat.npy");
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<Sketch> records;
  ASSERT_TRUE(ReadAll(**reader, &records).ok());
  ASSERT_EQ(records.size(), 60u);
  // Values computed from the file's bytes with Python.
  const Sketch& first = records[0];
  EXPECT_TRUE(first.is_bitmap());
  EXPECT_TRUE(first.strokes.empty());
  EXPECT_EQ(first.word, "cat");
  EXPECT_EQ(first.key_id, 0u);
  EXPECT_EQ(first.bitmap.size, 28);
  ASSERT_EQ(first.bitmap.pixels.size(), 784u);
  EXPECT_EQ(std::accumulate(first.bitmap.pixels.begin(), first.bitmap.pixels.end(), 0), 39550);
  EXPECT_EQ(std::count_if(first.bitmap.pixels.begin(), first.bitmap.pixels.end(),
                          [](uint8_t p) { return p != 0; }),
            259);
  EXPECT_EQ(first.bitmap.pixels[100], 0);
  EXPECT_EQ(first.bitmap.pixels[101], 5);
  const Sketch& last = records.back();
  EXPECT_EQ(last.key_id, 59u);
  EXPECT_EQ(std::accumulate(last.bitmap.pixels.begin(), last.bitmap.pixels.end(), 0), 33925);
  EXPECT_EQ((*reader)->Position(), kData + "/numpy_bitmap/cat.npy:record 60");
}

TEST(NpyReaderTest, ReadsEveryRealFile) {
  for (const char* word : {"cat", "circle", "star", "train"}) {
    auto reader = OpenSketchReader(absl::StrCat(kData, "/numpy_bitmap/", word, ".npy"));
    ASSERT_TRUE(reader.ok()) << reader.status();
    std::vector<Sketch> records;
    ASSERT_TRUE(ReadAll(**reader, &records).ok());
    EXPECT_EQ(records.size(), 60u);
    EXPECT_EQ(records[7].word, word);
    EXPECT_EQ(records[7].key_id, 7u);
  }
}

TEST(NpyReaderTest, AcceptsVersion2LittleEndianDescrAndThreeDimensions) {
  for (const std::string& bytes :
       {Npy(kDict, Pixels(12), 2),
        Npy("{'descr': '<u1', 'fortran_order': False, 'shape': (3, 4)}", Pixels(12)),
        Npy("{\"shape\": (3, 2, 2), \"fortran_order\": False, \"descr\": \"|u1\"}", Pixels(12))}) {
    auto reader = ReaderOf(bytes);
    ASSERT_TRUE(reader.ok()) << reader.status();
    std::vector<Sketch> records;
    ASSERT_TRUE(ReadAll(**reader, &records).ok());
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[2].bitmap.size, 2);
    EXPECT_EQ(records[2].bitmap.pixels, std::vector<uint8_t>({8, 9, 10, 11}));
    EXPECT_EQ(records[2].key_id, 2u);
  }
}

TEST(NpyReaderTest, ZeroRowsIsAnEmptyFile) {
  auto reader = ReaderOf(Npy("{'descr': '|u1', 'fortran_order': False, 'shape': (0, 784), }", ""));
  ASSERT_TRUE(reader.ok());
  Sketch sketch;
  EXPECT_FALSE(*(*reader)->Next(&sketch));
}

struct BadHeader {
  std::string name;
  std::string bytes;
  std::string reason;
};

class BadHeaderTest : public ::testing::TestWithParam<BadHeader> {};

TEST_P(BadHeaderTest, IsInvalidArgumentNamingTheFile) {
  auto reader = ReaderOf(GetParam().bytes);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.status().message(), HasSubstr("mem.npy: bad .npy header: "));
  EXPECT_THAT(reader.status().message(), HasSubstr(GetParam().reason));
}

std::string WithDict(const std::string& dict) { return Npy(dict, Pixels(12)); }

INSTANTIATE_TEST_SUITE_P(
    Cases, BadHeaderTest,
    ::testing::ValuesIn(std::vector<BadHeader>{
        {"Empty", "", "no \\x93NUMPY magic"},
        {"NotNpy", "{\"word\":\"cat\"}\n", "no \\x93NUMPY magic"},
        {"Version3",
         [] {
           auto b = WithDict(kDict);
           b[6] = 3;
           return b;
         }(),
         "version 3.0"},
        {"Minor1",
         [] {
           auto b = WithDict(kDict);
           b[7] = 1;
           return b;
         }(),
         "version 1.1"},
        {"HeaderPastEnd", WithDict(kDict).substr(0, 40), "ends inside the header"},
        {"HugeHeaderLength",
         [] {
           auto b = Npy(kDict, "", 2);
           b[10] = 0x7f;
           return b;
         }(),
         "header length"},
        {"Float", WithDict("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"),
         "dtype '<f4' is not uint8"},
        {"BigEndianInt", WithDict("{'descr': '>u2', 'fortran_order': False, 'shape': (3, 4), }"),
         "is not uint8"},
        {"Fortran", WithDict("{'descr': '|u1', 'fortran_order': True, 'shape': (3, 4), }"),
         "fortran_order True"},
        {"OneDim", WithDict("{'descr': '|u1', 'fortran_order': False, 'shape': (12,), }"),
         "shape (12) is not"},
        {"NotSquare", WithDict("{'descr': '|u1', 'fortran_order': False, 'shape': (3, 783), }"),
         "shape (3, 783) is not"},
        {"NotSquare3d", WithDict("{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2, 3)}"),
         "shape (3, 2, 3) is not"},
        {"ZeroSide", WithDict("{'descr': '|u1', 'fortran_order': False, 'shape': (3, 0), }"),
         "is not"},
        {"TooBig", WithDict("{'descr': '|u1', 'fortran_order': False, 'shape': (3, 5000, 5000)}"),
         "is not"},
        {"HugeDim",
         WithDict("{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999999999999, 4)}"),
         "'shape' holds"},
        {"NegativeDim", WithDict("{'descr': '|u1', 'fortran_order': False, 'shape': (-3, 4), }"),
         "'shape' holds"},
        {"MissingShape", WithDict("{'descr': '|u1', 'fortran_order': False, }"), "missing"},
        {"UnknownKey",
         WithDict("{'descr': '|u1', 'fortran_order': False, 'shape': (3, 4), 'x': 1}"),
         "unexpected key 'x'"},
        {"DuplicateKey",
         WithDict("{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (3, 4)}"),
         "duplicate key"},
        {"NoBrace", WithDict("'descr': '|u1'"), "no '{'"},
        {"NoComma", WithDict("{'descr': '|u1' 'fortran_order': False, 'shape': (3, 4)}"),
         "expected ',' or '}'"},
        {"TrailingJunk", WithDict(std::string(kDict) + " x"), "final newline"},
        {"NoNewline",
         [] {
           auto b = WithDict(kDict);
           b[b.find('\n')] = ' ';
           return b;
         }(),
         "final newline"},
    }),
    [](const ::testing::TestParamInfo<BadHeader>& info) { return info.param.name; });

TEST(NpyReaderTest, TruncatedDataIsDataLossNamingTheRecord) {
  const std::string bytes = Npy(kDict, Pixels(10));  // the third row lacks 2 bytes
  auto reader = ReaderOf(bytes);
  ASSERT_TRUE(reader.ok());
  std::vector<Sketch> records;
  const absl::Status status = ReadAll(**reader, &records);
  EXPECT_EQ(records.size(), 2u);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("mem.npy:record 2: truncated"));

  ReaderOptions options;
  options.skip_invalid = true;
  reader = ReaderOf(bytes, options);
  ASSERT_TRUE(reader.ok());
  records.clear();
  EXPECT_TRUE(ReadAll(**reader, &records).ok());
  EXPECT_EQ(records.size(), 2u);
  EXPECT_EQ((*reader)->skipped(), 1);
}

TEST(NpyReaderTest, TruncatedRealFileIsDataLoss) {
  std::ifstream in(kData + "/numpy_bitmap/star.npy", std::ios::binary);
  std::string bytes(std::istreambuf_iterator<char>(in), {});
  bytes.resize(bytes.size() - 100);
  auto reader = ReaderOf(bytes);
  ASSERT_TRUE(reader.ok());
  std::vector<Sketch> records;
  const absl::Status status = ReadAll(**reader, &records);
  EXPECT_EQ(records.size(), 59u);
  EXPECT_THAT(status.message(), HasSubstr("mem.npy:record 59: truncated: the row has 684 of 784"));
}

TEST(NpyReaderTest, DataAfterTheLastRowIsAnError) {
  auto reader = ReaderOf(Npy(kDict, Pixels(13)));
  ASSERT_TRUE(reader.ok());
  std::vector<Sketch> records;
  const absl::Status status = ReadAll(**reader, &records);
  EXPECT_EQ(records.size(), 3u);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("mem.npy:record 3: data continues after the last row"));
}

}  // namespace
}  // namespace sketch
