#include "index/faiss_index.h"

#include <faiss/IVFlib.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/atomic_file.h"
#include "core/status_macros.h"
#include "index/faiss_index_builder.h"

namespace sketch {
namespace {

using idx_t = faiss::Index::idx_t;

constexpr char kIndexFile[] = "index.faiss";
constexpr char kMetadataFile[] = "index_metadata.tsv";

// Admits the ids a SearchFilter allows; FAISS 1.7.3 has no AND of selectors. Built in O(filter)
// rather than O(index): a 50M-vector gallery must not cost 50 MB per filtered query.
class FilterSelector : public faiss::IDSelector {
 public:
  FilterSelector(const SearchFilter& filter, const std::vector<IndexedSketch>& metadata)
      : metadata_(metadata), excluded_(filter.excluded_ids) {
    std::sort(excluded_.begin(), excluded_.end());
    for (int label : filter.allowed_labels) {
      if (label == -1) unseen_allowed_ = true;  // the rows of words the model never saw
      if (label < 0) continue;
      if (static_cast<size_t>(label) >= label_allowed_.size()) label_allowed_.resize(label + 1, 0);
      label_allowed_[label] = 1;
    }
    restrict_labels_ = !filter.allowed_labels.empty();
  }
  size_t num_excluded() const { return excluded_.size(); }
  bool is_member(idx_t id) const override {
    if (restrict_labels_) {
      const int label = metadata_[id].label;
      const bool allowed =
          label < 0 ? unseen_allowed_
                    : static_cast<size_t>(label) < label_allowed_.size() && label_allowed_[label];
      if (!allowed) return false;
    }
    return !std::binary_search(excluded_.begin(), excluded_.end(), static_cast<int64_t>(id));
  }

