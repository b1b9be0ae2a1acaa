#include "index/l2_normalize.h"

#include <cmath>

namespace sketch {

void L2NormalizeRows(std::vector<float>* rows, int dimension) {
  if (dimension <= 0) return;
  for (size_t start = 0; start + dimension <= rows->size(); start += dimension) {
    double norm = 0;
    for (int j = 0; j < dimension; ++j) norm += double((*rows)[start + j]) * (*rows)[start + j];
    if (norm <= 0) continue;
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (int j = 0; j < dimension; ++j) (*rows)[start + j] *= inv;
  }
}

}  // namespace sketch
