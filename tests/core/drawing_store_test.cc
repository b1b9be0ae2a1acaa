#include "core/drawing_store.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/read_all.h"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

using ::testing::HasSubstr;

// Writes `sketches` to a store at TempPath(name) and returns the path.
std::string WriteStore(const std::string& name, const std::vector<Sketch>& sketches) {
  const std::string path = TempPath(name);
  size_t next = 0;
  int64_t count = -1;
  const absl::Status status = WriteDrawingStore(
      path,
      [&](Sketch* sketch) -> absl::StatusOr<bool> {
        if (next == sketches.size()) return false;
        *sketch = sketches[next++];
        return true;
      },
      &count);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(count, static_cast<int64_t>(sketches.size()));
  return path;
}

void ExpectSameDrawing(const Sketch& a, const Sketch& b) {
  EXPECT_EQ(a.key_id, b.key_id);
  EXPECT_EQ(a.countrycode, b.countrycode);
  EXPECT_EQ(a.recognized, b.recognized);
  EXPECT_EQ(a.timestamp, b.timestamp);
  EXPECT_EQ(a.frame, b.frame);
  EXPECT_EQ(a.bitmap.size, b.bitmap.size);
  EXPECT_EQ(a.bitmap.pixels, b.bitmap.pixels);
  ASSERT_EQ(a.strokes.size(), b.strokes.size());
  for (size_t s = 0; s < a.strokes.size(); ++s) {
    EXPECT_EQ(a.strokes[s].x, b.strokes[s].x) << "stroke " << s;
    EXPECT_EQ(a.strokes[s].y, b.strokes[s].y) << "stroke " << s;
    EXPECT_EQ(a.strokes[s].t, b.strokes[s].t) << "stroke " << s;
  }
}

// Real drawings of all three kinds: simplified, raw (float x/y/t) and 28x28 bitmaps.
std::vector<Sketch> MixedSample() {
  const std::string data = SKETCH_TEST_DATA_DIR "/quickdraw/";
  std::vector<Sketch> all;
  for (const auto& [path, word] : {std::pair{data + "simplified/cat.ndjson", ""},
                                   {data + "raw/ant.ndjson", ""},
                                   {data + "numpy_bitmap/star.npy", "star"}}) {
    std::vector<Sketch> some = ReadAll(path, word);
    if (some.size() > 20) some.resize(20);
    all.insert(all.end(), some.begin(), some.end());
  }
  return all;
}

TEST(DrawingStoreTest, EveryKindReadsBackAsWritten) {
  const std::vector<Sketch> sketches = MixedSample();
  ASSERT_EQ(sketches.size(), 60u);
  const std::string path = WriteStore("mixed.skdw", sketches);
  auto store = DrawingStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_EQ((*store)->size(), 60);
  for (int64_t i = 59; i >= 0; --i) {  // any order: entries are independent
    auto sketch = (*store)->Get(i);
    ASSERT_TRUE(sketch.ok()) << sketch.status();
    ExpectSameDrawing(*sketch, sketches[i]);
    EXPECT_EQ(sketch->word, "");  // the word is the index's metadata, not stored here
  }
}

TEST(DrawingStoreTest, SimplifiedStrokesTakeTheBinEncoding) {
  std::vector<Sketch> cats = ReadAll(SKETCH_TEST_DATA_DIR "/quickdraw/simplified/cat.ndjson");
  cats.resize(10);
  size_t points = 0, strokes = 0;
  for (const Sketch& s : cats) points += s.num_points(), strokes += s.strokes.size();
  const std::string path = WriteStore("cats.skdw", cats);
  // Per drawing: kind byte + .bin header (17) + 2 per stroke + 2 per point; plus 8 for its
  // table offset; plus the header, the end offset and the footer.
  const size_t expected = 8 + cats.size() * (1 + 17 + 8) + 2 * strokes + 2 * points + 8 + 20;
  EXPECT_EQ(std::filesystem::file_size(path), expected);
}

