// numpy's .npy container, the one codec for every .npy file here: a strict reader of the header
// (magic, format version 1.0 or 2.0, the Python dict literal with descr, fortran_order and shape)
// and the float32 array codec a trained model's mean image is stored with. core/npy_reader.h
// streams Quick, Draw!'s uint8 bitmaps over the same header reader.
#ifndef SKETCH_CORE_NPY_FORMAT_H_
#define SKETCH_CORE_NPY_FORMAT_H_

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace sketch {

// What a .npy header declares.
struct NpyArrayHeader {
  std::string descr;           // numpy dtype string, e.g. "|u1", "<f4"
  std::vector<int64_t> shape;  // 1 to 3 dimensions; C order (fortran_order True is refused)
};

// Parses the header at the start of `in` strictly: exactly the keys descr, fortran_order
// (False) and shape, a shape of at most 3 dimensions, a header of at most 64 KiB. Leaves `in`
// at the first data byte. InvalidArgument "<name>: bad .npy header: <why>" otherwise.
absl::StatusOr<NpyArrayHeader> ReadNpyArrayHeader(std::istream& in, const std::string& name);

// The bytes of a .npy v1.0 file holding `values` as a C-order little-endian float32 array of
// `shape` (what np.save writes; data 64-byte aligned). The product of `shape` must equal
// values.size(). Little-endian hosts only.
std::string EncodeNpyFloat32(absl::Span<const float> values, absl::Span<const int64_t> shape);

// The inverse: the values of a float32 ('<f4') C-order .npy file of exactly `shape` and nothing
// after the data. DataLoss naming `name` otherwise.
absl::StatusOr<std::vector<float>> DecodeNpyFloat32(const std::string& bytes,
                                                    absl::Span<const int64_t> shape,
                                                    const std::string& name);

}  // namespace sketch

#endif  // SKETCH_CORE_NPY_FORMAT_H_
