#include "core/ndjson_reader.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <iterator>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "core/status_macros.h"
#include "simdjson.h"

namespace sketch {
namespace {

using simdjson::dom::element;

// Big reads keep the per-syscall cost negligible on 300 MB+ files.
constexpr size_t kChunkBytes = size_t{1} << 20;
// Keeps the buffer size arithmetic far from overflow whatever limit the caller asks for.
constexpr size_t kLargestLineLimit = size_t{1} << 40;
// After a line this large (simdjson's parser holds ~14x the line) the parser is replaced, so
// one huge record does not pin hundreds of MB for the rest of the file.
constexpr size_t kShrinkParserAbove = size_t{4} << 20;

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// For error messages: a short, printable rendering of untrusted text.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out = absl::StrCat("\"", absl::CHexEscape(AsAbsl(s.substr(0, kMax))), "\"");
  if (s.size() > kMax) out += "...";
  return out;
}

// Splits a stream into lines. Each line is a view into one buffer that always keeps
// SIMDJSON_PADDING readable bytes after the data, so simdjson parses it in place (no copy).
class LineSource {
 public:
  LineSource(std::unique_ptr<std::istream> in, size_t max_line_bytes)
      : in_(std::move(in)),
        max_line_(std::min(max_line_bytes, kLargestLineLimit)),
        chunk_(std::min(kChunkBytes, max_line_ + 1)) {}

  // Sets `*line` (without its '\n') and returns true, or returns false at the end. A line over
  // the limit is InvalidArgument and is then skipped by the next call; a read failure DataLoss.
  absl::StatusOr<bool> Next(std::string_view* line);

  // 1-based number of the line last returned (or failed on).
  int64_t line_number() const { return line_number_; }

 private:
  absl::Status Fill();

