#include "core/ndjson_fast_path.h"

#include <cfloat>
#include <charconv>
#include <cmath>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace sketch {
namespace {

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

// "YYYY-MM-DD HH:MM:SS[.f{1,9}] UTC" with in-range fields; anything else is left to ParseTime.
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

// A cursor over one line that decodes the common record shape and gives up on anything else.
class FastRecordParser {
 public:
  FastRecordParser(std::string_view line, const SketchLimits& limits, Sketch* sketch,
                   std::vector<Stroke>* spare)
      : p_(line.data()),
        end_(line.data() + line.size()),
        limits_(limits),
        sketch_(sketch),
        spare_(spare) {}

  bool Record();

 private:
  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) ++p_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  bool String(std::string_view* out);
  bool Integer(uint64_t* magnitude, bool* negative, int max_digits);
  bool Number(float* out);
  bool Numbers(std::vector<float>* out);
  bool StrokeArrays(Stroke* stroke, size_t* arity, size_t* total_points);
  bool Drawing();
  bool Word();
  bool Country();
  bool Timestamp();
  bool Recognized();
  bool KeyId();
  bool Field(int index);  // the value of kFieldNames[index]

  const char* p_;
  const char* const end_;
  const SketchLimits& limits_;
  Sketch* const sketch_;
  std::vector<Stroke>* const spare_;
};

// Printable ASCII only and no escapes: anything else (UTF-8 included) takes the slow path.
bool FastRecordParser::String(std::string_view* out) {
  if (!Eat('"')) return false;
  const char* start = p_;
  while (p_ < end_ && *p_ != '"') {
    const char c = *p_;
    if (c < 0x20 || c > 0x7e || c == '\\') return false;
    ++p_;
  }
  if (p_ == end_) return false;
  *out = std::string_view(start, p_ - start);
  ++p_;
  return true;
}

// A JSON integer (no leading zeros) of at most `max_digits` digits, not followed by a
// fraction or an exponent.
bool FastRecordParser::Integer(uint64_t* magnitude, bool* negative, int max_digits) {
  SkipSpace();
  *negative = p_ < end_ && *p_ == '-';
  if (*negative) ++p_;
  const char* start = p_;
  uint64_t v = 0;
  while (p_ < end_ && IsDigit(*p_)) v = v * 10 + static_cast<uint64_t>(*p_++ - '0');
  const auto digits = p_ - start;
  if (digits == 0 || digits > max_digits || (*start == '0' && digits > 1)) return false;
  if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
  *magnitude = v;
  return true;
}

bool FastRecordParser::Number(float* out) {
  SkipSpace();
  const char* start = p_;
  if (p_ < end_ && *p_ == '-') ++p_;
  const char* digits = p_;
  // Up to 15 digits convert to double exactly, as simdjson's integer path does.
  uint64_t v = 0;
  while (p_ < end_ && IsDigit(*p_)) v = v * 10 + static_cast<uint64_t>(*p_++ - '0');
  const auto count = p_ - digits;
  if (count == 0 || (*digits == '0' && count > 1)) return false;
  const bool decimal = p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E');
  if (!decimal) {
    if (count > 15) return false;
    const double d = static_cast<double>(v);
    *out = static_cast<float>(*start == '-' ? -d : d);
    return true;
  }
  if (*p_ == '.') {
    const char* fraction = ++p_;
    while (p_ < end_ && IsDigit(*p_)) ++p_;
    if (p_ == fraction) return false;
  }
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    ++p_;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    const char* exponent = p_;
    while (p_ < end_ && IsDigit(*p_)) ++p_;
    if (p_ == exponent) return false;
  }
  // Correctly rounded like simdjson; range errors (and subnormals) take the slow path.
  double d;
  const std::from_chars_result result = std::from_chars(start, p_, d);
  if (result.ec != std::errc() || result.ptr != p_ || !(std::fabs(d) <= FLT_MAX)) return false;
  *out = static_cast<float>(d);
  return true;
}

bool FastRecordParser::Numbers(std::vector<float>* out) {
  out->clear();
  if (!Eat('[')) return false;
  if (Eat(']')) return true;
  // The hot loop of the whole reader: locals instead of members let the compiler keep the
  // cursor in a register, and plain integers followed by ',' or ']' skip the general path.
  const char* p = p_;
  const char* const end = end_;
  const size_t max_points = limits_.max_points_per_stroke;
  while (true) {
    float value;
    const char* start = p;
    uint64_t v = 0;
    while (p < end && IsDigit(*p)) v = v * 10 + static_cast<uint64_t>(*p++ - '0');
    const auto digits = p - start;
    if (digits > 0 && digits <= 15 && (*start != '0' || digits == 1) &&
        (p == end || (*p != '.' && *p != 'e' && *p != 'E'))) {
      value = static_cast<float>(static_cast<double>(v));  // exact, as in simdjson
    } else {
      p_ = start;  // a sign, a fraction, an exponent, spaces or an error
      if (!Number(&value)) return false;
      p = p_;
    }
    if (out->size() >= max_points) return false;
    out->push_back(value);
    if (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
      p_ = p;
      SkipSpace();
      p = p_;
    }
    if (p == end) return false;
    const char c = *p++;
    if (c == ']') break;
    if (c != ',') return false;
  }
  p_ = p;
  return true;
}

