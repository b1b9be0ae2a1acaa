#include "core/npy_reader.h"

#include <cmath>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "core/sketch_validation.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
// numpy writes headers of a few hundred bytes; the cap bounds what a corrupt length costs.
constexpr size_t kMaxHeaderBytes = size_t{1} << 16;
constexpr int64_t kMaxSide = 4096;  // ValidateSketch's bitmap bound
constexpr int64_t kMaxDim = int64_t{1} << 40;

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Rows of S x S bitmaps from the header's shape: (N, S*S) or (N, S, S).
absl::StatusOr<NpyShape> ShapeOf(const std::vector<int64_t>& dims);

// A strict parser for the header's Python dict literal, e.g.
// "{'descr': '|u1', 'fortran_order': False, 'shape': (60, 784), }" + spaces + "\n".
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  // The shape, or the reason the header is not a C-ordered uint8 array of square bitmaps.
  absl::StatusOr<NpyShape> Parse();

 private:
  void SkipSpaces() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  bool Consume(std::string_view token) {
    SkipSpaces();
    if (text_.substr(pos_, token.size()) != token) return false;
    pos_ += token.size();
    return true;
  }
  bool String(std::string_view* out);  // '...' or "...", no escapes
  bool Integer(int64_t* out);          // decimal digits, no sign
  absl::Status Value(std::string_view key, std::vector<int64_t>* dims);
  absl::Status Shape(std::vector<int64_t>* dims);
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(what, " at byte ", pos_, " of the header"));
  }

  std::string_view text_;
  size_t pos_ = 0;
};

bool HeaderParser::String(std::string_view* out) {
  SkipSpaces();
  if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return false;
  const size_t close = text_.find(text_[pos_], pos_ + 1);
  if (close == std::string_view::npos) return false;
  *out = text_.substr(pos_ + 1, close - pos_ - 1);
  if (out->find('\\') != std::string_view::npos) return false;
  pos_ = close + 1;
  return true;
}

bool HeaderParser::Integer(int64_t* out) {
  SkipSpaces();
  int64_t v = 0;
  size_t digits = 0;
  while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
    v = v * 10 + (text_[pos_++] - '0');
    if (v > kMaxDim) return false;
    ++digits;
  }
  *out = v;
  return digits > 0;
}

absl::Status HeaderParser::Shape(std::vector<int64_t>* dims) {
  if (!Consume("(")) return Error("'shape' is not a tuple");
  while (!Consume(")")) {
    int64_t dim;
    if (!Integer(&dim)) return Error("'shape' holds something other than a dimension");
    dims->push_back(dim);
    if (dims->size() > 3) return Error("'shape' has more than 3 dimensions");
    if (!Consume(",")) {
      if (!Consume(")")) return Error("'shape' is not a tuple");
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status HeaderParser::Value(std::string_view key, std::vector<int64_t>* dims) {
  if (key == "descr") {
    std::string_view descr;
    if (!String(&descr)) return Error("'descr' is not a string");
    if (descr != "|u1" && descr != "<u1") {
      return absl::InvalidArgumentError(absl::StrCat(
          "dtype '", absl::CHexEscape(AsAbsl(descr.substr(0, 20))), "' is not uint8 ('|u1')"));
    }
    return absl::OkStatus();
  }
  if (key == "fortran_order") {
    if (Consume("False")) return absl::OkStatus();
    if (Consume("True")) return absl::InvalidArgumentError("fortran_order True is not supported");
    return Error("'fortran_order' is not False");
  }
  if (key == "shape") return Shape(dims);
  return absl::InvalidArgumentError(
      absl::StrCat("unexpected key '", absl::CHexEscape(AsAbsl(key.substr(0, 20))), "'"));
}

absl::StatusOr<NpyShape> HeaderParser::Parse() {
  if (!Consume("{")) return Error("no '{'");
  std::vector<int64_t> dims;
  std::vector<std::string_view> seen;
  while (!Consume("}")) {
    std::string_view key;
    if (!String(&key)) return Error("expected a quoted key");
    for (std::string_view s : seen) {
      if (s == key) return Error("duplicate key");
    }
    seen.push_back(key);
    if (!Consume(":")) return Error("expected ':'");
    RETURN_IF_ERROR(Value(key, &dims));
    if (!Consume(",")) {
      if (!Consume("}")) return Error("expected ',' or '}'");
      break;
    }
  }
  SkipSpaces();
  if (pos_ + 1 != text_.size() || text_[pos_] != '\n') {
    return Error("the dict is not followed by spaces and a final newline");
  }
  // Value() rejected unknown and duplicate keys, so three keys means all three.
  if (seen.size() != 3) {
    return absl::InvalidArgumentError("'descr', 'fortran_order' or 'shape' is missing");
  }
  return ShapeOf(dims);
}

absl::StatusOr<NpyShape> ShapeOf(const std::vector<int64_t>& dims) {
  NpyShape shape;
  if (dims.size() == 2 && dims[1] <= kMaxSide * kMaxSide) {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(dims[1]))));
    if (side * side == dims[1]) shape.side = static_cast<int>(side);
  } else if (dims.size() == 3 && dims[1] == dims[2] && dims[1] <= kMaxSide) {
    shape.side = static_cast<int>(dims[1]);
  }
  if (shape.side <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape (", absl::StrJoin(dims, ", "),
                     ") is not (N, S*S) or (N, S, S) with 1 <= S <= ", kMaxSide));
  }
  shape.rows = dims[0];
  return shape;
}

