// The bodies of the libFuzzer targets, kept apart from LLVMFuzzerTestOneInput so that the
// normal (gcc) test build replays saved crash inputs through the same code
// (tests/core/fuzz_regressions_test.cc). A body must survive any bytes; a broken invariant
// aborts, which the fuzzer reports as a crash.
#ifndef SKETCH_TESTS_FUZZ_FUZZ_BODIES_H_
#define SKETCH_TESTS_FUZZ_FUZZ_BODIES_H_

#include <cstddef>
#include <cstdint>

namespace sketch {

// `data` as an ndjson stroke file, read strictly and with skip_invalid: every record returned
// validates, errors name the file, the strict records are a prefix of the skipping ones, and
// simplified records survive a .bin round trip.
void FuzzNdjson(const uint8_t* data, size_t size);

// `data` as a .bin file, with the same checks; a file read to its end without an error must
// re-encode to exactly `data`.
void FuzzBinary(const uint8_t* data, size_t size);

// `data` as a numpy_bitmap .npy file, with the same checks; rows are numbered 0, 1, ...
void FuzzNpy(const uint8_t* data, size_t size);

}  // namespace sketch

#endif  // SKETCH_TESTS_FUZZ_FUZZ_BODIES_H_
