#include "models/trained_model.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sketch {

ModelConfig ModelConfigFor(int num_classes, const Preprocessing& preprocessing) {
  ModelConfig config;
  config.num_classes = num_classes;
  config.input_size = preprocessing.raster.size;
  config.in_channels = RasterChannelCount(preprocessing.raster.channels);
  return config;
}

absl::Status CheckRecordedInputSize(const Preprocessing& preprocessing, int input_size,
                                    const std::string& record) {
  if (preprocessing.raster.size == input_size) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("preprocessing.json rasterizes ",
                                          preprocessing.raster.size, " px images; ", record,
                                          " says the network takes ", input_size, " px"));
}

absl::Status ValidateModelInput(const SketchModel& model, const Preprocessing& preprocessing) {
  RETURN_IF_ERROR(ValidatePreprocessing(preprocessing));
  if (preprocessing.raster.size != model.input_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the preprocessing rasterizes ", preprocessing.raster.size, " px images but the ",
        model.architecture(), " takes ", model.input_size(), " px"));
  }
  if (RasterChannelCount(preprocessing.raster.channels) != model.in_channels()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the preprocessing makes ", RasterChannelCount(preprocessing.raster.channels),
                     "-channel images (", RasterChannelsName(preprocessing.raster.channels),
                     ") but the ", model.architecture(), " takes ", model.in_channels()));
  }
  return absl::OkStatus();
}

absl::Status ValidateTrainedModel(const TrainedModel& model) {
  if (model.model == nullptr) return absl::InvalidArgumentError("no model");
  RETURN_IF_ERROR(ValidateModelInput(*model.model, model.preprocessing));
  if (static_cast<int>(model.classes.size()) != model.model->num_classes()) {
    return absl::InvalidArgumentError(absl::StrCat(model.classes.size(), " class names for a ",
                                                   model.model->num_classes(), "-class model"));
  }
  return absl::OkStatus();
}

}  // namespace sketch