bool FastRecordParser::StrokeArrays(Stroke* stroke, size_t* arity, size_t* total_points) {
  if (!Eat('[') || !Numbers(&stroke->x) || !Eat(',') || !Numbers(&stroke->y)) return false;
  size_t n = 2;
  stroke->t.clear();
  if (Eat(',')) {
    if (!Numbers(&stroke->t)) return false;
    n = 3;
  }
  if (!Eat(']')) return false;
  if (*arity == 0) *arity = n;
  const size_t points = stroke->x.size();
  *total_points += points;
  return *arity == n && stroke->y.size() == points && (n == 2 || stroke->t.size() == points) &&
         *total_points <= limits_.max_total_points;
}

bool FastRecordParser::Drawing() {
  std::vector<Stroke>& strokes = sketch_->strokes;
  if (!Eat('[')) return false;
  size_t n = 0;
  size_t arity = 0;
  size_t total_points = 0;
  if (!Eat(']')) {
    do {
      if (n >= limits_.max_strokes) return false;
      if (n == strokes.size()) {  // else reuse that Stroke's capacity
        if (spare_->empty()) {
          strokes.emplace_back();
        } else {
          strokes.push_back(std::move(spare_->back()));
          spare_->pop_back();
        }
      }
      if (!StrokeArrays(&strokes[n], &arity, &total_points)) return false;
      ++n;
    } while (Eat(','));
    if (!Eat(']')) return false;
  }
  while (strokes.size() > n) {
    spare_->push_back(std::move(strokes.back()));
    strokes.pop_back();
  }
  sketch_->frame = arity == 3 ? StrokeFrame::kRaw : StrokeFrame::kSimplified;
  return true;
}

bool FastRecordParser::Word() {
  std::string_view text;
  if (!String(&text) || text.empty()) return false;
  sketch_->word.assign(text.data(), text.size());
  return true;
}

bool FastRecordParser::Country() {
  std::string_view text;
  if (!String(&text) || (text.size() != 0 && text.size() != 2) ||
      text.find(' ') != std::string_view::npos) {
    return false;
  }
  sketch_->countrycode.assign(text.data(), text.size());
  return true;
}

bool FastRecordParser::Timestamp() {
  SkipSpace();
  std::string_view text;
  if (p_ < end_ && *p_ == '"') {
    return String(&text) && ParseQuickDrawTimestamp(text, &sketch_->timestamp);
  }
  uint64_t magnitude;
  bool negative;
  if (!Integer(&magnitude, &negative, 18)) return false;
  const auto value = static_cast<int64_t>(magnitude);
  sketch_->timestamp = negative ? -value : value;
  return true;
}

bool FastRecordParser::Recognized() {
  SkipSpace();
  const std::string_view rest(p_, end_ - p_);
  for (const bool value : {true, false}) {
    const std::string_view literal = value ? "true" : "false";
    if (rest.substr(0, literal.size()) == literal) {
      p_ += literal.size();
      sketch_->recognized = value;
      return true;
    }
  }
  return false;
}

bool FastRecordParser::KeyId() {
  SkipSpace();
  uint64_t magnitude = 0;
  bool negative = false;
  if (p_ < end_ && *p_ == '"') {
    std::string_view text;
    if (!String(&text) || text.empty() || text.size() > 19) return false;
    for (const char c : text) {
      if (!IsDigit(c)) return false;
      magnitude = magnitude * 10 + static_cast<uint64_t>(c - '0');
    }
  } else if (!Integer(&magnitude, &negative, 19) || negative) {
    return false;
  }
  sketch_->key_id = magnitude;
  return true;
}

constexpr std::string_view kFieldNames[] = {"word",       "countrycode", "timestamp",
                                            "recognized", "key_id",      "drawing"};
constexpr int kNumFields = 6;

bool FastRecordParser::Field(int index) {
  switch (index) {
    case 0:
      return Word();
    case 1:
      return Country();
    case 2:
      return Timestamp();
    case 3:
      return Recognized();
    case 4:
      return KeyId();
    default:
      return Drawing();
  }
}

bool FastRecordParser::Record() {
  if (!Eat('{')) return false;
  unsigned seen = 0;
  do {
    std::string_view key;
    if (!String(&key) || !Eat(':')) return false;
    int index = 0;
    while (index < kNumFields && kFieldNames[index] != key) ++index;
    if (index == kNumFields || (seen & (1u << index)) != 0) return false;  // unknown or duplicate
    seen |= 1u << index;
    if (!Field(index)) return false;
  } while (Eat(','));
  if (!Eat('}')) return false;
  SkipSpace();
  return p_ == end_ && seen == (1u << kNumFields) - 1;
}

}  // namespace

bool FastDecodeNdjsonRecord(std::string_view line, const SketchLimits& limits, Sketch* sketch,
                            std::vector<Stroke>* spare) {
  return FastRecordParser(line, limits, sketch, spare).Record();
}

bool ParseQuickDrawTimestamp(std::string_view text, int64_t* seconds) {
  if (ParseCanonicalTimestamp(text, seconds)) return true;
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%d %H:%M:%E*S UTC", absl::string_view(text.data(), text.size()),
                       &time, &error) ||
      time == absl::InfiniteFuture() || time == absl::InfinitePast()) {
    return false;
  }
  *seconds = absl::ToUnixSeconds(time);
  return true;
}

}  // namespace sketch
