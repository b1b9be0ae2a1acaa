// Fakes for the serving tests (server and client): an Embedder whose outputs follow from the
// drawing, with hooks to block, fail or misbehave, and a brute-force FeatureIndex.
#ifndef SKETCH_TESTS_SERVER_TEST_FAKES_H_
#define SKETCH_TESTS_SERVER_TEST_FAKES_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/sketch.h"
#include "index/feature_index.h"
#include "server/embedder.h"

namespace sketch::testing {

// A feature of `dimension` (>= 4) values from the drawing's geometry: centroid, stroke and point
// counts (bitmap: mean ink, size). With `class_weight` > 0, the word's class (its index in
// `classes`, if any) adds a one-hot block that separates classes perfectly.
inline std::vector<float> FakeFeature(const Sketch& sketch, int dimension,
                                      const std::vector<std::string>& classes, float class_weight) {
  std::vector<float> f(dimension, 0.0f);
  if (sketch.is_bitmap()) {
    double ink = 0;
    for (uint8_t p : sketch.bitmap.pixels) ink += p;
    f[0] = static_cast<float>(ink / sketch.bitmap.pixels.size() / 255.0);
    f[1] = sketch.bitmap.size / 100.0f;
  } else {
    double sx = 0, sy = 0;
    for (const Stroke& s : sketch.strokes) {
      for (size_t i = 0; i < s.size(); ++i) sx += s.x[i], sy += s.y[i];
    }
    const double n = std::max<size_t>(sketch.num_points(), 1);
    f[0] = static_cast<float>(sx / n / 255.0);
    f[1] = static_cast<float>(sy / n / 255.0);
    f[2] = sketch.strokes.size() / 10.0f;
    f[3] = static_cast<float>(n / 100.0);
  }
  const auto it = std::find(classes.begin(), classes.end(), sketch.word);
  if (class_weight > 0 && it != classes.end() && dimension > 4) {
    f[4 + (it - classes.begin()) % (dimension - 4)] += class_weight;
  }
  return f;
}

// The label FakeEmbedder puts first: the word's class when known, else strokes modulo classes.
inline int FakeLabel(const Sketch& sketch, const std::vector<std::string>& classes) {
  const auto it = std::find(classes.begin(), classes.end(), sketch.word);
  if (it != classes.end()) return static_cast<int>(it - classes.begin());
  return static_cast<int>(sketch.strokes.size() % classes.size());
}

class FakeEmbedder : public Embedder {
 public:
  FakeEmbedder(std::vector<std::string> classes, int dimension, float class_weight = 0)
      : classes_(std::move(classes)), dimension_(dimension), class_weight_(class_weight) {}

  // Probabilities: (n + 1) / 2n for FakeLabel, 1 / 2n for every other class (sum 1).
  absl::StatusOr<EmbedResult> EmbedBatch(const std::vector<const Sketch*>& sketches) override {
    {
      absl::MutexLock lock(&mu_);
      batch_sizes_.push_back(static_cast<int>(sketches.size()));
      for (const Sketch* s : sketches) seen_key_ids_.push_back(s->key_id);
    }
    if (!entered_.HasBeenNotified()) entered_.Notify();
    if (gate_ != nullptr) gate_->WaitForNotification();
    absl::SleepFor(delay_ * static_cast<double>(sketches.size()));
    if (!fail_with_.ok()) return fail_with_;
    EmbedResult result;
    const size_t n = classes_.size();
    for (const Sketch* s : sketches) {
      Embedding e;
      e.probabilities.assign(n, 1.0f / (2 * n));
      e.probabilities[FakeLabel(*s, classes_)] = (n + 1.0f) / (2 * n);
      e.feature = FakeFeature(*s, dimension_, classes_, class_weight_);
      result.embeddings.push_back(std::move(e));
    }
    if (malformed_) result.embeddings.pop_back();
    return result;
  }

  int num_classes() const override { return static_cast<int>(classes_.size()); }
  const std::vector<std::string>& class_names() const override { return classes_; }
  int dimension() const override { return dimension_; }
  int input_size() const override { return 128; }

  // Hooks; set before use.
  void set_gate(absl::Notification* gate) { gate_ = gate; }             // EmbedBatch waits on it
  void set_delay(absl::Duration per_drawing) { delay_ = per_drawing; }  // a slower model
  void set_fail_with(absl::Status status) { fail_with_ = std::move(status); }
  void set_malformed(bool malformed) { malformed_ = malformed; }  // one embedding short

  // Notified when the first EmbedBatch call starts.
  absl::Notification& entered() { return entered_; }
  std::vector<int> batch_sizes() const {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }
  std::vector<uint64_t> seen_key_ids() const {
    absl::MutexLock lock(&mu_);
    return seen_key_ids_;
  }

