// Tests models/model_files.h (weights and preprocessing on disk) and the npy codec it stores the
// mean image with (core/npy_format.h).
#include "models/model_files.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/file_contents.h"
#include "core/npy_format.h"
#include "gtest/gtest.h"
#include "models/sketch_model.h"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

TEST(ModelFilesTest, PreprocessingWithAMeanImageRoundTripsThroughNumpysFormat) {
  const std::string dir = TempPath("preprocessing");
  fs::create_directories(dir);
  Preprocessing p;
  p.raster.size = 16;
  p.raster.style = RasterStyle::kSeed;
  p.normalization.std = 0.25f;
  for (int i = 0; i < 16 * 16; ++i) p.normalization.mean_image.push_back(i / 256.0f);
  ASSERT_TRUE(SavePreprocessing(p, dir).ok());
  auto back = LoadPreprocessing(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->raster.size, 16);
  EXPECT_EQ(back->raster.style, RasterStyle::kSeed);
  EXPECT_EQ(back->normalization.std, 0.25f);
  EXPECT_EQ(back->normalization.mean_image, p.normalization.mean_image);

  // The file is a plain numpy array: its header says float32 [16, 16].
  std::istringstream npy(ReadFileBytes(dir + "/mean_image.npy"));
  auto header = ReadNpyArrayHeader(npy, "mean_image.npy");
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->descr, "<f4");
  EXPECT_EQ(header->shape, (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(static_cast<int64_t>(npy.tellg()) % 64, 0);  // data aligned as np.save aligns it

  // A mean image of another size is refused with its file.
  const std::string wrong = EncodeNpyFloat32(std::vector<float>(8 * 8, 0.0f), {8, 8});
  std::ofstream(dir + "/mean_image.npy", std::ios::binary) << wrong;
  auto refused = LoadPreprocessing(dir);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(refused.status().message().find("mean_image.npy"), std::string::npos);
}

// The channels and the mirror averaging are written only when set, so earlier files (without
// them) read as ink without averaging, and a file with them reads back as written.
TEST(ModelFilesTest, ChannelsAndMirrorAveragingRoundTripAndDefaultWhenAbsent) {
  const std::string dir = TempPath("preprocessing_channels");
  fs::create_directories(dir);
  Preprocessing plain;
  plain.raster.size = 16;
  ASSERT_TRUE(SavePreprocessing(plain, dir).ok());
  const std::string plain_text = ReadFileBytes(dir + "/preprocessing.json");
  EXPECT_EQ(plain_text.find("channels"), std::string::npos);
  EXPECT_EQ(plain_text.find("test_time"), std::string::npos);
  auto back = LoadPreprocessing(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->raster.channels, RasterChannels::kInk);
  EXPECT_FALSE(back->test_time.mirror);
  EXPECT_EQ(back->test_time.rotation_degrees, 0.0f);

  Preprocessing order = plain;
  order.raster.channels = RasterChannels::kStrokeOrder;
  order.test_time.mirror = true;
  ASSERT_TRUE(SavePreprocessing(order, dir).ok());
  back = LoadPreprocessing(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->raster.channels, RasterChannels::kStrokeOrder);
  EXPECT_TRUE(back->test_time.mirror);
  EXPECT_EQ(back->test_time.rotation_degrees, 0.0f);

  // Rotated views round-trip beside the mirror; a rotation out of range in the file is DataLoss
  // naming it.
  Preprocessing turned = order;
  turned.test_time.rotation_degrees = 6.0f;
  ASSERT_TRUE(SavePreprocessing(turned, dir).ok());
  back = LoadPreprocessing(dir);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->test_time.mirror);
  EXPECT_EQ(back->test_time.rotation_degrees, 6.0f);
  std::string turned_text = ReadFileBytes(dir + "/preprocessing.json");
  const std::string six_degrees = "\"rotation_degrees\": 6.0";
  ASSERT_NE(turned_text.find(six_degrees), std::string::npos) << turned_text;
  turned_text.replace(turned_text.find(six_degrees), six_degrees.size(),
                      "\"rotation_degrees\": 90.0");
  std::ofstream(dir + "/preprocessing.json", std::ios::binary) << turned_text;
  auto out_of_range = LoadPreprocessing(dir);
  EXPECT_EQ(out_of_range.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(out_of_range.status().message().find("rotation"), std::string::npos);
  ASSERT_TRUE(SavePreprocessing(order, dir).ok());

  // An unknown channel name is DataLoss naming the file.
  std::string text = ReadFileBytes(dir + "/preprocessing.json");
  text.replace(text.find("\"order\""), 7, "\"paint\"");
  std::ofstream(dir + "/preprocessing.json", std::ios::binary) << text;
  auto refused = LoadPreprocessing(dir);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(refused.status().message().find("preprocessing.json"), std::string::npos);

  // A mean image is per pixel of the ink: it cannot go with more channels.
  order.normalization.mean_image.assign(16 * 16, 0.0f);
  EXPECT_EQ(SavePreprocessing(order, dir).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ModelFilesTest, WeightsRoundTripAndRefuseAnotherShape) {
  ModelConfig config;
  config.num_classes = 3;
  config.input_size = 32;
  auto model = MakeSketchModel("sknet", config);
  ASSERT_TRUE(model.ok());
  const std::string path = TempPath("weights.pt");
  ASSERT_TRUE(SaveModelWeights(**model, path).ok());
  auto same = MakeSketchModel("sknet", config);
  ASSERT_TRUE(LoadModelWeights(path, same->get()).ok());
  EXPECT_TRUE(torch::equal((*same)->parameters()[0], (*model)->parameters()[0]));

  config.num_classes = 4;
  auto other = MakeSketchModel("sknet", config);
  EXPECT_EQ(LoadModelWeights(path, other->get()).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(LoadModelWeights(TempPath("missing.pt"), other->get()).code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sketch
