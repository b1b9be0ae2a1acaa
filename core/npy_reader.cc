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
#include "core/npy_format.h"
#include "core/sketch_validation.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

constexpr int64_t kMaxSide = 4096;  // ValidateSketch's bitmap bound

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Rows of S x S bitmaps from the header's shape: (N, S*S) or (N, S, S).
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
  ASSIGN_OR_RETURN(const NpyArrayHeader header, ReadNpyArrayHeader(in, name));
  auto bad = [&name](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": bad .npy header: ", why));
  };
  if (header.descr != "|u1" && header.descr != "<u1") {
    return bad(absl::StrCat("dtype '", absl::CHexEscape(AsAbsl(header.descr).substr(0, 20)),
                            "' is not uint8 ('|u1')"));
  }
  absl::StatusOr<NpyShape> shape = ShapeOf(header.shape);
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
