#include "core/binary_format.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/atomic_file.h"
#include "core/sketch_validation.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

// key_id u64 | countrycode 2 | recognized u8 | timestamp u32 | n_strokes u16.
constexpr size_t kHeaderBytes = 17;
constexpr size_t kMaxCount = 65535;  // n_strokes and n_points are u16

uint64_t LoadLittleEndian(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void StoreLittleEndian(uint64_t v, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool IsCountryChar(unsigned char c) { return c > ' ' && c < 127; }

class BinaryReader : public SketchReader {
 public:
  BinaryReader(std::unique_ptr<std::istream> in, std::string name, const ReaderOptions& options)
      : in_(std::move(in)), name_(std::move(name)), options_(options) {}

  absl::StatusOr<bool> Next(Sketch* sketch) override;

  std::string Position() const override { return absl::StrCat(name_, ":record ", record_); }

 private:
  // Reads up to `n` bytes and returns how many arrived (fewer only at EOF or on failure).
  // Straight from the stream buffer: istream::read's per-call sentry cost more than decoding
  // a stroke, and records are read a few bytes at a time.
  size_t Read(void* dst, size_t n) {
    std::streambuf* buffer = in_->rdbuf();
    if (buffer == nullptr) return 0;
    return static_cast<size_t>(
        buffer->sgetn(static_cast<char*>(dst), static_cast<std::streamsize>(n)));
  }
  // True with `*sketch` filled, false at a clean EOF, DataLoss if cut short, InvalidArgument
  // for a bad field. The whole record is consumed either way unless it is truncated.
  absl::StatusOr<bool> ReadRecord(Sketch* sketch);
  absl::Status ReadStrokes(size_t n_strokes, Sketch* sketch);

  std::unique_ptr<std::istream> in_;
  const std::string name_;
  const ReaderOptions options_;
  int64_t record_ = 0;       // index of the record last returned or failed on
  int64_t next_record_ = 0;  // index of the next record to read
  bool done_ = false;
  std::vector<uint8_t> points_;  // one stroke's x then y bytes; at most 2 * 65535
};

absl::StatusOr<bool> BinaryReader::Next(Sketch* sketch) {
  while (!done_) {
    record_ = next_record_++;
    absl::StatusOr<bool> got = ReadRecord(sketch);
    if (in_->bad()) {
      return absl::DataLossError(absl::StrCat(Position(), ": read failed (I/O error)"));
    }
    absl::Status status = got.status();
    if (got.ok()) {
      if (!*got) break;
      status = ValidateSketch(*sketch, options_.limits);
      if (status.ok()) return true;
    }
    if (absl::IsDataLoss(status)) done_ = true;  // truncated: there is nothing after it
    if (!options_.skip_invalid) {
      return absl::Status(status.code(), absl::StrCat(Position(), ": ", status.message()));
    }
    ++skipped_;
  }
  done_ = true;
  return false;
}

absl::StatusOr<bool> BinaryReader::ReadRecord(Sketch* sketch) {
  uint8_t header[kHeaderBytes];
  const size_t got = Read(header, kHeaderBytes);
  if (got == 0) return false;
  if (got < kHeaderBytes) {
    return absl::DataLossError(
        absl::StrCat("truncated: the header has ", got, " of ", kHeaderBytes, " bytes"));
  }
  absl::Status invalid;
  sketch->key_id = LoadLittleEndian(header, 8);
  sketch->countrycode.clear();
  if (header[8] != 0 || header[9] != 0) {
    if (IsCountryChar(header[8]) && IsCountryChar(header[9])) {
      sketch->countrycode.assign(reinterpret_cast<const char*>(header + 8), 2);
    } else {
      invalid = absl::InvalidArgumentError(absl::StrCat("countrycode bytes ", header[8], ", ",
                                                        header[9], " are not printable ASCII"));
    }
  }
  if (header[10] > 1 && invalid.ok()) {
    invalid = absl::InvalidArgumentError(
        absl::StrCat("recognized byte is ", header[10], ", expected 0 or 1"));
  }
  sketch->recognized = header[10] == 1;
  sketch->timestamp = static_cast<int64_t>(LoadLittleEndian(header + 11, 4));
  sketch->word = options_.word;
  sketch->frame = StrokeFrame::kSimplified;
  sketch->bitmap.size = 0;
  sketch->bitmap.pixels.clear();
  RETURN_IF_ERROR(ReadStrokes(LoadLittleEndian(header + 15, 2), sketch));
  RETURN_IF_ERROR(invalid);
  return true;
}

absl::Status BinaryReader::ReadStrokes(size_t n_strokes, Sketch* sketch) {
  const SketchLimits& limits = options_.limits;
  // Once a limit is broken the rest is read past, not stored: the counts are untrusted and
  // could otherwise ask for ~4G points.
  bool keep = n_strokes <= limits.max_strokes;
  absl::Status invalid;
  if (!keep) {
    invalid = absl::InvalidArgumentError(
        absl::StrCat("drawing has ", n_strokes, " strokes, the limit is ", limits.max_strokes));
  }
  sketch->strokes.resize(keep ? n_strokes : 0);
  size_t total_points = 0;
  for (size_t s = 0; s < n_strokes; ++s) {
    uint8_t count[2];
    if (Read(count, 2) < 2) {
      return absl::DataLossError(
          absl::StrCat("truncated: stroke ", s, " of ", n_strokes, " has no point count"));
    }
    const size_t n = LoadLittleEndian(count, 2);
    total_points += n;
    if (keep && (n > limits.max_points_per_stroke || total_points > limits.max_total_points)) {
      invalid = absl::InvalidArgumentError(absl::StrCat(
          "stroke ", s, " has ", n, " points, the limits are ", limits.max_points_per_stroke,
          " per stroke and ", limits.max_total_points, " in total"));
      keep = false;
      sketch->strokes.clear();
    }
    points_.resize(2 * n);
    const size_t got = Read(points_.data(), points_.size());
    if (got < points_.size()) {
      return absl::DataLossError(absl::StrCat("truncated: stroke ", s, " has ", n,
                                              " points but only ", got, " of ", 2 * n,
                                              " coordinate bytes follow"));
    }
    if (!keep) continue;
    Stroke& stroke = sketch->strokes[s];
    stroke.x.assign(points_.begin(), points_.begin() + n);
    stroke.y.assign(points_.begin() + n, points_.end());
    stroke.t.clear();
  }
  return invalid;
}

absl::Status EncodeStroke(const Stroke& stroke, size_t index, std::string* out) {
  const size_t n = stroke.x.size();
  if (stroke.y.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("stroke ", index, " has ", n, " x but ", stroke.y.size(), " y values"));
  }
  if (n == 0 || n > kMaxCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("stroke ", index, " has ", n, " points, the .bin format holds 1..65535"));
  }
  StoreLittleEndian(n, 2, out);
  for (const std::vector<float>* axis : {&stroke.x, &stroke.y}) {
    for (size_t p = 0; p < n; ++p) {
      const float v = (*axis)[p];
      // Written as the negation so that NaN fails too.
      if (!(v >= 0.0f && v <= 255.0f) || v != std::floor(v)) {
        return absl::InvalidArgumentError(
            absl::StrCat("stroke ", index, " point ", p, " = ", v, " is not an integer 0..255"));
      }
      out->push_back(static_cast<char>(static_cast<uint8_t>(v)));
    }
  }
  return absl::OkStatus();
}

