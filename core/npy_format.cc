#include "core/npy_format.h"

#include <cstring>
#include <sstream>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace sketch {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
// numpy writes headers of a few hundred bytes; the cap bounds what a corrupt length costs.
constexpr size_t kMaxHeaderBytes = size_t{1} << 16;
constexpr int64_t kMaxDim = int64_t{1} << 40;

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// A strict parser for the header's Python dict literal, e.g.
// "{'descr': '|u1', 'fortran_order': False, 'shape': (60, 784), }" + spaces + "\n".
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  absl::StatusOr<NpyArrayHeader> Parse();

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
  absl::Status Value(std::string_view key, NpyArrayHeader* header);
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

absl::Status HeaderParser::Value(std::string_view key, NpyArrayHeader* header) {
  if (key == "descr") {
    std::string_view descr;
    if (!String(&descr)) return Error("'descr' is not a string");
    header->descr = std::string(descr);
    return absl::OkStatus();
  }
  if (key == "fortran_order") {
    if (Consume("False")) return absl::OkStatus();
    if (Consume("True")) return absl::InvalidArgumentError("fortran_order True is not supported");
    return Error("'fortran_order' is not False");
  }
  if (key == "shape") return Shape(&header->shape);
  return absl::InvalidArgumentError(
      absl::StrCat("unexpected key '", absl::CHexEscape(AsAbsl(key.substr(0, 20))), "'"));
}

absl::StatusOr<NpyArrayHeader> HeaderParser::Parse() {
  if (!Consume("{")) return Error("no '{'");
  NpyArrayHeader header;
  std::vector<std::string_view> seen;
  while (!Consume("}")) {
    std::string_view key;
    if (!String(&key)) return Error("expected a quoted key");
    for (std::string_view s : seen) {
      if (s == key) return Error("duplicate key");
    }
    seen.push_back(key);
    if (!Consume(":")) return Error("expected ':'");
    if (absl::Status status = Value(key, &header); !status.ok()) return status;
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
  return header;
}

// numpy .npy v1.0: magic, version, u16 header length, a dict padded so data starts at a
// multiple of 64 (what np.save writes for a C-order array).
std::string NpyHeaderBytes(absl::string_view descr, absl::Span<const int64_t> shape) {
  std::string dims = absl::StrJoin(shape, ", ");
  if (shape.size() == 1) dims += ",";
  std::string dict =
      absl::StrFormat("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
  const size_t prefix = kMagicBytes + 2 + 2;
  dict.append(64 - (prefix + dict.size() + 1) % 64, ' ');
  dict.push_back('\n');
  std::string header(kMagic, kMagicBytes);
  header.push_back('\x01');
  header.push_back('\x00');
  header.push_back(static_cast<char>(dict.size() & 0xff));
  header.push_back(static_cast<char>(dict.size() >> 8));
  return header + dict;
}

}  // namespace

absl::StatusOr<NpyArrayHeader> ReadNpyArrayHeader(std::istream& in, const std::string& name) {
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
  absl::StatusOr<NpyArrayHeader> header = HeaderParser(text).Parse();
  if (!header.ok()) return bad(header.status().message());
  return header;
}

std::string EncodeNpyFloat32(absl::Span<const float> values, absl::Span<const int64_t> shape) {
  std::string bytes = NpyHeaderBytes("<f4", shape);
  const size_t offset = bytes.size();
  bytes.resize(offset + values.size() * sizeof(float));
  std::memcpy(bytes.data() + offset, values.data(), values.size() * sizeof(float));
  return bytes;
}

absl::StatusOr<std::vector<float>> DecodeNpyFloat32(const std::string& bytes,
                                                    absl::Span<const int64_t> shape,
                                                    const std::string& name) {
  auto wrong = [&] {
    return absl::DataLossError(
        absl::StrCat(name, ": not a float32 [", absl::StrJoin(shape, ", "), "] C-order .npy file"));
  };
  std::istringstream in(bytes);
  absl::StatusOr<NpyArrayHeader> header = ReadNpyArrayHeader(in, name);
  if (!header.ok()) return absl::DataLossError(header.status().message());
  if (header->descr != "<f4" || header->shape != std::vector<int64_t>(shape.begin(), shape.end())) {
    return wrong();
  }
  size_t count = 1;
  for (int64_t dim : shape) count *= static_cast<size_t>(dim);
  const size_t offset = static_cast<size_t>(in.tellg());
  if (bytes.size() != offset + count * sizeof(float)) return wrong();
  std::vector<float> values(count);
  std::memcpy(values.data(), bytes.data() + offset, count * sizeof(float));
  return values;
}

}  // namespace sketch