class NpyReader : public SketchReader {
 public:
  NpyReader(std::unique_ptr<std::istream> in, std::string name, const ReaderOptions& options,
            NpyShape shape)
      : in_(std::move(in)), name_(std::move(name)), options_(options), shape_(shape) {}

  absl::StatusOr<bool> Next(Sketch* sketch) override;

  std::string Position() const override { return absl::StrCat(name_, ":record ", record_); }

 private:
  size_t Read(void* dst, size_t n) {
    in_->read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    return static_cast<size_t>(in_->gcount());
  }
  // The row `record_` into `*sketch`, or DataLoss if the file ends first.
  absl::Status ReadRow(Sketch* sketch);

  std::unique_ptr<std::istream> in_;
  const std::string name_;
  const ReaderOptions options_;
  const NpyShape shape_;
  int64_t record_ = 0;
  int64_t next_row_ = 0;
  bool done_ = false;
};

absl::StatusOr<bool> NpyReader::Next(Sketch* sketch) {
  if (done_) return false;
  absl::Status status;
  if (next_row_ >= shape_.rows) {
    done_ = true;
    record_ = shape_.rows;
    char extra;
    if (Read(&extra, 1) == 0 && !in_->bad()) return false;
    status = absl::InvalidArgumentError(absl::StrCat(
        "data continues after the last row (the header's shape has ", shape_.rows, " rows)"));
  } else {
    record_ = next_row_++;
    status = ReadRow(sketch);
    if (status.ok()) status = ValidateSketch(*sketch, options_.limits);
    if (status.ok()) return true;
    done_ = true;  // a truncated row is the end of the file
  }
  if (in_->bad()) return absl::DataLossError(absl::StrCat(Position(), ": read failed (I/O error)"));
  if (options_.skip_invalid) {
    ++skipped_;
    return false;
  }
  return absl::Status(status.code(), absl::StrCat(Position(), ": ", status.message()));
}

absl::Status NpyReader::ReadRow(Sketch* sketch) {
  const size_t bytes = static_cast<size_t>(shape_.side) * static_cast<size_t>(shape_.side);
  sketch->bitmap.pixels.resize(bytes);
  const size_t got = Read(sketch->bitmap.pixels.data(), bytes);
  if (got < bytes) {
    return absl::DataLossError(absl::StrCat("truncated: the row has ", got, " of ", bytes,
                                            " bytes (the header's shape has ", shape_.rows,
                                            " rows)"));
  }
  sketch->bitmap.size = shape_.side;
  sketch->key_id = static_cast<uint64_t>(record_);
  sketch->word = options_.word;
  sketch->countrycode.clear();
  sketch->recognized = false;
  sketch->timestamp = 0;
  sketch->frame = StrokeFrame::kSimplified;
  sketch->strokes.clear();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NpyShape> ReadNpyHeader(std::istream& in, const std::string& name) {
  auto bad = [&name](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": bad .npy header: ", why));
  };
  uint8_t prefix[kMagicBytes + 4];
  in.read(reinterpret_cast<char*>(prefix), sizeof(prefix));
  if (static_cast<size_t>(in.gcount()) < sizeof(prefix) ||
      std::memcmp(prefix, kMagic, kMagicBytes) != 0) {
    return bad("not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = prefix[6];
  const int minor = prefix[7];
  if ((major != 1 && major != 2) || minor != 0) {
    return bad(absl::StrCat("format version ", major, ".", minor, " is not 1.0 or 2.0"));
  }
  // Version 1.0 has a u16 header length, 2.0 a u32 (its last two bytes come next).
  size_t length = prefix[8] | (size_t{prefix[9]} << 8);
  if (major == 2) {
    uint8_t high[2] = {0, 0};
    in.read(reinterpret_cast<char*>(high), 2);
    length |= (size_t{high[0]} << 16) | (size_t{high[1]} << 24);
  }
  if (length > kMaxHeaderBytes) {
    return bad(absl::StrCat("header length ", length, " is over ", kMaxHeaderBytes, " bytes"));
  }
  std::string text(length, '\0');
  in.read(text.data(), static_cast<std::streamsize>(length));
  if (static_cast<size_t>(in.gcount()) < length) return bad("the file ends inside the header");
  absl::StatusOr<NpyShape> shape = HeaderParser(text).Parse();
  if (!shape.ok()) return bad(shape.status().message());
  return shape;
}

absl::StatusOr<std::unique_ptr<SketchReader>> MakeNpyReader(std::unique_ptr<std::istream> in,
                                                            std::string name,
                                                            const ReaderOptions& options) {
  ASSIGN_OR_RETURN(const NpyShape shape, ReadNpyHeader(*in, name));
  return std::make_unique<NpyReader>(std::move(in), std::move(name), options, shape);
}

}  // namespace sketch