  std::unique_ptr<std::istream> in_;
  const size_t max_line_;
  const size_t chunk_;  // bytes per read; less than kChunkBytes only for tiny line limits
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;  // usable bytes; buf_ holds SIMDJSON_PADDING more
  size_t begin_ = 0;     // start of the current (unfinished) line
  size_t scan_ = 0;      // bytes before this hold no '\n' of the current line
  size_t end_ = 0;       // end of the data read so far
  bool eof_ = false;
  bool discarding_ = false;  // dropping the rest of an over-long line
  int64_t line_number_ = 0;
};

absl::StatusOr<bool> LineSource::Next(std::string_view* line) {
  while (true) {
    const char* data = buf_.get();
    const void* nl = end_ > scan_ ? std::memchr(data + scan_, '\n', end_ - scan_) : nullptr;
    if (nl != nullptr) {
      const size_t stop = static_cast<const char*>(nl) - data;
      const bool dropped = discarding_;
      discarding_ = false;
      *line = std::string_view(data + begin_, stop - begin_);
      begin_ = scan_ = stop + 1;
      if (dropped) continue;
      ++line_number_;
      if (line->size() <= max_line_) return true;
      return absl::InvalidArgumentError(absl::StrCat("line is longer than ", max_line_, " bytes"));
    }
    scan_ = end_;
    if (discarding_) {
      begin_ = scan_ = end_ = 0;
    } else if (end_ - begin_ > max_line_) {
      ++line_number_;
      discarding_ = true;
      begin_ = scan_ = end_ = 0;
      return absl::InvalidArgumentError(absl::StrCat("line is longer than ", max_line_, " bytes"));
    }
    if (eof_) {
      if (discarding_ || begin_ == end_) return false;
      *line = std::string_view(data + begin_, end_ - begin_);
      begin_ = scan_ = end_;
      ++line_number_;
      return true;
    }
    RETURN_IF_ERROR(Fill());
  }
}

absl::Status LineSource::Fill() {
  if (begin_ > 0) {  // keep only the unfinished line, at the front
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    scan_ -= begin_;
    begin_ = 0;
  }
  // Grow while the free space is small; Next() has already rejected end_ > max_line_, so the
  // cap below always leaves room and memory stays under ~max_line_ + chunk_.
  if (capacity_ - end_ < chunk_ / 4 + 1 && capacity_ < max_line_ + chunk_) {
    const size_t grown = std::min(std::max(capacity_ * 2, chunk_), max_line_ + chunk_);
    // Not zero-filled (no make_unique): every byte parsed is read from the stream first.
    std::unique_ptr<char[]> bigger(new char[grown + simdjson::SIMDJSON_PADDING]);
    if (end_ > 0) std::memcpy(bigger.get(), buf_.get(), end_);
    buf_ = std::move(bigger);
    capacity_ = grown;
  }
  in_->read(buf_.get() + end_, static_cast<std::streamsize>(capacity_ - end_));
  const size_t got = static_cast<size_t>(in_->gcount());
  end_ += got;
  if (in_->bad()) return absl::DataLossError("read failed (I/O error)");
  if (in_->eof() || got == 0) eof_ = true;
  return absl::OkStatus();
}

// ---- Dataset timestamps (text, not JSON: simdjson has already unescaped the string). ----

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `count` digits at `text[*pos]`.
bool Digits(std::string_view text, size_t* pos, int count, int* out) {
  if (*pos + count > text.size()) return false;
  int v = 0;
  for (int i = 0; i < count; ++i) {
    const char c = text[*pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *pos += count;
  *out = v;
  return true;
}

bool Literal(std::string_view text, size_t* pos, std::string_view literal) {
  if (text.substr(*pos, literal.size()) != literal) return false;
  *pos += literal.size();
  return true;
}

// "YYYY-MM-DD HH:MM:SS[.f{1,9}] UTC" with in-range fields; anything else is left to ParseTime,
// which is several times slower and would otherwise be a visible part of the reader's time.
bool ParseCanonicalTimestamp(std::string_view text, int64_t* seconds) {
  size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!Digits(text, &pos, 4, &year) || !Literal(text, &pos, "-") ||
      !Digits(text, &pos, 2, &month) || !Literal(text, &pos, "-") || !Digits(text, &pos, 2, &day) ||
      !Literal(text, &pos, " ") || !Digits(text, &pos, 2, &hour) || !Literal(text, &pos, ":") ||
      !Digits(text, &pos, 2, &minute) || !Literal(text, &pos, ":") ||
      !Digits(text, &pos, 2, &second)) {
    return false;
  }
  if (Literal(text, &pos, ".")) {
    const size_t start = pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    if (pos == start || pos - start > 9) return false;
  }
  if (text.substr(pos) != " UTC") return false;
  // CivilSecond normalizes out-of-range fields (Feb 30, 24:00, leap second 60); those go the
  // slow way so that they are judged exactly as ParseTime judges them.
  const absl::CivilSecond civil(year, month, day, hour, minute, second);
  if (civil.month() != month || civil.day() != day || civil.hour() != hour ||
      civil.minute() != minute || civil.second() != second) {
    return false;
  }
  // The fraction is dropped: that is the floor, as ToUnixSeconds() takes it.
  *seconds = civil - absl::CivilSecond(1970, 1, 1, 0, 0, 0);
  return true;
}

// Unix seconds (floored) of a dataset timestamp such as "2017-03-02 23:25:10.07453 UTC", exactly
// as absl::ParseTime("%Y-%m-%d %H:%M:%E*S UTC") reads it. False if the text is not such a time.
bool ParseQuickDrawTimestamp(std::string_view text, int64_t* seconds) {
  if (ParseCanonicalTimestamp(text, seconds)) return true;
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S UTC", AsAbsl(text), &time, &error) ||
      time == absl::InfiniteFuture() || time == absl::InfinitePast()) {
    return false;
  }
  *seconds = absl::ToUnixSeconds(time);
  return true;
}

// ---- Field decoders: each returns the reason a value is wrong, without the position. ----

// What the field decoders work with besides the value.
struct DecodeContext {
  const SketchLimits& limits;
  // Strokes that earlier records had and the current one does not, with their vectors'
  // capacity: a reused Sketch stops allocating once warm. See ResizeStrokes.
  std::vector<Stroke>* spare_strokes;
};

absl::Status DecodeWord(element value, const DecodeContext&, Sketch* sketch) {
  std::string_view word;
  if (value.get_string().get(word)) return absl::InvalidArgumentError("\"word\" is not a string");
  if (word.empty()) return absl::InvalidArgumentError("\"word\" is empty");
  sketch->word.assign(word.data(), word.size());
  return absl::OkStatus();
}

absl::Status DecodeCountry(element value, const DecodeContext&, Sketch* sketch) {
  std::string_view code;
  if (value.get_string().get(code)) {
    return absl::InvalidArgumentError("\"countrycode\" is not a string");
  }
  const bool printable =
      std::all_of(code.begin(), code.end(), [](char c) { return c > ' ' && c < 127; });
  if ((code.size() != 0 && code.size() != 2) || !printable) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"countrycode\" ", Quote(code), " is not empty or two ASCII characters"));
  }
  sketch->countrycode.assign(code.data(), code.size());
  return absl::OkStatus();
}

