#include "core/drawing_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/atomic_file.h"
#include "core/binary_format.h"
#include "core/sketch_validation.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

constexpr char kMagic[4] = {'S', 'K', 'D', 'W'};
constexpr size_t kHeaderBytes = 8;   // magic | version u32
constexpr size_t kFooterBytes = 20;  // count u64 | table_offset u64 | magic

// How a record's payload is encoded (its first byte).
enum RecordKind : uint8_t {
  kBinRecord = 1,     // simplified strokes: one .bin record (core/binary_format.h)
  kFloatStrokes = 2,  // any other strokes: frame, metadata, float32 x/y(/t) per stroke
  kBitmapPixels = 3,  // metadata, side u16, side² pixel bytes
};

void Put(uint64_t v, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutFloats(const std::vector<float>& values, std::string* out) {
  const size_t at = out->size();
  out->resize(at + values.size() * sizeof(float));
  std::memcpy(out->data() + at, values.data(), values.size() * sizeof(float));  // little-endian
}

// key_id u64 | countrycode 2 bytes (or zeros) | recognized u8 | timestamp i64.
void PutMetadata(const Sketch& sketch, std::string* out) {
  Put(sketch.key_id, 8, out);
  const std::string country = sketch.countrycode.size() == 2 ? sketch.countrycode : "";
  out->push_back(country.empty() ? '\0' : country[0]);
  out->push_back(country.empty() ? '\0' : country[1]);
  out->push_back(sketch.recognized ? 1 : 0);
  Put(static_cast<uint64_t>(sketch.timestamp), 8, out);
}

// Replaces `*out` with the record of `sketch`.
absl::Status EncodeDrawing(const Sketch& sketch, std::string* out) {
  out->clear();
  if (sketch.is_bitmap()) {
    if (sketch.bitmap.size > 0xffff ||
        sketch.bitmap.pixels.size() != size_t(sketch.bitmap.size) * sketch.bitmap.size) {
      return absl::InvalidArgumentError("bitmap is not a square of at most 65535 pixels a side");
    }
    out->push_back(kBitmapPixels);
    PutMetadata(sketch, out);
    Put(sketch.bitmap.size, 2, out);
    out->append(sketch.bitmap.pixels.begin(), sketch.bitmap.pixels.end());
    return absl::OkStatus();
  }
  if (sketch.strokes.empty()) return absl::InvalidArgumentError("drawing has no strokes");
  if (sketch.frame == StrokeFrame::kSimplified) {
    std::ostringstream record;
    if (WriteBinaryRecord(sketch, record).ok()) {  // else: not .bin-shaped, stored as floats
      out->push_back(kBinRecord);
      out->append(record.str());
      return absl::OkStatus();
    }
  }
  out->push_back(kFloatStrokes);
  out->push_back(sketch.frame == StrokeFrame::kRaw ? 1 : 0);
  PutMetadata(sketch, out);
  Put(sketch.strokes.size(), 4, out);
  for (const Stroke& stroke : sketch.strokes) {
    if (stroke.y.size() != stroke.size() ||
        (!stroke.t.empty() && stroke.t.size() != stroke.size())) {
      return absl::InvalidArgumentError("a stroke's x, y and t differ in length");
    }
    Put(stroke.size(), 4, out);
    out->push_back(stroke.t.empty() ? 0 : 1);
    PutFloats(stroke.x, out);
    PutFloats(stroke.y, out);
    PutFloats(stroke.t, out);
  }
  return absl::OkStatus();
}

// A bounds-checked little-endian reader over one entry's bytes; every read fails once the
// entry is exhausted, so corrupt counts can never reach past it.
class EntryReader {
 public:
  EntryReader(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}
  bool Take(size_t n, const uint8_t** at) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    *at = p_;
    p_ += n;
    return true;
  }
  bool Int(int bytes, uint64_t* v) {
    const uint8_t* at;
    if (!Take(bytes, &at)) return false;
    *v = 0;
    for (int i = bytes - 1; i >= 0; --i) *v = (*v << 8) | at[i];
    return true;
  }
  bool Floats(size_t n, std::vector<float>* values) {
    const uint8_t* at;
    if (n > remaining() / sizeof(float) || !Take(n * sizeof(float), &at)) return false;
    values->resize(n);
    std::memcpy(values->data(), at, n * sizeof(float));
    return true;
  }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

bool TakeMetadata(EntryReader* in, Sketch* sketch) {
  uint64_t key_id, timestamp;
  const uint8_t* country;
  uint64_t recognized;
  if (!in->Int(8, &key_id) || !in->Take(2, &country) || !in->Int(1, &recognized) ||
      !in->Int(8, &timestamp) || recognized > 1) {
    return false;
  }
  sketch->key_id = key_id;
  sketch->countrycode.clear();
  if (country[0] != 0 || country[1] != 0) {
    sketch->countrycode.assign(reinterpret_cast<const char*>(country), 2);
  }
  sketch->recognized = recognized == 1;
  sketch->timestamp = static_cast<int64_t>(timestamp);
  return true;
}

bool DecodeFloatStrokes(EntryReader* in, Sketch* sketch) {
  uint64_t frame, n_strokes;
  if (!in->Int(1, &frame) || frame > 1 || !TakeMetadata(in, sketch) || !in->Int(4, &n_strokes)) {
    return false;
  }
  sketch->frame = frame == 1 ? StrokeFrame::kRaw : StrokeFrame::kSimplified;
  // Each stroke takes at least 5 bytes: a corrupt count cannot ask for more than the entry holds.
  if (n_strokes == 0 || n_strokes > in->remaining() / 5) return false;
  sketch->strokes.resize(n_strokes);
  for (Stroke& stroke : sketch->strokes) {
    uint64_t n, has_t;
    if (!in->Int(4, &n) || !in->Int(1, &has_t) || has_t > 1 || !in->Floats(n, &stroke.x) ||
        !in->Floats(n, &stroke.y) || !in->Floats(has_t ? n : 0, &stroke.t)) {
      return false;
    }
  }
  return in->remaining() == 0;
}

bool DecodeBitmap(EntryReader* in, Sketch* sketch) {
  uint64_t side;
  const uint8_t* pixels;
  if (!TakeMetadata(in, sketch) || !in->Int(2, &side) || side == 0 ||
      !in->Take(side * side, &pixels) || in->remaining() != 0) {
    return false;
  }
  sketch->bitmap.size = static_cast<int>(side);
  sketch->bitmap.pixels.assign(pixels, pixels + side * side);
  return true;
}

absl::StatusOr<Sketch> DecodeBinRecord(const uint8_t* p, size_t n) {
  ReaderOptions options;
  auto reader = MakeBinaryReader(
      std::make_unique<std::istringstream>(std::string(reinterpret_cast<const char*>(p), n)),
      "entry", options);
  Sketch sketch;
  ASSIGN_OR_RETURN(const bool got, reader->Next(&sketch));
  Sketch extra;
  absl::StatusOr<bool> more = reader->Next(&extra);
  if (!got || !more.ok() || *more) {
    return absl::DataLossError("the .bin record does not fill the entry exactly");
  }
  return sketch;
}

uint64_t LoadU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

absl::Status WriteDrawingStore(const std::string& path, const SketchSource& next, int64_t* count) {
  std::vector<uint64_t> offsets;
  const absl::Status status = WriteStreamAtomically(path, [&](std::ostream& out) -> absl::Status {
    std::string bytes(kMagic, sizeof(kMagic));
    Put(kDrawingStoreVersion, 4, &bytes);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    uint64_t offset = bytes.size();
    Sketch sketch;
    while (true) {
      ASSIGN_OR_RETURN(const bool more, next(&sketch));
      if (!more) break;
      if (absl::Status encoded = EncodeDrawing(sketch, &bytes); !encoded.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": drawing ", offsets.size(), ": ", encoded.message()));
      }
      offsets.push_back(offset);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      offset += bytes.size();
    }
    const uint64_t table_offset = offset;
    offsets.push_back(offset);  // the end of the last entry
    bytes.clear();
    for (uint64_t o : offsets) Put(o, 8, &bytes);
    Put(offsets.size() - 1, 8, &bytes);
    Put(table_offset, 8, &bytes);
    bytes.append(kMagic, sizeof(kMagic));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return absl::OkStatus();
  });
  if (status.ok() && count != nullptr) *count = static_cast<int64_t>(offsets.size()) - 1;
  return status;
}

