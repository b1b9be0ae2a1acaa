#include "core/dataset.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "core/atomic_file.h"
#include "core/binary_format.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

constexpr char kMagic[4] = {'S', 'K', 'D', 'S'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxMetadataBytes = 64u << 20;
constexpr int64_t kMaxBitmapSize = 1024;
constexpr uint64_t kIndexEntryBytes = 11;       // split u8, label u16, key_id u64
constexpr uint64_t kMinStrokeRecordBytes = 17;  // a .bin record's fixed fields, no strokes
constexpr uint8_t kTrain = 0;
constexpr uint8_t kTest = 1;

template <typename T>
void PutLe(std::ostream& out, T value) {
  unsigned char bytes[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<unsigned char>(value >> (8 * i));
  out.write(reinterpret_cast<const char*>(bytes), sizeof(T));
}

template <typename T>
bool GetLe(std::istream& in, T* value) {
  unsigned char bytes[sizeof(T)];
  if (!in.read(reinterpret_cast<char*>(bytes), sizeof(T))) return false;
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(bytes[i]) << (8 * i);
  *value = v;
  return true;
}

std::string MetadataJson(const DatasetMetadata& m, int64_t num_train, int64_t num_test,
                         int bitmap_size) {
  nlohmann::ordered_json j;
  j["format"] = "sketchsearch-dataset";
  j["version"] = kVersion;
  j["classes"] = m.classes;
  j["source"] = m.source;
  j["payload"] = m.payload;
  j["bitmap_size"] = bitmap_size;
  j["seed"] = m.seed;
  j["train_per_class"] = m.train_per_class;
  j["test_per_class"] = m.test_per_class;
  j["num_train"] = num_train;
  j["num_test"] = num_test;
  j["skipped_records"] = m.skipped_records;
  return j.dump();
}

absl::Status CheckExamples(const Dataset& dataset, bool bitmap, int bitmap_size) {
  const int num_classes = static_cast<int>(dataset.metadata.classes.size());
  for (const auto* split : {&dataset.train, &dataset.test}) {
    for (const DatasetExample& e : *split) {
      if (e.label < 0 || e.label >= num_classes) {
        return absl::InvalidArgumentError(
            absl::StrCat("label ", e.label, " of key_id ", e.sketch.key_id, " is out of range"));
      }
      if (e.sketch.is_bitmap() != bitmap || (bitmap && e.sketch.bitmap.size != bitmap_size)) {
        return absl::InvalidArgumentError("a dataset holds either strokes or same-size bitmaps");
      }
      if (!bitmap && e.sketch.frame != StrokeFrame::kSimplified) {
        return absl::InvalidArgumentError(
            absl::StrCat("key_id ", e.sketch.key_id, " is not in the simplified frame"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status WritePayload(const DatasetExample& e, bool bitmap, std::ostream& out) {
  if (bitmap) {
    out.write(reinterpret_cast<const char*>(e.sketch.bitmap.pixels.data()),
              static_cast<std::streamsize>(e.sketch.bitmap.pixels.size()));
    return absl::OkStatus();
  }
  return WriteBinaryRecord(e.sketch, out);
}

// A header field as an integer in [0, max]: DataLoss naming the file and the field otherwise.
// get<>() alone would wrap a negative or out-of-range number and truncate a fraction (a huge
// float is even undefined behaviour).
absl::StatusOr<int64_t> CountField(const nlohmann::json& j, const char* key, int64_t max,
                                   const std::string& path) {
  const auto it = j.find(key);
  const bool ok = it != j.end() && it->is_number_integer() &&
                  (it->is_number_unsigned() ? it->get<uint64_t>() <= static_cast<uint64_t>(max)
                                            : it->get<int64_t>() >= 0 && it->get<int64_t>() <= max);
  if (!ok) {
    return absl::DataLossError(
        absl::StrCat(path, ": header field ", key, " must be an integer in 0..", max));
  }
  return it->get<int64_t>();
}

// What the header says beyond DatasetMetadata: the record counts and the bitmap side.
struct HeaderCounts {
  int64_t num_train = 0;
  int64_t num_test = 0;
  int bitmap_size = 0;
};

absl::StatusOr<DatasetMetadata> ParseMetadata(const std::string& text, const std::string& path,
                                              HeaderCounts* counts) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("format") ||
      j["format"] != "sketchsearch-dataset") {
    return absl::InvalidArgumentError(absl::StrCat(path, ": metadata is not a dataset header"));
  }
  DatasetMetadata m;
  try {
    m.classes = j.at("classes").get<std::vector<std::string>>();
    m.source = j.at("source").get<std::string>();
    m.payload = j.at("payload").get<std::string>();
    if (!j.at("seed").is_number_unsigned()) {
      return absl::DataLossError(
          absl::StrCat(path, ": header field seed must be an unsigned integer"));
    }
    m.seed = j.at("seed").get<uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": bad metadata: ", e.what()));
  }
  constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
  constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
  ASSIGN_OR_RETURN(m.train_per_class, CountField(j, "train_per_class", kMaxInt, path));
  ASSIGN_OR_RETURN(m.test_per_class, CountField(j, "test_per_class", kMaxInt, path));
  ASSIGN_OR_RETURN(m.skipped_records, CountField(j, "skipped_records", kMaxInt64, path));
  ASSIGN_OR_RETURN(counts->num_train, CountField(j, "num_train", kMaxInt64, path));
  ASSIGN_OR_RETURN(counts->num_test, CountField(j, "num_test", kMaxInt64, path));
  ASSIGN_OR_RETURN(counts->bitmap_size, CountField(j, "bitmap_size", kMaxBitmapSize, path));
  if ((m.payload != "strokes" && m.payload != "bitmap") ||
      (m.payload == "bitmap" && counts->bitmap_size == 0) || m.classes.size() > 65535) {
    return absl::DataLossError(absl::StrCat(path, ": inconsistent metadata"));
  }
  return m;
}

// The header's record counts against what `file_size` bytes can hold after `header_bytes`: each
// record takes an index entry and at least `min_payload` bytes. Checked one count at a time, so
// num_train + num_test is only computed once it cannot overflow.
absl::Status CheckCountsFit(const HeaderCounts& counts, uint64_t file_size, uint64_t header_bytes,
                            uint64_t min_payload, const std::string& path) {
  const uint64_t room = file_size - header_bytes;
  const int64_t most = static_cast<int64_t>(room / (kIndexEntryBytes + min_payload));
  const auto fail = [&](const std::string& what) {
    return absl::DataLossError(absl::StrCat(path, ": header field ", what, " exceeds the ", most,
                                            " records that the ", room,
                                            " bytes after the header can hold"));
  };
  if (counts.num_train > most) return fail(absl::StrCat("num_train = ", counts.num_train));
  if (counts.num_test > most - counts.num_train) {
    return fail(
        absl::StrCat("num_test = ", counts.num_test, " (with num_train = ", counts.num_train, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteDataset(const Dataset& dataset, const std::string& path) {
  const bool bitmap = dataset.metadata.payload == "bitmap";
  const std::vector<DatasetExample>* first = dataset.train.empty() ? &dataset.test : &dataset.train;
  const int bitmap_size = bitmap && !first->empty() ? first->front().sketch.bitmap.size : 0;
  RETURN_IF_ERROR(CheckExamples(dataset, bitmap, bitmap_size));

  return WriteStreamAtomically(path, [&](std::ostream& out) -> absl::Status {
    const std::string meta =
        MetadataJson(dataset.metadata, dataset.train.size(), dataset.test.size(), bitmap_size);
    out.write(kMagic, sizeof(kMagic));
    PutLe<uint32_t>(out, kVersion);
    PutLe<uint32_t>(out, static_cast<uint32_t>(meta.size()));
    out.write(meta.data(), static_cast<std::streamsize>(meta.size()));
    // The index (split, label, key_id) comes first so tools can list a dataset without decoding it.
    for (uint8_t split : {kTrain, kTest}) {
      for (const DatasetExample& e : split == kTrain ? dataset.train : dataset.test) {
        PutLe<uint8_t>(out, split);
        PutLe<uint16_t>(out, static_cast<uint16_t>(e.label));
        PutLe<uint64_t>(out, e.sketch.key_id);
      }
    }
    for (const auto* split : {&dataset.train, &dataset.test}) {
      for (const DatasetExample& e : *split) RETURN_IF_ERROR(WritePayload(e, bitmap, out));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Dataset> ReadDataset(const std::string& path) {
  // The header's counts are checked against the file's size, so it must have one: a FIFO would
  // block and a device never end.
  std::error_code ec;
  const auto type = std::filesystem::status(path, ec).type();
  if (ec || type == std::filesystem::file_type::not_found) {
    return absl::NotFoundError(absl::StrCat("cannot open dataset ", path, ": ", ec.message()));
  }
  if (type != std::filesystem::file_type::regular) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec)
    return absl::NotFoundError(absl::StrCat("cannot open dataset ", path, ": ", ec.message()));
  auto file = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!*file) return absl::NotFoundError(absl::StrCat("cannot open dataset ", path));
  std::istream& in = *file;
  char magic[4];
  uint32_t version = 0, meta_len = 0;
  if (!in.read(magic, 4) || std::memcmp(magic, kMagic, 4) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a sketchsearch dataset"));
  }
  if (!GetLe(in, &version) || version != kVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": unsupported dataset version ", version));
  }
  if (!GetLe(in, &meta_len) || meta_len > kMaxMetadataBytes || meta_len > file_size - 12) {
    return absl::DataLossError(absl::StrCat(path, ": bad metadata_length ", meta_len));
  }
  std::string meta(meta_len, '\0');
  if (!in.read(meta.data(), meta_len))
    return absl::DataLossError(absl::StrCat(path, ": truncated"));
  HeaderCounts counts;
  Dataset dataset;
  ASSIGN_OR_RETURN(dataset.metadata, ParseMetadata(meta, path, &counts));
  const bool bitmap = dataset.metadata.payload == "bitmap";
  const uint64_t min_payload =
      bitmap ? static_cast<uint64_t>(counts.bitmap_size) * static_cast<uint64_t>(counts.bitmap_size)
             : kMinStrokeRecordBytes;
  RETURN_IF_ERROR(CheckCountsFit(counts, file_size, 12 + uint64_t{meta_len}, min_payload, path));
  const int64_t num_train = counts.num_train;
  const int64_t total = counts.num_train + counts.num_test;
  const int bitmap_size = counts.bitmap_size;

  std::vector<DatasetExample> examples(total);
  for (int64_t i = 0; i < total; ++i) {
    uint8_t split;
    uint16_t label;
    uint64_t key_id;
    if (!GetLe(in, &split) || !GetLe(in, &label) || !GetLe(in, &key_id)) {
      return absl::DataLossError(absl::StrCat(path, ": truncated index at record ", i));
    }
    if (split != (i < num_train ? kTrain : kTest) || label >= dataset.metadata.classes.size()) {
      return absl::DataLossError(absl::StrCat(path, ": inconsistent index at record ", i));
    }
    examples[i].label = label;
    examples[i].sketch.key_id = key_id;
  }

  std::unique_ptr<SketchReader> strokes;
  if (!bitmap) strokes = MakeBinaryReader(std::move(file), path, ReaderOptions{});
  for (int64_t i = 0; i < total; ++i) {
    Sketch& s = examples[i].sketch;
    const uint64_t key_id = s.key_id;
    if (bitmap) {
      s.bitmap.size = bitmap_size;
      s.bitmap.pixels.resize(static_cast<size_t>(bitmap_size) * bitmap_size);
      if (!in.read(reinterpret_cast<char*>(s.bitmap.pixels.data()), s.bitmap.pixels.size())) {
        return absl::DataLossError(absl::StrCat(path, ": truncated bitmap at record ", i));
      }
    } else {
      ASSIGN_OR_RETURN(const bool got, strokes->Next(&s));
      if (!got || s.key_id != key_id) {
        return absl::DataLossError(
            absl::StrCat(path, ": stroke payload ends or disagrees at record ", i));
      }
    }
    s.word = dataset.metadata.classes[examples[i].label];
  }
  Sketch extra;
  if (bitmap ? in.peek() != EOF : strokes->Next(&extra).value_or(true)) {
    return absl::DataLossError(absl::StrCat(path, ": trailing bytes after ", total, " records"));
  }
  dataset.train.assign(std::make_move_iterator(examples.begin()),
                       std::make_move_iterator(examples.begin() + num_train));
  dataset.test.assign(std::make_move_iterator(examples.begin() + num_train),
                      std::make_move_iterator(examples.end()));
  return dataset;
}

}  // namespace sketch