absl::Status DecodeTimestamp(element value, const DecodeContext&, Sketch* sketch) {
  int64_t seconds = 0;
  std::string_view text;
  if (!value.get_int64().get(seconds)) {
    sketch->timestamp = seconds;
    return absl::OkStatus();
  }
  if (value.get_string().get(text)) {
    return absl::InvalidArgumentError("\"timestamp\" is not a string or an integer");
  }
  if (!ParseQuickDrawTimestamp(text, &sketch->timestamp)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"timestamp\" ", Quote(text), " is not like \"2017-03-02 23:25:10.07 UTC\""));
  }
  return absl::OkStatus();
}

absl::Status DecodeRecognized(element value, const DecodeContext&, Sketch* sketch) {
  if (value.get_bool().get(sketch->recognized)) {
    return absl::InvalidArgumentError("\"recognized\" is not a boolean");
  }
  return absl::OkStatus();
}

// Strict decimal: 1..20 digits, no sign or spaces, no overflow.
bool ParseDecimalU64(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (!IsDigit(c)) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');  // wraps only for 20 digits, rejected below
  }
  // Same length, so comparing the text compares the values: above UINT64_MAX overflowed.
  if (text.size() == 20 && text > "18446744073709551615") return false;
  *out = v;
  return true;
}

absl::Status DecodeKeyId(element value, const DecodeContext&, Sketch* sketch) {
  std::string_view text;
  if (!value.get_string().get(text)) {
    if (ParseDecimalU64(text, &sketch->key_id)) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("\"key_id\" ", Quote(text), " is not an unsigned 64-bit decimal"));
  }
  if (!value.get_uint64().get(sketch->key_id)) return absl::OkStatus();
  return absl::InvalidArgumentError("\"key_id\" is not a string of digits or an unsigned integer");
}

