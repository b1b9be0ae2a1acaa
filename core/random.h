// A seeded random generator whose sequences are identical on every platform and standard library
// (std::uniform_int_distribution is not), so a seed fixes samples, splits and batch orders.
#ifndef SKETCH_CORE_RANDOM_H_
#define SKETCH_CORE_RANDOM_H_

#include <cstdint>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

namespace sketch {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  uint64_t NextU64() { return engine_(); }

  // Uniform in [0, bound) for bound >= 1, without modulo bias (rejection sampling).
  uint64_t Uniform(uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t r;
    do r = engine_();
    while (r >= limit);
    return r % bound;
  }

  // Uniform in [0, 1).
  double UniformDouble() { return (engine_() >> 11) * (1.0 / 9007199254740992.0); }

  template <typename T>
  void Shuffle(std::vector<T>* items) {
    for (size_t i = items->size(); i > 1; --i) std::swap((*items)[i - 1], (*items)[Uniform(i)]);
  }

 private:
  std::mt19937_64 engine_;
};

// A seed for one named stream (a class, a worker) derived from a run's seed: independent streams
// that do not depend on the order in which they are created.
inline uint64_t DeriveSeed(uint64_t seed, std::string_view name) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL + h;  // SplitMix64 finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace sketch

#endif  // SKETCH_CORE_RANDOM_H_