absl::StatusOr<std::unique_ptr<DrawingStore>> DrawingStore::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const std::string reason = std::strerror(errno);
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": ", reason));
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ", reason));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat(path, " is not a regular file"));
  }
  const size_t bytes = static_cast<size_t>(st.st_size);
  if (bytes < kHeaderBytes + 8 + kFooterBytes) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat(path, ": truncated drawing store (", bytes, " bytes)"));
  }
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);  // the mapping stays valid
  if (map == MAP_FAILED) {
    return absl::InternalError(absl::StrCat("cannot map ", path, ": ", std::strerror(errno)));
  }
  const uint8_t* data = static_cast<const uint8_t*>(map);
  auto refuse = [&](const std::string& why) {
    ::munmap(map, bytes);
    return absl::DataLossError(absl::StrCat(path, ": ", why));
  };
  if (std::memcmp(data, kMagic, 4) != 0) return refuse("not a drawing store (bad magic)");
  uint32_t version = 0;
  for (int i = 3; i >= 0; --i) version = (version << 8) | data[4 + i];
  if (version != kDrawingStoreVersion) {
    return refuse(absl::StrCat("drawing store version ", version, ", this build reads ",
                               kDrawingStoreVersion));
  }
  const uint8_t* footer = data + bytes - kFooterBytes;
  if (std::memcmp(footer + 16, kMagic, 4) != 0) return refuse("truncated (no footer)");
  const uint64_t count = LoadU64(footer);
  const uint64_t table_offset = LoadU64(footer + 8);
  // The table holds count + 1 offsets and ends where the footer begins.
  const uint64_t table_space = bytes - kFooterBytes;
  if (table_offset < kHeaderBytes || table_offset > table_space ||
      (table_space - table_offset) % 8 != 0 || (table_space - table_offset) / 8 != count + 1) {
    return refuse(absl::StrCat("offsets table (", count, " entries at ", table_offset,
                               ") does not fit the file"));
  }
  return std::unique_ptr<DrawingStore>(
      new DrawingStore(path, data, bytes, static_cast<int64_t>(count), table_offset));
}

