#include "index/flat_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/atomic_file.h"

namespace sketch {
namespace {

using idx_t = faiss::Index::idx_t;

constexpr char kIndexFile[] = "index.faiss";
constexpr char kMetadataFile[] = "index_metadata.tsv";

// Admits the ids a SearchFilter allows; FAISS 1.7.3 has no AND of selectors.
class FilterSelector : public faiss::IDSelector {
 public:
  FilterSelector(const SearchFilter& filter, const std::vector<IndexedSketch>& metadata)
      : allowed_(metadata.size(), 1) {
    if (!filter.allowed_labels.empty()) {
      for (size_t id = 0; id < metadata.size(); ++id) {
        allowed_[id] = std::count(filter.allowed_labels.begin(), filter.allowed_labels.end(),
                                  metadata[id].label) > 0;
      }
    }
    for (int64_t id : filter.excluded_ids) {
      if (id >= 0 && id < static_cast<int64_t>(allowed_.size())) allowed_[id] = 0;
    }
  }
  bool is_member(idx_t id) const override { return allowed_[id] != 0; }

 private:
  std::vector<uint8_t> allowed_;
};

absl::Status CheckFinite(absl::Span<const float> values, const char* what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(what, " value ", i, " is not finite"));
    }
  }
  return absl::OkStatus();
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

}  // namespace

FlatIndex::FlatIndex(std::unique_ptr<faiss::IndexFlatL2> index, std::vector<IndexedSketch> metadata)
    : index_(std::move(index)), metadata_(std::move(metadata)) {}

FlatIndex::~FlatIndex() = default;

absl::StatusOr<std::unique_ptr<FlatIndex>> FlatIndex::Build(absl::Span<const float> features,
                                                            int dimension,
                                                            std::vector<IndexedSketch> metadata) {
  if (dimension <= 0 || metadata.empty() ||
      features.size() != metadata.size() * static_cast<size_t>(dimension)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "features of size ", features.size(), " do not match ", metadata.size(), " x ", dimension));
  }
  auto status = CheckFinite(features, "feature");
  if (!status.ok()) return status;
  for (size_t id = 0; id < metadata.size(); ++id) {
    const IndexedSketch& row = metadata[id];
    // The metadata file is tab-separated lines.
    if (row.label < -1 || row.word.find_first_of("\t\n") != std::string::npos ||
        row.source.find_first_of("\t\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metadata row ", id, ": label below -1, or a tab or newline in its word or source"));
    }
  }
  auto index = std::make_unique<faiss::IndexFlatL2>(dimension);
  index->add(static_cast<idx_t>(metadata.size()), features.data());
  return std::unique_ptr<FlatIndex>(new FlatIndex(std::move(index), std::move(metadata)));
}

absl::Status FlatIndex::Save(const std::string& dir) const {
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

absl::StatusOr<std::unique_ptr<FlatIndex>> FlatIndex::Load(const std::string& dir) {
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
  auto* flat = dynamic_cast<faiss::IndexFlatL2*>(loaded.get());
  if (flat == nullptr || flat->ntotal != static_cast<idx_t>(metadata->size()) ||
      metadata->empty()) {
    return absl::DataLossError(
        absl::StrCat(index_path, " is not a flat L2 index of ", metadata->size(), " vectors"));
  }
  loaded.release();
  return std::unique_ptr<FlatIndex>(
      new FlatIndex(std::unique_ptr<faiss::IndexFlatL2>(flat), *std::move(metadata)));
}

int FlatIndex::dimension() const { return static_cast<int>(index_->d); }
int64_t FlatIndex::size() const { return static_cast<int64_t>(index_->ntotal); }
const IndexedSketch& FlatIndex::metadata(int64_t id) const { return metadata_[id]; }

std::vector<float> FlatIndex::Reconstruct(int64_t id) const {
  std::vector<float> v(index_->d);
  index_->reconstruct(id, v.data());
  return v;
}

absl::StatusOr<std::vector<std::vector<Neighbor>>> FlatIndex::Search(
    absl::Span<const float> queries, int k, const SearchFilter& filter) const {
  const size_t d = static_cast<size_t>(index_->d);
  if (queries.empty() || queries.size() % d != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("queries of size ", queries.size(), " are not rows of dimension ", d));
  }
  if (k < 1 || k > size()) {
    return absl::InvalidArgumentError(absl::StrCat("k = ", k, " is outside 1..", size()));
  }
  auto status = CheckFinite(queries, "query");
  if (!status.ok()) return status;
  const idx_t n = static_cast<idx_t>(queries.size() / d);
  std::vector<float> distances(n * k);
  std::vector<idx_t> ids(n * k);
  FilterSelector selector(filter, metadata_);
  faiss::SearchParameters params;
  const bool filtered = !filter.excluded_ids.empty() || !filter.allowed_labels.empty();
  params.sel = &selector;
  try {
    index_->search(n, queries.data(), k, distances.data(), ids.data(),
                   filtered ? &params : nullptr);
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(absl::StrCat("FAISS search failed: ", e.what()));
  }
  std::vector<std::vector<Neighbor>> results(n);
  for (idx_t q = 0; q < n; ++q) {
    auto& row = results[q];
    for (int j = 0; j < k; ++j) {
      if (ids[q * k + j] >= 0) row.push_back({ids[q * k + j], distances[q * k + j]});
    }
    std::stable_sort(row.begin(), row.end(), [](const Neighbor& a, const Neighbor& b) {
      return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
    });
  }
  return results;
}

}  // namespace sketch