 private:
  const std::vector<IndexedSketch>& metadata_;
  std::vector<int64_t> excluded_;
  std::vector<uint8_t> label_allowed_;
  bool unseen_allowed_ = false;  // label -1 is among the allowed labels
  bool restrict_labels_ = false;
};

// The index a transform (OPQ, PCA) hands its vectors to, or `index` itself.
const faiss::Index& Innermost(const faiss::Index& index) {
  const auto* transformed = dynamic_cast<const faiss::IndexPreTransform*>(&index);
  return transformed == nullptr ? index : *transformed->index;
}
faiss::Index& Innermost(faiss::Index& index) {
  auto* transformed = dynamic_cast<faiss::IndexPreTransform*>(&index);
  return transformed == nullptr ? index : *transformed->index;
}

// An IVF index's stored vector of `id`, found by scanning its lists; false when it is not there.
bool ReconstructFromLists(const faiss::IndexIVF& ivf, idx_t id, float* out) {
  for (size_t list = 0; list < ivf.nlist; ++list) {
    const size_t n = ivf.invlists->list_size(list);
    faiss::InvertedLists::ScopedIds ids(ivf.invlists, list);
    for (size_t offset = 0; offset < n; ++offset) {
      if (ids[offset] == id) {
        ivf.reconstruct_from_offset(static_cast<int64_t>(list), static_cast<int64_t>(offset), out);
        return true;
      }
    }
  }
  return false;
}

absl::StatusOr<std::vector<IndexedSketch>> ReadMetadata(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::vector<IndexedSketch> rows;
  std::string line;
  for (int64_t n = 0; std::getline(in, line);) {
    ++n;
    if (n == 1) continue;  // header
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    IndexedSketch row;
    int64_t id = -1;
    // Four columns before galleries recorded sources; five since.
    if ((cols.size() != 4 && cols.size() != 5) || !absl::SimpleAtoi(cols[0], &id) ||
        id != static_cast<int64_t>(rows.size()) || !absl::SimpleAtoi(cols[1], &row.key_id) ||
        !absl::SimpleAtoi(cols[2], &row.label) || row.label < -1) {
      return absl::DataLossError(absl::StrCat(path, ":line ", n, ": malformed metadata row"));
    }
    row.word = cols[3];
    if (cols.size() == 5) row.source = cols[4];
    rows.push_back(std::move(row));
  }
  return rows;
}

// One FAISS search of `n` queries; each result row holds the ids found (FAISS pads with -1),
// ordered by (distance, id) so that ties are deterministic.
absl::Status RunSearch(const faiss::Index& index, const float* queries, idx_t n, int k,
                       const faiss::SearchParameters* params, std::vector<Neighbor>* rows) {
  std::vector<float> distances(n * k);
  std::vector<idx_t> ids(n * k);
  try {
    index.search(n, queries, k, distances.data(), ids.data(), params);
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(absl::StrCat("FAISS search failed: ", e.what()));
  }
  for (idx_t q = 0; q < n; ++q) {
    std::vector<Neighbor>& row = rows[q];
    row.clear();
    for (int j = 0; j < k; ++j) {
      if (ids[q * k + j] >= 0) row.push_back({ids[q * k + j], distances[q * k + j]});
    }
    std::stable_sort(row.begin(), row.end(), [](const Neighbor& a, const Neighbor& b) {
      return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
    });
  }
  return absl::OkStatus();
}

// HNSW in FAISS 1.7.3 does not walk through the nodes a selector refuses, so a selective filter
// can cut the graph and leave a query with nothing. Instead: search unfiltered for more than k
// (k plus the excluded ids, then doubling, efSearch at least as many), keep the admitted ones, and
// stop at k admitted or once every indexed vector was asked for.
absl::Status OverFetchHnsw(faiss::Index& index, const float* query, int k,
                           faiss::SearchParametersHNSW params, const FilterSelector& selector,
                           int64_t size, std::vector<Neighbor>* row) {
  int64_t fetch = std::min<int64_t>(size, k + selector.num_excluded());
  while (true) {
    params.efSearch = static_cast<int>(std::max<int64_t>(params.efSearch, fetch));
    // The caller holds the exclusive lock: FAISS 1.7.3 takes efSearch from the index.
    dynamic_cast<faiss::IndexHNSW&>(Innermost(index)).hnsw.efSearch = params.efSearch;
    std::vector<Neighbor> candidates;
    RETURN_IF_ERROR(RunSearch(index, query, 1, static_cast<int>(fetch), &params, &candidates));
    row->clear();
    for (const Neighbor& n : candidates) {
      if (selector.is_member(n.id) && static_cast<int>(row->size()) < k) row->push_back(n);
    }
    if (static_cast<int>(row->size()) == k || fetch == size) return absl::OkStatus();
    fetch = std::min<int64_t>(size, 2 * fetch);
  }
}

}  // namespace

FaissIndex::FaissIndex(std::unique_ptr<faiss::Index> index, IndexKind kind,
                       std::vector<IndexedSketch> metadata)
    : index_(std::move(index)), kind_(kind), metadata_(std::move(metadata)) {
  if (const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(&Innermost(*index_))) {
    default_ef_search_ = hnsw->hnsw.efSearch;
  }
}

FaissIndex::~FaissIndex() = default;

absl::StatusOr<IndexKind> FaissIndex::KindOf(const faiss::Index& index) {
  const faiss::Index& inner = Innermost(index);
  if (dynamic_cast<const faiss::IndexIVF*>(&inner) != nullptr) return IndexKind::kIvf;
  if (const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(&inner)) {
    // Only HNSW over raw vectors: the graph search then honours IDSelectors.
    if (dynamic_cast<const faiss::IndexFlat*>(hnsw->storage) != nullptr) return IndexKind::kHnsw;
  }
  if (&inner == &index && dynamic_cast<const faiss::IndexFlat*>(&index) != nullptr &&
      index.metric_type == faiss::METRIC_L2) {
    return IndexKind::kFlat;
  }
  return absl::DataLossError("not a flat L2, IVF or HNSW-flat FAISS index");
}

absl::StatusOr<std::unique_ptr<FaissIndex>> FaissIndex::Build(absl::Span<const float> features,
                                                              int dimension,
                                                              std::vector<IndexedSketch> metadata,
                                                              const IndexSpec& spec) {
  if (dimension <= 0 || metadata.empty() ||
      features.size() != metadata.size() * static_cast<size_t>(dimension)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "features of size ", features.size(), " do not match ", metadata.size(), " x ", dimension));
  }
  ASSIGN_OR_RETURN(FaissIndexBuilder builder, FaissIndexBuilder::Create(dimension, spec));
  const int64_t n = static_cast<int64_t>(metadata.size());
  if (const int64_t m = builder.TrainingSampleSize(n); m > 0) {
    // A seeded random subset, in index order (k-means does not care; it keeps reads local).
    std::vector<int64_t> ids(n);
    for (int64_t i = 0; i < n; ++i) ids[i] = i;
    std::mt19937_64 rng(spec.seed);
    std::shuffle(ids.begin(), ids.end(), rng);
    ids.resize(m);
    std::sort(ids.begin(), ids.end());
    std::vector<float> sample(static_cast<size_t>(m) * dimension);
    for (int64_t i = 0; i < m; ++i) {
      std::copy_n(features.data() + ids[i] * dimension, dimension, sample.data() + i * dimension);
    }
    RETURN_IF_ERROR(builder.Train(sample));
  }
  RETURN_IF_ERROR(builder.Add(features, std::move(metadata)));
  return std::move(builder).Finish();
}

