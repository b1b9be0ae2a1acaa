// L2 normalization of feature vectors: the one function that scales both the indexed rows
// (`sketch-trainer bundle --features l2`) and the queries against them (QueryNormalizingIndex),
// so a drawing of the indexed set finds itself at distance 0 exactly.
#ifndef SKETCH_INDEX_L2_NORMALIZE_H_
#define SKETCH_INDEX_L2_NORMALIZE_H_

#include <vector>

namespace sketch {

// Scales each row of float [n, dimension] to unit L2 norm in place (the norm summed in double);
// a zero row stays zero. A trailing partial row (rows->size() not a multiple of dimension) is
// left as it is.
void L2NormalizeRows(std::vector<float>* rows, int dimension);

}  // namespace sketch

#endif  // SKETCH_INDEX_L2_NORMALIZE_H_