 private:
  const std::vector<std::string> classes_;
  const int dimension_;
  const float class_weight_;
  absl::Notification* gate_ = nullptr;
  absl::Duration delay_ = absl::ZeroDuration();
  absl::Status fail_with_;
  bool malformed_ = false;
  absl::Notification entered_;
  mutable absl::Mutex mu_;
  std::vector<int> batch_sizes_;
  std::vector<uint64_t> seen_key_ids_;
};

// Exact search by brute force, with FeatureIndex's contract (ties by id, filters, k checks).
class FakeIndex : public FeatureIndex {
 public:
  FakeIndex(std::vector<float> features, int dimension, std::vector<IndexedSketch> metadata)
      : features_(std::move(features)), dimension_(dimension), metadata_(std::move(metadata)) {}

  int dimension() const override { return dimension_; }
  int64_t size() const override { return static_cast<int64_t>(metadata_.size()); }
  const IndexedSketch& metadata(int64_t id) const override { return metadata_[id]; }

  absl::StatusOr<std::vector<std::vector<Neighbor>>> Search(
      absl::Span<const float> queries, int k, const SearchFilter& filter) const override {
    if (queries.empty() || queries.size() % dimension_ != 0) {
      return absl::InvalidArgumentError("bad query shape");
    }
    if (k < 1 || k > size()) return absl::InvalidArgumentError(absl::StrCat("bad k ", k));
    std::vector<std::vector<Neighbor>> results;
    for (size_t q = 0; q < queries.size() / dimension_; ++q) {
      std::vector<Neighbor> row;
      for (int64_t id = 0; id < size(); ++id) {
        if (!Allowed(id, filter)) continue;
        float d = 0;
        for (int j = 0; j < dimension_; ++j) {
          const float diff = queries[q * dimension_ + j] - features_[id * dimension_ + j];
          d += diff * diff;
        }
        row.push_back({id, d});
      }
      std::stable_sort(row.begin(), row.end(), [](const Neighbor& a, const Neighbor& b) {
        return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
      });
      if (row.size() > static_cast<size_t>(k)) row.resize(k);
      results.push_back(std::move(row));
    }
    return results;
  }

 private:
  bool Allowed(int64_t id, const SearchFilter& filter) const {
    const auto& ex = filter.excluded_ids;
    if (std::find(ex.begin(), ex.end(), id) != ex.end()) return false;
    const auto& al = filter.allowed_labels;
    return al.empty() || std::find(al.begin(), al.end(), metadata_[id].label) != al.end();
  }

  std::vector<float> features_;
  int dimension_;
  std::vector<IndexedSketch> metadata_;
};

// A simplified-frame drawing of `strokes` strokes, each a short diagonal starting at `offset`.
inline Sketch MakeSketch(uint64_t key_id, const std::string& word, int strokes = 1,
                         float offset = 0) {
  Sketch sketch;
  sketch.key_id = key_id;
  sketch.word = word;
  for (int s = 0; s < strokes; ++s) {
    Stroke stroke;
    stroke.x = {offset, offset + 10, offset + 20};
    stroke.y = {offset, offset + 5 * (s + 1), offset + 10};
    sketch.strokes.push_back(std::move(stroke));
  }
  return sketch;
}

// The gallery the service tests (gRPC and HTTP) serve: four sketches of cat, dog and fish with 1,
// 2 and 3 strokes, far apart.
inline std::vector<Sketch> ServedSketches() {
  return {MakeSketch(100, "cat", 1, 0), MakeSketch(101, "cat", 1, 30),
          MakeSketch(102, "dog", 2, 60), MakeSketch(103, "fish", 3, 90)};
}

// An index of `sketches` with FakeFeature features and labels from their words' classes.
inline std::unique_ptr<FakeIndex> MakeFakeIndex(const std::vector<Sketch>& sketches,
                                                const std::vector<std::string>& classes,
                                                int dimension, float class_weight = 0) {
  std::vector<float> features;
  std::vector<IndexedSketch> metadata;
  for (const Sketch& s : sketches) {
    std::vector<float> f = FakeFeature(s, dimension, classes, class_weight);
    features.insert(features.end(), f.begin(), f.end());
    const int label =
        static_cast<int>(std::find(classes.begin(), classes.end(), s.word) - classes.begin());
    metadata.push_back({s.key_id, label, s.word});
  }
  return std::make_unique<FakeIndex>(std::move(features), dimension, std::move(metadata));
}

}  // namespace sketch::testing

#endif  // SKETCH_TESTS_SERVER_TEST_FAKES_H_