TEST(DrawingStoreTest, EmptyStoreOpensWithNoEntries) {
  const std::string path = WriteStore("empty.skdw", {});
  auto store = DrawingStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->size(), 0);
  EXPECT_EQ((*store)->Get(0).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(DrawingStoreTest, OutOfRangeEntry) {
  const std::string path = WriteStore("range.skdw", MixedSample());
  auto store = DrawingStore::Open(path);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Get(-1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*store)->Get(60).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(DrawingStoreTest, ASketchWithoutContentIsRefusedAndNothingIsLeft) {
  const std::string path = TempPath("bad.skdw");
  const absl::Status status = WriteDrawingStore(path, [](Sketch* sketch) -> absl::StatusOr<bool> {
    *sketch = Sketch();
    return true;
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("drawing 0"));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(DrawingStoreTest, SourceErrorsPassThrough) {
  const absl::Status status =
      WriteDrawingStore(TempPath("src.skdw"), [](Sketch*) -> absl::StatusOr<bool> {
        return absl::InvalidArgumentError("cat.ndjson:line 3: bad");
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("cat.ndjson:line 3"));
}

TEST(DrawingStoreTest, MissingAndForeignFiles) {
  EXPECT_EQ(DrawingStore::Open(TempPath("nope.skdw")).status().code(), absl::StatusCode::kNotFound);
  const std::string foreign = TempPath("foreign.skdw");
  std::ofstream(foreign) << "{\"this is\": \"not a drawing store at all\"}";
  auto store = DrawingStore::Open(foreign);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(foreign));
}

// The drawing with the fewest points of each kind (simplified, raw, bitmap): small stores to
// damage byte by byte.
std::vector<Sketch> SmallestOfEachKind() {
  const std::vector<Sketch> all = MixedSample();
  std::vector<Sketch> smallest;
  for (size_t first = 0; first < all.size(); first += 20) {
    size_t best = first;
    for (size_t i = first; i < first + 20; ++i) {
      if (all[i].num_points() < all[best].num_points()) best = i;
    }
    smallest.push_back(all[best]);
  }
  return smallest;
}

// Every truncation of a valid store is refused at Open, never a crash.
TEST(DrawingStoreTest, EveryTruncationIsDataLoss) {
  const std::vector<Sketch> sketches = SmallestOfEachKind();
  const std::string bytes = ReadFileBytes(WriteStore("whole.skdw", sketches));
  const std::string path = TempPath("cut.skdw");
  for (size_t length = 0; length < bytes.size(); ++length) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, length);
    auto store = DrawingStore::Open(path);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << "length " << length;
  }
}

// Every single corrupted byte either still opens and decodes, or is DataLoss naming the file
// (and the entry, once opened); never a crash or an out-of-bounds read (ASan in the dev preset).
TEST(DrawingStoreTest, CorruptBytesAreDataLossNamingTheEntry) {
  const std::vector<Sketch> sketches = SmallestOfEachKind();
  const std::string bytes = ReadFileBytes(WriteStore("intact.skdw", sketches));
  const std::string path = TempPath("corrupt.skdw");
  int entry_errors = 0;
  for (size_t at = 0; at < bytes.size(); ++at) {
    for (const char value : {'\0', '\xff'}) {
      std::string corrupt = bytes;
      if (corrupt[at] == value) continue;
      corrupt[at] = value;
      std::ofstream(path, std::ios::binary | std::ios::trunc) << corrupt;
      auto store = DrawingStore::Open(path);
      if (!store.ok()) {
        EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
        continue;
      }
      for (int64_t i = 0; i < (*store)->size(); ++i) {
        absl::StatusOr<Sketch> sketch = (*store)->Get(i);
        if (sketch.ok()) continue;
        ++entry_errors;
        EXPECT_EQ(sketch.status().code(), absl::StatusCode::kDataLoss) << sketch.status();
        EXPECT_THAT(std::string(sketch.status().message()),
                    HasSubstr(absl::StrCat("drawing ", i, " is corrupt")));
      }
    }
  }
  EXPECT_GT(entry_errors, 0);
}

}  // namespace
}  // namespace sketch