absl::Status FaissIndex::Save(const std::string& dir) const {
  const std::string index_path = dir + "/" + kIndexFile;
  const std::string meta_path = dir + "/" + kMetadataFile;
  try {
    faiss::write_index(index_.get(), index_path.c_str());
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(absl::StrCat("cannot write ", index_path, ": ", e.what()));
  }
  return WriteStreamAtomically(meta_path, [this](std::ostream& out) {
    out << "id\tkey_id\tlabel\tword\tsource\n";
    for (size_t id = 0; id < metadata_.size(); ++id) {
      out << id << '\t' << metadata_[id].key_id << '\t' << metadata_[id].label << '\t'
          << metadata_[id].word << '\t' << metadata_[id].source << '\n';
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::unique_ptr<FaissIndex>> FaissIndex::Load(const std::string& dir) {
  const std::string index_path = dir + "/" + kIndexFile;
  if (!std::filesystem::exists(index_path)) {
    return absl::NotFoundError(absl::StrCat("no index at ", index_path));
  }
  auto metadata = ReadMetadata(dir + "/" + kMetadataFile);
  if (!metadata.ok()) return metadata.status();
  std::unique_ptr<faiss::Index> loaded;
  try {
    loaded.reset(faiss::read_index(index_path.c_str()));
  } catch (const faiss::FaissException& e) {
    return absl::DataLossError(absl::StrCat("corrupt index ", index_path, ": ", e.what()));
  }
  absl::StatusOr<IndexKind> kind = KindOf(*loaded);
  if (!kind.ok())
    return absl::DataLossError(absl::StrCat(index_path, ": ", kind.status().message()));
  if (loaded->ntotal != static_cast<idx_t>(metadata->size()) || metadata->empty() ||
      !loaded->is_trained) {
    return absl::DataLossError(absl::StrCat(index_path, " holds ", loaded->ntotal,
                                            " vectors, not the ", metadata->size(),
                                            " of its metadata"));
  }
  return std::unique_ptr<FaissIndex>(
      new FaissIndex(std::move(loaded), *kind, *std::move(metadata)));
}

int FaissIndex::dimension() const { return static_cast<int>(index_->d); }
int64_t FaissIndex::size() const { return static_cast<int64_t>(index_->ntotal); }
const IndexedSketch& FaissIndex::metadata(int64_t id) const { return metadata_[id]; }

SearchKnobs FaissIndex::default_knobs() const {
  SearchKnobs knobs;
  const faiss::Index& inner = Innermost(*index_);
  if (const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(&inner)) {
    knobs.nprobe = static_cast<int>(ivf->nprobe);
  } else if (kind_ == IndexKind::kHnsw) {
    knobs.ef_search = default_ef_search_;  // FAISS's field changes during some searches
  }
  return knobs;
}

absl::Status FaissIndex::SetDefaultKnobs(const SearchKnobs& knobs) {
  if (knobs.nprobe < 0 || knobs.ef_search < 0) {
    return absl::InvalidArgumentError("default knobs: nprobe and ef_search must be >= 0");
  }
  faiss::Index& inner = Innermost(*index_);
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(&inner); ivf != nullptr && knobs.nprobe > 0) {
    ivf->nprobe = static_cast<size_t>(knobs.nprobe);
  }
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(&inner);
      hnsw != nullptr && knobs.ef_search > 0) {
    hnsw->hnsw.efSearch = knobs.ef_search;
    default_ef_search_ = knobs.ef_search;
  }
  return absl::OkStatus();
}

std::vector<float> FaissIndex::Reconstruct(int64_t id) const {
  std::vector<float> v(index_->d);
  const faiss::Index& inner = Innermost(*index_);
  const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(&inner);
  if (ivf == nullptr) {
    index_->reconstruct(id, v.data());  // IndexPreTransform reverses its transform itself
    return v;
  }
  std::vector<float> transformed(inner.d);
  if (!ReconstructFromLists(*ivf, id, transformed.data())) return {};
  const auto* pre = dynamic_cast<const faiss::IndexPreTransform*>(index_.get());
  if (pre == nullptr) return transformed;
  pre->reverse_chain(1, transformed.data(), v.data());
  return v;
}

absl::StatusOr<std::vector<std::vector<Neighbor>>> FaissIndex::Search(
    absl::Span<const float> queries, int k, const SearchFilter& filter) const {
  const size_t d = static_cast<size_t>(index_->d);
  if (queries.empty() || queries.size() % d != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("queries of size ", queries.size(), " are not rows of dimension ", d));
  }
  if (k < 1 || k > size()) {
    return absl::InvalidArgumentError(absl::StrCat("k = ", k, " is outside 1..", size()));
  }
  if (filter.knobs.nprobe < 0 || filter.knobs.ef_search < 0) {
    return absl::InvalidArgumentError(absl::StrCat("knobs: nprobe ", filter.knobs.nprobe,
                                                   " and ef_search ", filter.knobs.ef_search,
                                                   " must be >= 0"));
  }
  RETURN_IF_ERROR(CheckFinite(queries, "query"));
  const idx_t n = static_cast<idx_t>(queries.size() / d);
  const bool filtered = !filter.excluded_ids.empty() || !filter.allowed_labels.empty();
  FilterSelector selector(filter, metadata_);
  faiss::IDSelector* sel = filtered ? &selector : nullptr;  // Flat and IVF honour it in FAISS
  const SearchKnobs defaults = default_knobs();
  std::vector<std::vector<Neighbor>> results(n);
  switch (kind_) {
    case IndexKind::kFlat: {
      faiss::SearchParameters params;
      params.sel = sel;
      // Unfiltered: FAISS's plain path, as the flat index always searched.
      RETURN_IF_ERROR(
          RunSearch(*index_, queries.data(), n, k, filtered ? &params : nullptr, results.data()));
      break;
    }
    case IndexKind::kIvf: {
      faiss::SearchParametersIVF params;  // FAISS checks each kind gets its own struct
      params.sel = sel;
      params.nprobe = filter.knobs.nprobe > 0 ? filter.knobs.nprobe : defaults.nprobe;
      RETURN_IF_ERROR(RunSearch(*index_, queries.data(), n, k, &params, results.data()));
      break;
    }
    case IndexKind::kHnsw: {
      faiss::SearchParametersHNSW params;
      params.efSearch = filter.knobs.ef_search > 0 ? filter.knobs.ef_search : defaults.ef_search;
      auto search = [&]() -> absl::Status {
        if (!filtered) return RunSearch(*index_, queries.data(), n, k, &params, results.data());
        for (idx_t q = 0; q < n; ++q) {
          RETURN_IF_ERROR(OverFetchHnsw(*index_, queries.data() + q * d, k, params, selector,
                                        size(), &results[q]));
        }
        return absl::OkStatus();
      };
      if (params.efSearch == defaults.ef_search && !filtered) {
        std::shared_lock<std::shared_mutex> lock(hnsw_ef_mutex_);
        RETURN_IF_ERROR(search());
      } else {
        // FAISS 1.7.3 reads the index's efSearch (header comment): set it for this search alone.
        std::unique_lock<std::shared_mutex> lock(hnsw_ef_mutex_);
        auto& hnsw = dynamic_cast<faiss::IndexHNSW&>(Innermost(*index_)).hnsw;
        hnsw.efSearch = params.efSearch;
        absl::Status status = search();
        hnsw.efSearch = defaults.ef_search;
        RETURN_IF_ERROR(status);
      }
      break;
    }
  }
  return results;
}

}  // namespace sketch
