#include "index/faiss_index_builder.h"

#include <faiss/IVFlib.h>
#include <faiss/Index.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

using idx_t = faiss::Index::idx_t;

// FAISS's k-means wants 39..256 training points per centroid; 40 keeps the sample small.
constexpr int64_t kTrainingPointsPerCentroid = 40;
// A PQ or OPQ codebook has 256 centroids per sub-quantizer (8-bit codes).
constexpr int64_t kCodebookCentroids = 256;

}  // namespace

absl::Status CheckFinite(absl::Span<const float> values, const char* what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(what, " value ", i, " is not finite"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRows(absl::Span<const float> values, int dimension, const char* what) {
  if (values.empty() || values.size() % static_cast<size_t>(dimension) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " of size ", values.size(), " are not rows of dimension ", dimension));
  }
  return CheckFinite(values, what);
}

absl::StatusOr<FaissIndexBuilder> FaissIndexBuilder::Create(int dimension, const IndexSpec& spec) {
  RETURN_IF_ERROR(ValidateIndexSpec(spec));
  if (dimension <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("index dimension ", dimension, " is not positive"));
  }
  ASSIGN_OR_RETURN(const IndexKind kind, IndexKindOfType(spec.type));
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(faiss::index_factory(dimension, spec.type.c_str(), faiss::METRIC_L2));
  } catch (const faiss::FaissException& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("index type \"", spec.type, "\": FAISS refuses it: ", e.what()));
  }
  absl::StatusOr<IndexKind> made = FaissIndex::KindOf(*index);
  if (!made.ok() || *made != kind) {
    return absl::InvalidArgumentError(absl::StrCat(
        "index type \"", spec.type, "\" makes a FAISS index FaissIndex cannot search"));
  }
  // The factory asks IVF-PQ for polysemous training, which only serves Hamming-distance
  // filtering (polysemous_ht) that FaissIndex never enables; it costs ~40 s per training.
  if (auto* ivfpq =
          dynamic_cast<faiss::IndexIVFPQ*>(faiss::ivflib::try_extract_index_ivf(index.get()))) {
    ivfpq->do_polysemous_training = false;
  }
  return FaissIndexBuilder(std::move(index), kind, spec);
}

FaissIndexBuilder::FaissIndexBuilder(std::unique_ptr<faiss::Index> index, IndexKind kind,
                                     const IndexSpec& spec)
    : index_(std::move(index)), kind_(kind), spec_(spec) {}
FaissIndexBuilder::FaissIndexBuilder(FaissIndexBuilder&&) noexcept = default;
FaissIndexBuilder& FaissIndexBuilder::operator=(FaissIndexBuilder&&) noexcept = default;
FaissIndexBuilder::~FaissIndexBuilder() = default;

bool FaissIndexBuilder::needs_training() const { return !index_->is_trained; }

int64_t FaissIndexBuilder::TrainingSampleSize(int64_t total) const {
  if (!needs_training()) return 0;
  int64_t centroids = 0;
  if (const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(index_.get())) {
    centroids = static_cast<int64_t>(ivf->nlist);
  }
  // Compressed codes (PQ, OPQ, SQ) train codebooks too; "IVF...,Flat" alone does not.
  const bool compressed = !absl::EndsWith(spec_.type, ",Flat");
  if (compressed) centroids = std::max(centroids, kCodebookCentroids);
  const int64_t wanted = std::max<int64_t>(centroids * kTrainingPointsPerCentroid, 1);
  return std::min({wanted, spec_.max_training_vectors, total});
}

absl::Status FaissIndexBuilder::Train(absl::Span<const float> sample) {
  RETURN_IF_ERROR(CheckRows(sample, static_cast<int>(index_->d), "training vectors"));
  const idx_t n = static_cast<idx_t>(sample.size() / index_->d);
  // FAISS 1.7.3's OPQ training frees an invalid pointer (aborting the process) when its PQ
  // training throws on too few vectors: refuse before. PQ codebooks need 256 vectors, a
  // transform (OPQ, PCA) as many as the dimension.
  const bool compressed = !absl::EndsWith(spec_.type, ",Flat");
  const bool transformed = dynamic_cast<const faiss::IndexPreTransform*>(index_.get()) != nullptr;
  const idx_t needed =
      std::max<idx_t>(compressed ? kCodebookCentroids : 1, transformed ? index_->d : 1);
  if (n < needed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "index type \"", spec_.type, "\" needs at least ", needed, " training vectors; got ", n));
  }
  try {
    index_->train(n, sample.data());
  } catch (const faiss::FaissException& e) {
    return absl::InvalidArgumentError(absl::StrCat("index type \"", spec_.type, "\": training on ",
                                                   n, " vectors failed: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status FaissIndexBuilder::Add(absl::Span<const float> features,
                                    std::vector<IndexedSketch> rows) {
  if (!index_->is_trained) {
    return absl::FailedPreconditionError(
        absl::StrCat("index type \"", spec_.type, "\" must be trained before vectors are added"));
  }
  const size_t d = static_cast<size_t>(index_->d);
  if (rows.empty() || features.size() != rows.size() * d) {
    return absl::InvalidArgumentError(absl::StrCat("features of size ", features.size(),
                                                   " do not match ", rows.size(), " x ", d));
  }
  RETURN_IF_ERROR(CheckFinite(features, "feature"));
  for (size_t i = 0; i < rows.size(); ++i) {
    // The metadata file is tab-separated lines.
    if (rows[i].label < -1 || rows[i].word.find_first_of("\t\n") != std::string::npos ||
        rows[i].source.find_first_of("\t\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata row ", metadata_.size() + i,
                       ": label below -1, or a tab or newline in its word or source"));
    }
  }
  const size_t chunk = static_cast<size_t>(spec_.add_chunk);
  try {
    for (size_t start = 0; start < rows.size(); start += chunk) {
      const size_t count = std::min(chunk, rows.size() - start);
      index_->add(static_cast<idx_t>(count), features.data() + start * d);
    }
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(absl::StrCat("FAISS add failed: ", e.what()));
  }
  metadata_.insert(metadata_.end(), std::make_move_iterator(rows.begin()),
                   std::make_move_iterator(rows.end()));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FaissIndex>> FaissIndexBuilder::Finish() && {
  if (metadata_.empty() || index_->ntotal != static_cast<idx_t>(metadata_.size())) {
    return absl::InvalidArgumentError("an index needs at least one vector");
  }
  auto index =
      std::unique_ptr<FaissIndex>(new FaissIndex(std::move(index_), kind_, std::move(metadata_)));
  RETURN_IF_ERROR(index->SetDefaultKnobs(spec_.default_knobs));
  return index;
}

}  // namespace sketch
