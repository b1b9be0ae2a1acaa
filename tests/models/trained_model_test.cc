// Tests models/trained_model.h: the network shape a preprocessing asks for, and the checks that a
// model, its preprocessing and its class names fit together.
#include "models/trained_model.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/sknet.h"

namespace sketch {
namespace {

using ::testing::HasSubstr;

Preprocessing PreprocessingOf(int size, RasterChannels channels) {
  Preprocessing p;
  p.raster.size = size;
  p.raster.channels = channels;
  return p;
}

TEST(TrainedModelTest, ModelConfigForTakesTheRastersSizeAndChannels) {
  const ModelConfig ink = ModelConfigFor(7, PreprocessingOf(48, RasterChannels::kInk));
  EXPECT_EQ(ink.num_classes, 7);
  EXPECT_EQ(ink.input_size, 48);
  EXPECT_EQ(ink.in_channels, 1);
  EXPECT_EQ(ink.dropout, 0.0f);

  const ModelConfig order = ModelConfigFor(3, PreprocessingOf(32, RasterChannels::kStrokeOrder));
  EXPECT_EQ(order.input_size, 32);
  EXPECT_EQ(order.in_channels, 3);
}

TEST(TrainedModelTest, AModelBuiltForAPreprocessingFitsItAndNoOther) {
  const Preprocessing order = PreprocessingOf(32, RasterChannels::kStrokeOrder);
  auto model = MakeSketchModel(kSkNetName, ModelConfigFor(4, order));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE(ValidateModelInput(**model, order).ok());

  const absl::Status other_size =
      ValidateModelInput(**model, PreprocessingOf(48, RasterChannels::kStrokeOrder));
  EXPECT_EQ(other_size.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other_size.message(), HasSubstr("48 px"));
  EXPECT_THAT(other_size.message(), HasSubstr("32 px"));

  const absl::Status other_channels =
      ValidateModelInput(**model, PreprocessingOf(32, RasterChannels::kInk));
  EXPECT_EQ(other_channels.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other_channels.message(), HasSubstr("1-channel"));
}

TEST(TrainedModelTest, ClassNamesMustMatchTheModelsClassCount) {
  TrainedModel trained;
  EXPECT_EQ(ValidateTrainedModel(trained).code(), absl::StatusCode::kInvalidArgument);

  trained.preprocessing = PreprocessingOf(32, RasterChannels::kInk);
  auto model = MakeSketchModel(kSkNetName, ModelConfigFor(3, trained.preprocessing));
  ASSERT_TRUE(model.ok()) << model.status();
  trained.model = *model;
  trained.classes = {"cat", "dog", "sun"};
  EXPECT_TRUE(ValidateTrainedModel(trained).ok());

  trained.classes.pop_back();
  const absl::Status status = ValidateTrainedModel(trained);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("2 class names for a 3-class model"));
}

// A run's train_config.json and a bundle's manifest.json record the input size apart from
// preprocessing.json: one check names both sizes and the record.
TEST(TrainedModelTest, TheRecordedInputSizeMustBeThePreprocessings) {
  const Preprocessing p = PreprocessingOf(64, RasterChannels::kInk);
  EXPECT_TRUE(CheckRecordedInputSize(p, 64, "manifest.json").ok());
  const absl::Status status = CheckRecordedInputSize(p, 32, "train_config.json");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(status.message(),
            "preprocessing.json rasterizes 64 px images; train_config.json says the network "
            "takes 32 px");
}

}  // namespace
}  // namespace sketch
