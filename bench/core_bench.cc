// Foundation benchmarks: ndjson parsing MB/s, normalize+rasterize drawings/s per core, and
// `prepare` throughput on a ~1 GB class file (the real sample replicated; size set by
// SKETCH_BENCH_PREPARE_MB). Run: build/release/bench/sketch_core_bench
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/normalize.h"
#include "core/rasterizer.h"
#include "core/sketch_reader.h"
#include "trainer/prepare.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

// The larger shared sample when present, else the one committed in the repo.
std::string DataDir(const std::string& sub) {
  const std::string shared = std::string(SKETCH_SHARED_DATA_DIR) + "/" + sub;
  if (fs::is_directory(shared)) return shared;
  return std::string(SKETCH_TEST_DATA_DIR) + "/quickdraw/" + sub;
}

std::string ScratchDir() {
  const fs::path dir = fs::temp_directory_path() / "sketch_core_bench";
  fs::create_directories(dir);
  return dir.string();
}

// Concatenates every file of `sub` into one file of at least `min_bytes`, replicating lines.
std::string ReplicatedFile(const std::string& sub, const std::string& name, int64_t min_bytes) {
  const std::string path = ScratchDir() + "/" + name;
  if (fs::exists(path) && static_cast<int64_t>(fs::file_size(path)) >= min_bytes) return path;
  std::string all;
  for (const auto& entry : fs::directory_iterator(DataDir(sub))) {
    std::ifstream in(entry.path());
    std::stringstream buffer;
    buffer << in.rdbuf();
    all += buffer.str();
    if (!all.empty() && all.back() != '\n') all += '\n';  // a last line may lack its newline
  }
  const absl::Status status = WriteStreamAtomically(path, [&](std::ostream& out) {
    for (int64_t written = 0; written < min_bytes; written += all.size()) out << all;
    return absl::OkStatus();
  });
  if (!status.ok()) throw std::runtime_error(status.ToString());
  return path;
}

std::vector<Sketch> LoadAll(const std::string& sub) {
  std::vector<Sketch> sketches;
  for (const auto& entry : fs::directory_iterator(DataDir(sub))) {
    auto reader = OpenSketchReader(entry.path().string());
    Sketch s;
    while (reader.ok() && (*reader)->Next(&s).value_or(false)) sketches.push_back(s);
  }
  return sketches;
}

void BM_ParseNdjson(benchmark::State& state, const std::string& sub) {
  const std::string path = ReplicatedFile(sub, sub + ".ndjson", 64 << 20);
  int64_t records = 0;
  for (auto _ : state) {
    auto reader = OpenSketchReader(path);
    Sketch s;
    absl::StatusOr<bool> got;
    while ((got = (*reader)->Next(&s)).ok() && *got) ++records;
    if (!got.ok()) state.SkipWithError(std::string(got.status().message()).c_str());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(fs::file_size(path)));
  state.SetItemsProcessed(records);
}
BENCHMARK_CAPTURE(BM_ParseNdjson, simplified, std::string("simplified"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ParseNdjson, raw, std::string("raw"))->Unit(benchmark::kMillisecond);

// Normalize (a no-op for simplified input) + rasterize at 128x128, one drawing per item.
void BM_NormalizeRasterize(benchmark::State& state, const std::string& sub, RasterStyle style) {
  const std::vector<Sketch> sketches = LoadAll(sub);
  RasterOptions options;
  options.style = style;
  std::vector<uint8_t> image;
  size_t i = 0;
  for (auto _ : state) {
    auto normalized = NormalizeToSimplified(sketches[i++ % sketches.size()]);
    benchmark::DoNotOptimize(Rasterize(*normalized, options, &image));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_NormalizeRasterize, simplified_default, std::string("simplified"),
                  RasterStyle::kDefault);
BENCHMARK_CAPTURE(BM_NormalizeRasterize, simplified_seed, std::string("simplified"),
                  RasterStyle::kSeed);
BENCHMARK_CAPTURE(BM_NormalizeRasterize, raw_default, std::string("raw"), RasterStyle::kDefault);

// `prepare` over one replicated class file (a stand-in for a full 100+ MB official file).
void BM_PrepareLargeClass(benchmark::State& state) {
  const char* mb = std::getenv("SKETCH_BENCH_PREPARE_MB");
  const int64_t bytes = (mb ? std::atoll(mb) : 1024) << 20;
  const std::string dir = ScratchDir() + "/prepare_input";
  fs::create_directories(dir);
  const std::string path = ReplicatedFile("simplified", "prepare_input/big.ndjson", bytes);
  PrepareOptions options;
  options.input_dir = dir;
  options.output_path = ScratchDir() + "/prepared.skds";
  options.train_per_class = 1000;
  options.test_per_class = 50;
  options.progress = false;
  for (auto _ : state) {
    auto summary = PrepareDataset(options);
    if (!summary.ok()) state.SkipWithError(std::string(summary.status().message()).c_str());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(fs::file_size(path)));
}
BENCHMARK(BM_PrepareLargeClass)->Unit(benchmark::kSecond)->Iterations(1);

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

}  // namespace
}  // namespace sketch

int main(int argc, char** argv) {
  benchmark::AddCustomContext("cpu_model", sketch::CpuModel());
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