// Replaces `*out` with the record's bytes.
absl::Status EncodeRecord(const Sketch& sketch, std::string* out) {
  if (sketch.is_bitmap() || sketch.frame != StrokeFrame::kSimplified) {
    return absl::InvalidArgumentError("the .bin format holds simplified strokes only");
  }
  const size_t n_strokes = sketch.strokes.size();
  if (n_strokes == 0 || n_strokes > kMaxCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("drawing has ", n_strokes, " strokes, the .bin format holds 1..65535"));
  }
  const std::string& country = sketch.countrycode;
  if (!(country.empty() ||
        (country.size() == 2 && IsCountryChar(country[0]) && IsCountryChar(country[1])))) {
    return absl::InvalidArgumentError("countrycode is not empty or two printable ASCII characters");
  }
  if (sketch.timestamp < 0 || sketch.timestamp > int64_t{UINT32_MAX}) {
    return absl::InvalidArgumentError(
        absl::StrCat("timestamp ", sketch.timestamp, " does not fit the .bin format's u32"));
  }
  out->clear();
  StoreLittleEndian(sketch.key_id, 8, out);
  out->append(country.empty() ? std::string(2, '\0') : country);
  out->push_back(sketch.recognized ? 1 : 0);
  StoreLittleEndian(static_cast<uint64_t>(sketch.timestamp), 4, out);
  StoreLittleEndian(n_strokes, 2, out);
  for (size_t s = 0; s < n_strokes; ++s) RETURN_IF_ERROR(EncodeStroke(sketch.strokes[s], s, out));
  return absl::OkStatus();
}

absl::Status WriteRecord(const Sketch& sketch, std::ostream& out, std::string* buffer) {
  RETURN_IF_ERROR(EncodeRecord(sketch, buffer));
  out.write(buffer->data(), static_cast<std::streamsize>(buffer->size()));
  if (!out) return absl::DataLossError("write failed");
  return absl::OkStatus();
}

// Copies every record of `reader` to `out`, counting them in `*written`.
absl::Status CopyRecords(SketchReader& reader, std::ostream& out, int64_t* written) {
  Sketch sketch;
  std::string buffer;
  while (true) {
    ASSIGN_OR_RETURN(const bool got, reader.Next(&sketch));
    if (!got) return absl::OkStatus();
    const absl::Status status = WriteRecord(sketch, out, &buffer);
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(reader.Position(), ": ", status.message()));
    }
    ++*written;
  }
}

}  // namespace

std::unique_ptr<SketchReader> MakeBinaryReader(std::unique_ptr<std::istream> in, std::string name,
                                               const ReaderOptions& options) {
  return std::make_unique<BinaryReader>(std::move(in), std::move(name), options);
}

absl::Status WriteBinaryRecord(const Sketch& sketch, std::ostream& out) {
  std::string buffer;
  return WriteRecord(sketch, out, &buffer);
}

absl::Status ConvertToBinary(const std::string& in_path, const std::string& out_path,
                             const ReaderOptions& options, int64_t* written) {
  if (written != nullptr) *written = 0;
  ASSIGN_OR_RETURN(std::unique_ptr<SketchReader> reader, OpenSketchReader(in_path, options));
  int64_t count = 0;
  RETURN_IF_ERROR(WriteStreamAtomically(
      out_path, [&](std::ostream& out) { return CopyRecords(*reader, out, &count); }));
  if (written != nullptr) *written = count;
  return absl::OkStatus();
}

}  // namespace sketch
