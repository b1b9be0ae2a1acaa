// The request fuzz body: arbitrary bytes parsed as one of the sketchsearch.v1 request messages
// and taken down the path a request follows before the network, apart from the libFuzzer entry
// point so that the normal test build replays saved inputs through it too
// (tests/fuzz/request_regressions_test.cc).
#ifndef SKETCH_TESTS_FUZZ_REQUEST_BODY_H_
#define SKETCH_TESTS_FUZZ_REQUEST_BODY_H_

#include <cstddef>
#include <cstdint>

#include "core/rasterizer.h"
#include "server/wire_check.h"

namespace sketch {

// The request messages the service converts before running the model.

// The first input byte: which message the rest is, and the raster options of the model that would
// receive it (RasterStyle, and a model input size from kFuzzRasterSizes). Seed writers use it so
// their inputs mean what the body reads.
// Bits 0-2: the kind (mod 5); bit 3: kSeed; bits 4-5: the index into kFuzzRasterSizes.
inline constexpr int kFuzzRasterSizes[] = {16, 32, 64, 128};
// The selector's low three bits pick one of the first five request kinds (server/wire_check.h:
// Classify, Search, Embed, ClassifyBatch, SearchBatch).
inline constexpr int kRequestKinds = 5;
inline constexpr int kSelectorStyleBit = 3;
inline constexpr int kSelectorSizeShift = 4;
constexpr uint8_t RequestSelector(RequestKind kind, RasterStyle style, int raster_size_index) {
  return static_cast<uint8_t>(static_cast<int>(kind) |
                              (style == RasterStyle::kSeed ? 1 << kSelectorStyleBit : 0) |
                              (raster_size_index & 3) << kSelectorSizeShift);
}

// data[0] is the selector; data[1..] is parsed as that message, as gRPC does, and goes through
// the service's conversion with the default RequestLimits (ToClassifyQuery, ToSearchQuery,
// DrawingToSketch, ToClassifyQueries, ToSearchQueries: the request checks, ValidateSketch,
// NormalizeToSimplified), then every accepted drawing is rasterized with the model's options, as
// the Embedder does. Checks, aborting when one fails: a rejection is InvalidArgument whose message
// starts with a field path of that message ("requests[2].drawing.ink: ..."); an accepted drawing
// is a bitmap or simplified, passes ValidateSketch, keeps its metadata and stroke count (a
// simplified one is unchanged) and rasterizes; the query echoes the request; a batch converts as
// its requests do one by one. Returns whether the message parsed and the service accepted it.
bool FuzzRequest(const uint8_t* data, size_t size);

}  // namespace sketch

#endif  // SKETCH_TESTS_FUZZ_REQUEST_BODY_H_
