// The normalize + rasterize fuzz body, apart from the libFuzzer entry point so that a normal test
// build can replay saved crashes through it too.
#ifndef SKETCH_TESTS_FUZZ_NORMALIZE_RASTERIZE_BODY_H_
#define SKETCH_TESTS_FUZZ_NORMALIZE_RASTERIZE_BODY_H_

#include <cstddef>
#include <cstdint>

namespace sketch {

// Builds a sketch (strokes in either frame, or a bitmap) from arbitrary bytes, including NaN,
// infinite, huge and denormal coordinates and malformed shapes, then checks: Rasterize never
// crashes and succeeds on whatever ValidateSketch accepts; NormalizeToSimplified of a valid
// drawing succeeds and its output passes ValidateSketch and rasterizes. Aborts on a violation.
void FuzzNormalizeRasterize(const uint8_t* data, size_t size);

}  // namespace sketch

#endif  // SKETCH_TESTS_FUZZ_NORMALIZE_RASTERIZE_BODY_H_