// Why `value`, the `index`th number of a stroke's x, y or t array, was rejected. Kept out of
// line so that the loop below stays small.
[[gnu::noinline]] absl::Status NumberError(element value, size_t stroke, size_t index,
                                           const char* axis) {
  double d;
  if (value.get_double().get(d)) {
    return absl::InvalidArgumentError(
        absl::StrCat("stroke ", stroke, " point ", index, " ", axis, " is not a number"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("stroke ", stroke, " point ", index, " ", axis, " = ", d, " is out of range"));
}

// One of a stroke's x, y or t arrays into `out`, reusing its capacity: the reader's hot loop.
absl::Status DecodeNumbers(element value, size_t stroke, const char* axis,
                           const SketchLimits& limits, std::vector<float>* out) {
  simdjson::dom::array values;
  if (value.get_array().get(values)) {
    return absl::InvalidArgumentError(
        absl::StrCat("stroke ", stroke, " ", axis, " is not an array"));
  }
  size_t n = values.size();  // exact below 2^24 - 1, where it saturates
  if (n > limits.max_points_per_stroke) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stroke ", stroke, " has ", n, " points, the limit is ", limits.max_points_per_stroke));
  }
  out->resize(n);  // no allocation once the reused vector is big enough; all n are overwritten
  float* dst = out->data();
  size_t i = 0;
  for (element v : values) {
    double d;
    int64_t k;
    if (!v.get_int64().get(k)) {   // simplified data: integers, always within float range
      d = static_cast<double>(k);  // rounded as get_double() would, then to float below
    } else if (v.get_double().get(d) || !(std::fabs(d) <= FLT_MAX)) {
      // Converting a double beyond float range is undefined behaviour, so reject it first.
      return NumberError(v, stroke, i, axis);
    }
    if (i == n) {  // only after a saturated size()
      if (n >= limits.max_points_per_stroke) {
        return absl::InvalidArgumentError(absl::StrCat("stroke ", stroke, " has more than ", n,
                                                       " points, the limit is ",
                                                       limits.max_points_per_stroke));
      }
      out->resize(++n);
      dst = out->data();
    }
    dst[i++] = static_cast<float>(d);
  }
  return absl::OkStatus();
}

// Bounds on the pool of recycled strokes; real strokes rarely reach a thousand points.
constexpr size_t kMaxSpareStrokes = 256;
constexpr size_t kMaxSparePoints = 1024;

// One stroke; `*arity` is 0 before the first stroke, then 2 (simplified) or 3 (raw).
absl::Status DecodeStroke(element value, size_t index, const SketchLimits& limits, size_t* arity,
                          size_t* total_points, Stroke* stroke) {
  simdjson::dom::array parts;
  if (value.get_array().get(parts)) {
    return absl::InvalidArgumentError(absl::StrCat("stroke ", index, " is not an array"));
  }
  const size_t n = parts.size();
  if (n != 2 && n != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stroke ", index, " has ", n, " arrays, expected [x, y] (simplified) or [x, y, t] (raw)"));
  }
  if (*arity == 0) *arity = n;
  if (*arity != n) {
    return absl::InvalidArgumentError(absl::StrCat("stroke ", index, " has ", n,
                                                   " arrays but stroke 0 has ", *arity,
                                                   ": simplified and raw strokes are mixed"));
  }
  auto it = parts.begin();
  RETURN_IF_ERROR(DecodeNumbers(*it, index, "x", limits, &stroke->x));
  RETURN_IF_ERROR(DecodeNumbers(*++it, index, "y", limits, &stroke->y));
  stroke->t.clear();
  if (n == 3) RETURN_IF_ERROR(DecodeNumbers(*++it, index, "t", limits, &stroke->t));
  const size_t points = stroke->x.size();
  if (stroke->y.size() != points) {
    return absl::InvalidArgumentError(
        absl::StrCat("stroke ", index, " has ", points, " x but ", stroke->y.size(), " y values"));
  }
  if (n == 3 && stroke->t.size() != points) {
    return absl::InvalidArgumentError(absl::StrCat("stroke ", index, " has ", points,
                                                   " points but ", stroke->t.size(), " times"));
  }
  *total_points += points;
  if (*total_points > limits.max_total_points) {
    return absl::InvalidArgumentError(
        absl::StrCat("drawing has more than ", limits.max_total_points, " points in total"));
  }
  return absl::OkStatus();
}

// Gives `*strokes` n entries, parking extra ones in `*spare` and taking new ones from it, so
// that their vectors keep their capacity from record to record. The pool holds at most
// kMaxSpareStrokes strokes of at most kMaxSparePoints points each (~3 MB), whatever the input.
void ResizeStrokes(size_t n, std::vector<Stroke>* strokes, std::vector<Stroke>* spare) {
  while (strokes->size() > n) {
    const Stroke& last = strokes->back();
    if (spare->size() < kMaxSpareStrokes && last.x.capacity() <= kMaxSparePoints &&
        last.y.capacity() <= kMaxSparePoints && last.t.capacity() <= kMaxSparePoints) {
      spare->push_back(std::move(strokes->back()));
    }
    strokes->pop_back();
  }
  while (strokes->size() < n && !spare->empty()) {
    strokes->push_back(std::move(spare->back()));
    spare->pop_back();
  }
  strokes->resize(n);
}

absl::Status DecodeDrawing(element value, const DecodeContext& context, Sketch* sketch) {
  const SketchLimits& limits = context.limits;
  simdjson::dom::array strokes;
  if (value.get_array().get(strokes)) {
    return absl::InvalidArgumentError("\"drawing\" is not an array");
  }
  // size() saturates at 2^24 - 1, so the loop below checks the bound again.
  const size_t n = strokes.size();
  if (n > limits.max_strokes) {
    return absl::InvalidArgumentError(
        absl::StrCat("drawing has ", n, " strokes, the limit is ", limits.max_strokes));
  }
  ResizeStrokes(n, &sketch->strokes, context.spare_strokes);
  size_t index = 0;
  size_t arity = 0;
  size_t total_points = 0;
  for (element stroke : strokes) {
    if (index >= n) return absl::InvalidArgumentError("drawing has too many strokes");
    RETURN_IF_ERROR(
        DecodeStroke(stroke, index, limits, &arity, &total_points, &sketch->strokes[index]));
    ++index;
  }
  sketch->frame = arity == 3 ? StrokeFrame::kRaw : StrokeFrame::kSimplified;
  return absl::OkStatus();
}

struct FieldSpec {
  std::string_view name;
  absl::Status (*decode)(element, const DecodeContext&, Sketch*);
};

constexpr FieldSpec kFields[] = {
    {"word", DecodeWord},           {"countrycode", DecodeCountry},
    {"timestamp", DecodeTimestamp}, {"recognized", DecodeRecognized},
    {"key_id", DecodeKeyId},        {"drawing", DecodeDrawing},
};

absl::Status DecodeRecord(element root, const DecodeContext& context, Sketch* sketch) {
  simdjson::dom::object object;
  if (root.get_object().get(object)) return absl::InvalidArgumentError("line is not a JSON object");
  unsigned seen = 0;
  for (simdjson::dom::key_value_pair field : object) {
    for (size_t i = 0; i < std::size(kFields); ++i) {
      if (field.key != kFields[i].name) continue;
      if (seen & (1u << i)) {
        return absl::InvalidArgumentError(
            absl::StrCat("duplicate field \"", AsAbsl(field.key), "\""));
      }
      seen |= 1u << i;
      RETURN_IF_ERROR(kFields[i].decode(field.value, context, sketch));
      break;
    }
  }
  for (size_t i = 0; i < std::size(kFields); ++i) {
    if (!(seen & (1u << i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing field \"", AsAbsl(kFields[i].name), "\""));
    }
  }
  return absl::OkStatus();
}

std::string_view TrimBlank(std::string_view line) {
  const size_t first = line.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return line.substr(first, line.find_last_not_of(" \t\r") + 1 - first);
}

class NdjsonReader : public SketchReader {
 public:
  NdjsonReader(std::unique_ptr<std::istream> in, std::string name, const ReaderOptions& options,
               const NdjsonTuning& tuning)
      : lines_(std::move(in), tuning.max_line_bytes), name_(std::move(name)), options_(options) {}

  absl::StatusOr<bool> Next(Sketch* sketch) override;

  std::string Position() const override {
    return absl::StrCat(name_, ":line ", lines_.line_number());
  }

 private:
  // The reason the line is not a valid record, or OK with `*sketch` filled and validated.
  absl::Status DecodeLine(std::string_view line, Sketch* sketch);

  LineSource lines_;
  const std::string name_;
  const ReaderOptions options_;
  simdjson::dom::parser parser_;  // reused: its buffers are sized by the longest line so far
  std::optional<StrokeFrame> file_frame_;  // set by the first good record
  std::vector<Stroke> spare_strokes_;      // see DecodeContext
};

absl::StatusOr<bool> NdjsonReader::Next(Sketch* sketch) {
  while (true) {
    std::string_view line;
    absl::StatusOr<bool> got = lines_.Next(&line);
    absl::Status status;
    if (got.ok()) {
      if (!*got) return false;
      // A UTF-8 byte order mark, as some editors write, is not part of the JSON.
      if (lines_.line_number() == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
      line = TrimBlank(line);
      if (line.empty()) continue;
      status = DecodeLine(line, sketch);
      if (status.ok()) return true;
    } else {
      status = got.status();
    }
    if (options_.skip_invalid && absl::IsInvalidArgument(status)) {
      ++skipped_;
      continue;
    }
    return absl::Status(status.code(), absl::StrCat(Position(), ": ", status.message()));
  }
}

absl::Status NdjsonReader::DecodeLine(std::string_view line, Sketch* sketch) {
  sketch->bitmap.size = 0;
  sketch->bitmap.pixels.clear();
  element root;
  // The line lives in LineSource's padded buffer, so no copy is needed (realloc_if_needed false).
  const simdjson::error_code error = parser_.parse(line.data(), line.size(), false).get(root);
  absl::Status status = error ? absl::InvalidArgumentError(absl::StrCat(
                                    "malformed JSON: ", simdjson::error_message(error)))
                              : DecodeRecord(root, {options_.limits, &spare_strokes_}, sketch);
  if (line.size() > kShrinkParserAbove) parser_ = simdjson::dom::parser();  // frees its buffers
  RETURN_IF_ERROR(status);
  RETURN_IF_ERROR(ValidateSketch(*sketch, options_.limits));
  if (file_frame_.has_value() && *file_frame_ != sketch->frame) {
    return absl::InvalidArgumentError(
        *file_frame_ == StrokeFrame::kRaw
            ? "simplified strokes [x, y] in a file whose earlier records are raw [x, y, t]"
            : "raw strokes [x, y, t] in a file whose earlier records are simplified [x, y]");
  }
  file_frame_ = sketch->frame;
  return absl::OkStatus();
}

}  // namespace

std::unique_ptr<SketchReader> MakeNdjsonReader(std::unique_ptr<std::istream> in, std::string name,
                                               const ReaderOptions& options,
                                               const NdjsonTuning& tuning) {
  return std::make_unique<NdjsonReader>(std::move(in), std::move(name), options, tuning);
}

}  // namespace sketch
