// The ndjson reader's fast path: a hand-written decoder for the common shape of a Quick, Draw!
// record, several times faster than a general JSON parser on these coordinate-heavy lines.
// It accepts a strict subset of JSON only (the six known fields once each, ASCII strings without
// escapes, plain numbers) and answers "not handled" for anything else, every error included;
// the simdjson path then decodes or reports that line. Both paths must produce identical
// sketches, which the ndjson fuzzer checks. An implementation detail of core/ndjson_reader.cc.
#ifndef SKETCH_CORE_NDJSON_FAST_PATH_H_
#define SKETCH_CORE_NDJSON_FAST_PATH_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/sketch.h"
#include "core/sketch_validation.h"

namespace sketch {

// True with every field of `*sketch` set (not yet validated by ValidateSketch) when `line` is a
// well-formed record of the common shape within `limits`'s stroke and point counts; false
// otherwise, leaving `*sketch` partly overwritten. Strokes beyond the record's count move to
// `spare` and new ones come from it, so a reused Sketch stops allocating once warm (bounded by
// the largest record). Thread-compatible.
bool FastDecodeNdjsonRecord(std::string_view line, const SketchLimits& limits, Sketch* sketch,
                            std::vector<Stroke>* spare);

// Unix seconds (floored) of a dataset timestamp such as "2017-03-02 23:25:10.07453 UTC": the
// canonical form is decoded directly, anything else goes through absl::ParseTime with the same
// format, "%Y-%m-%d %H:%M:%E*S UTC". False if the text is not such a time.
bool ParseQuickDrawTimestamp(std::string_view text, int64_t* seconds);

}  // namespace sketch

#endif  // SKETCH_CORE_NDJSON_FAST_PATH_H_
