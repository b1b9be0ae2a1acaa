// Tests models/torch_runtime.h.
#include "models/torch_runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "models/sketch_model.h"

namespace sketch {
namespace {

TEST(PrecisionTest, ParsesAndNamesEveryValue) {
  for (Precision p : {Precision::kAuto, Precision::kFp32, Precision::kBf16}) {
    const auto parsed = ParsePrecision(PrecisionName(p));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, p);
  }
  EXPECT_EQ(ParsePrecision("fp16").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePrecision("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PrecisionTest, AutoFollowsTheCpu) {
  EXPECT_EQ(ResolvePrecision(Precision::kAuto),
            CpuSupportsBf16() ? Precision::kBf16 : Precision::kFp32);
  EXPECT_EQ(ResolvePrecision(Precision::kFp32), Precision::kFp32);
  EXPECT_EQ(ResolvePrecision(Precision::kBf16), Precision::kBf16);
}

TEST(PrecisionTest, AutoIsBf16OnCuda) {
  EXPECT_EQ(ResolvePrecision(Precision::kAuto, c10::kCUDA), Precision::kBf16);
  EXPECT_EQ(ResolvePrecision(Precision::kFp32, c10::kCUDA), Precision::kFp32);
}

TEST(DeviceTest, ParsesCpuAndRefusesOtherNames) {
  const auto cpu = ParseDevice("cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_TRUE(cpu->is_cpu());
  for (const char* bad : {"", "gpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "cuda:1x", "cuda:9999"}) {
    const auto parsed = ParseDevice(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(parsed.status().message()), testing::HasSubstr("cpu, cuda or cuda:N"));
  }
}

TEST(DeviceTest, CudaIsUsedOrRefusedWithTheReason) {
  for (const char* name : {"cuda", "cuda:0"}) {
    const auto parsed = ParseDevice(name);
    if (!CudaBuild()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_THAT(std::string(parsed.status().message()), testing::HasSubstr("without CUDA"));
    } else if (!torch::cuda::is_available()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_THAT(std::string(parsed.status().message()), testing::HasSubstr("no CUDA GPU"));
    } else {
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      EXPECT_TRUE(parsed->is_cuda());
      EXPECT_EQ(parsed->index(), 0);
    }
  }
  if (CudaBuild() && torch::cuda::is_available()) {
    const int64_t past = torch::cuda::device_count();
    EXPECT_EQ(ParseDevice("cuda:" + std::to_string(past)).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
}

TEST(AutocastScopeTest, Fp32IsANoOp) {
  AutocastScope scope(Precision::kFp32);
  EXPECT_FALSE(scope.active());
  EXPECT_FALSE(Bf16AutocastEnabled());
}

// Autocast's state is per device type and thread-local: a CUDA scope sets and restores the CUDA
// flags (no GPU needed) and leaves the CPU's alone.
TEST(AutocastScopeTest, CudaScopeSetsOnlyCudaAutocast) {
  EXPECT_FALSE(Bf16AutocastEnabled(c10::kCUDA));
  {
    AutocastScope scope(Precision::kBf16, c10::kCUDA);
    EXPECT_TRUE(scope.active());
    EXPECT_TRUE(Bf16AutocastEnabled(c10::kCUDA));
    EXPECT_FALSE(Bf16AutocastEnabled(c10::kCPU));
  }
  EXPECT_FALSE(Bf16AutocastEnabled(c10::kCUDA));
}

TEST(AutocastScopeTest, Bf16ConvRunsInBf16AndNestedScopesRestore) {
  const torch::Tensor x = torch::rand({1, 2, 8, 8});
  const torch::Tensor w = torch::rand({3, 2, 3, 3});
  {
    AutocastScope outer(Precision::kBf16);
    {
      AutocastScope inner(Precision::kBf16);
      EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kBFloat16);
    }
    EXPECT_TRUE(Bf16AutocastEnabled()) << "the inner scope restores the outer one";
  }
  EXPECT_FALSE(Bf16AutocastEnabled());
  EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kFloat);
}

TEST(SetTorchThreadsTest, SetsIntraOpThreads) {
  const int before = at::get_num_threads();
  SetTorchThreads(1);
  EXPECT_EQ(at::get_num_threads(), 1);
  SetTorchThreads(0);
  EXPECT_GE(at::get_num_threads(), 1);
  SetTorchThreads(before);
}

TEST(ChannelsLastTest, ConvertsImagesWithoutChangingValues) {
  const torch::Tensor images = torch::rand({2, 3, 4, 4});
  const torch::Tensor nhwc = ToChannelsLast(images);
  EXPECT_TRUE(nhwc.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::equal(nhwc, images));
}

// The first conv of every net sees one channel: its weight must get channels-last strides too
// (contiguous(ChannelsLast) alone leaves [N, 1, 3, 3] as it is, read as NCHW by ATen).
TEST(ChannelsLastTest, ModuleWeightsWithOneInputChannelGetChannelsLastStrides) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(1, 4, 3));
  const torch::Tensor before = conv->weight.clone();
  ToChannelsLast(conv.ptr().get());
  EXPECT_EQ(conv->weight.suggest_memory_format(), torch::MemoryFormat::ChannelsLast);
  EXPECT_EQ(conv->weight.stride(1), 1);
  EXPECT_TRUE(torch::equal(conv->weight, before));
}

TEST(CastWeightsForInferenceTest, Bf16WeightsGiveTheSameOutputsAsAutocastAlone) {
  torch::manual_seed(3);
  auto trained = MakeSketchModel("sknet", {/*num_classes=*/5, /*input_size=*/32});
  ASSERT_TRUE(trained.ok()) << trained.status();
  auto reference = MakeInferenceCopy(**trained);
  auto cast = MakeInferenceCopy(**trained);
  ASSERT_TRUE(reference.ok() && cast.ok());
  CastWeightsForInference(cast->get(), Precision::kBf16);
  for (const torch::Tensor& p : (*cast)->parameters()) EXPECT_EQ(p.scalar_type(), torch::kBFloat16);

  const torch::Tensor images = torch::rand({3, 1, 32, 32});
  c10::InferenceMode inference;
  AutocastScope autocast(Precision::kBf16);
  auto expected = SafeForward(reference->get(), images);
  auto actual = SafeForward(cast->get(), images);
  ASSERT_TRUE(expected.ok() && actual.ok());
  EXPECT_TRUE(torch::equal(actual->logits.to(torch::kFloat), expected->logits.to(torch::kFloat)));
  EXPECT_TRUE(
      torch::equal(actual->features.to(torch::kFloat), expected->features.to(torch::kFloat)));
}

TEST(CastWeightsForInferenceTest, Fp32IsANoOp) {
  auto model = MakeSketchModel("sknet", {5, 32});
  ASSERT_TRUE(model.ok());
  CastWeightsForInference(model->get(), Precision::kFp32);
  for (const torch::Tensor& p : (*model)->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat);
}

#if !defined(__SANITIZE_ADDRESS__)
// M_MMAP_MAX 0: a block far over glibc's default mmap threshold (128 KiB) now comes from the
// heap, so the bytes glibc holds in mmap-ed blocks (mallinfo2().hblkhd) do not grow.
TEST(KeepLargeAllocationsInHeapTest, LargeBlocksComeFromTheHeap) {
  ASSERT_TRUE(KeepLargeAllocationsInHeap());
  const size_t mmapped_before = mallinfo2().hblkhd;
  // Bytes in use in the heap: a heap with enough free space (LibTorch 2.x leaves one) serves the
  // block without growing, so the arena size is not the measure.
  const size_t heap_used_before = mallinfo2().uordblks;
  void* block = std::malloc(size_t{64} << 20);
  ASSERT_NE(block, nullptr);
  static_cast<volatile char*>(block)[0] = 1;
  EXPECT_EQ(mallinfo2().hblkhd, mmapped_before);
  EXPECT_GE(mallinfo2().uordblks, heap_used_before + (size_t{64} << 20));
  std::free(block);
}
#endif

}  // namespace
}  // namespace sketch