DrawingStore::DrawingStore(std::string path, const uint8_t* data, size_t bytes, int64_t count,
                           uint64_t table_offset)
    : path_(std::move(path)),
      data_(data),
      bytes_(bytes),
      count_(count),
      table_offset_(table_offset) {}

DrawingStore::~DrawingStore() { ::munmap(const_cast<uint8_t*>(data_), bytes_); }

absl::StatusOr<Sketch> DrawingStore::Get(int64_t i) const {
  if (i < 0 || i >= count_) {
    return absl::OutOfRangeError(
        absl::StrCat(path_, ": drawing ", i, " is outside 0..", count_ - 1));
  }
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(path_, ": drawing ", i, " is corrupt: ", why));
  };
  const uint64_t begin = LoadU64(data_ + table_offset_ + 8 * i);
  const uint64_t end = LoadU64(data_ + table_offset_ + 8 * (i + 1));
  if (begin < kHeaderBytes || begin >= end || end > table_offset_) {
    return corrupt(absl::StrCat("bytes ", begin, "..", end, " are outside the records"));
  }
  EntryReader in(data_ + begin, end - begin);
  uint64_t kind = 0;  // begin < end: the entry has at least this byte
  in.Int(1, &kind);
  Sketch sketch;
  bool decoded = false;
  if (kind == kBinRecord) {
    absl::StatusOr<Sketch> record = DecodeBinRecord(data_ + begin + 1, end - begin - 1);
    if (!record.ok()) return corrupt(record.status().message());
    sketch = *std::move(record);
    decoded = true;
  } else if (kind == kFloatStrokes) {
    decoded = DecodeFloatStrokes(&in, &sketch);
  } else if (kind == kBitmapPixels) {
    decoded = DecodeBitmap(&in, &sketch);
  } else {
    return corrupt(absl::StrCat("unknown record kind ", kind));
  }
  if (!decoded) return corrupt("its counts do not match its bytes");
  if (absl::Status valid = ValidateSketch(sketch); !valid.ok()) return corrupt(valid.message());
  return sketch;
}

}  // namespace sketch
