// Streaming reader for numpy_bitmap .npy files: a uint8 array of N square grayscale bitmaps,
// shape (N, S*S) as Google ships them (S = 28) or (N, S, S), one Bitmap sketch per row.
#ifndef SKETCH_CORE_NPY_READER_H_
#define SKETCH_CORE_NPY_READER_H_

#include <cstdint>
#include <istream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/sketch_reader.h"

namespace sketch {

// What a .npy header says about the array.
struct NpyShape {
  int64_t rows = 0;  // N
  int side = 0;      // S: each row is an S x S bitmap
};

// Parses the header at the start of `in` (format version 1.0 or 2.0) strictly: descr '|u1' or
// '<u1', fortran_order False, a shape as above with 1 <= S <= 4096, no other keys. Leaves `in`
// at the first data byte. InvalidArgument naming `name` and the problem otherwise.
absl::StatusOr<NpyShape> ReadNpyHeader(std::istream& in, const std::string& name);

// Reads the header, then streams the rows: key_id is the 0-based row index, word is
// options.word, and Position() is "<name>:record <row>". A row cut short is DataLoss, bytes
// after the last row InvalidArgument (each skipped and counted with skip_invalid, ending the
// stream). Memory stays at one row.
absl::StatusOr<std::unique_ptr<SketchReader>> MakeNpyReader(std::unique_ptr<std::istream> in,
                                                            std::string name,
                                                            const ReaderOptions& options);

}  // namespace sketch

#endif  // SKETCH_CORE_NPY_READER_H_
