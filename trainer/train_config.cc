#include "trainer/train_config.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

using nlohmann::json;

// The 2018 study: Adam 1e-4, batch 10, one pass, no augmentation or regularization, thin
// 1-pixel strokes, training-mean image subtracted.
TrainConfig SeedRecipe() {
  TrainConfig c;
  c.recipe = "seed";
  c.raster_style = RasterStyle::kSeed;
  c.mean_image = true;
  c.optimizer = "adam";
  c.lr = 1e-4;
  c.schedule = "constant";
  c.batch_size = 10;
  c.epochs = 1;
  return c;
}

// Under an hour per network on 2 cores for strokes-16 (7200 drawings). 64 px instead of the
// study's 128: a sketch's strokes survive the halving (the default style draws them 2.7 px
// wide at 64), and each image costs a quarter of the compute, which buys 16 epochs instead of
// 4 within the budget. AdamW with decoupled decay, warm-up then cosine, label smoothing, dropout
// and affine augmentation against over-fitting a small set. Ink in [0, 1] on a 0 background,
// so the convs' zero padding looks like blank paper (the BatchNorm after the first conv absorbs
// scale and shift).
TrainConfig DefaultRecipe() {
  TrainConfig c;
  c.recipe = "default";
  c.raster_style = RasterStyle::kDefault;
  c.optimizer = "adamw";
  c.lr = 2e-3;
  c.weight_decay = 0.05;
  c.schedule = "cosine";
  c.warmup_fraction = 0.05;
  c.input_size = 64;
  c.batch_size = 64;
  c.epochs = 16;
  c.label_smoothing = 0.1;
  c.dropout = 0.3;
  c.augment = true;
  return c;
}

// The default recipe with what measured best for searching the model's own classes (issue 14,
// docs/results.md "Features for retrieval"): supervised contrastive loss on fc_1 beside the
// cross-entropy, the stroke order and progress as two more input channels, twice the epochs
// (the contrastive term keeps gaining where the cross-entropy alone has converged), and half the
// drawings mirrored (over two seeds +0.005 mAP served without mirror averaging, the same with
// it, so a bundle can skip the second forward pass). For galleries of words the model was not
// trained on the default recipe's features are better (supcon gathers the trained classes and
// loses ~40 % there).
TrainConfig RetrievalRecipe() {
  TrainConfig c = DefaultRecipe();
  c.recipe = "retrieval";
  c.raster_channels = RasterChannels::kStrokeOrder;
  c.retrieval.kind = "supcon";
  c.epochs = 32;
  c.augment_options.mirror_probability = 0.5;
  return c;
}

template <typename T>
void Apply(const std::optional<T>& value, T* field) {
  if (value) *field = *value;
}

absl::Status ApplyOverrides(const RecipeOverrides& o, TrainConfig* c) {
  Apply(o.architecture, &c->architecture);
  Apply(o.input_size, &c->input_size);
  if (o.raster_style) {
    ASSIGN_OR_RETURN(c->raster_style, ParseRasterStyle(*o.raster_style));
  }
  if (o.raster_channels) {
    ASSIGN_OR_RETURN(c->raster_channels, ParseRasterChannels(*o.raster_channels));
  }
  Apply(o.mean_image, &c->mean_image);
  Apply(o.norm_mean, &c->norm_mean);
  Apply(o.norm_std, &c->norm_std);
  Apply(o.optimizer, &c->optimizer);
  Apply(o.lr, &c->lr);
  Apply(o.weight_decay, &c->weight_decay);
  Apply(o.schedule, &c->schedule);
  Apply(o.warmup_fraction, &c->warmup_fraction);
  Apply(o.batch_size, &c->batch_size);
  Apply(o.epochs, &c->epochs);
  Apply(o.label_smoothing, &c->label_smoothing);
  Apply(o.dropout, &c->dropout);
  Apply(o.augment, &c->augment);
  Apply(o.max_rotation_degrees, &c->augment_options.max_rotation_degrees);
  Apply(o.min_scale, &c->augment_options.min_scale);
  Apply(o.max_scale, &c->augment_options.max_scale);
  Apply(o.max_shear, &c->augment_options.max_shear);
  Apply(o.mirror_probability, &c->augment_options.mirror_probability);
  Apply(o.augment_bitmaps, &c->augment_options.bitmaps);
  Apply(o.retrieval_loss, &c->retrieval.kind);
  Apply(o.retrieval_weight, &c->retrieval.weight);
  Apply(o.retrieval_temperature, &c->retrieval.temperature);
  Apply(o.retrieval_scale, &c->retrieval.scale);
  Apply(o.retrieval_margin, &c->retrieval.margin);
  Apply(o.seed, &c->seed);
  return absl::OkStatus();
}

absl::Status Invalid(const std::string& field, const std::string& expected, double got) {
  return absl::InvalidArgumentError(absl::StrCat(field, " must be ", expected, ", got ", got));
}

absl::Status ValidateRetrievalLossOptions(const RetrievalLossOptions& o) {
  if (o.kind != "none" && o.kind != "supcon" && o.kind != "cosface" && o.kind != "instance") {
    return absl::InvalidArgumentError(absl::StrCat(
        "retrieval_loss.kind must be none, supcon, cosface or instance, got \"", o.kind, "\""));
  }
  if (!(o.weight > 0) || !std::isfinite(o.weight)) {
    return Invalid("retrieval_loss.weight", "positive", o.weight);
  }
  if (!(o.temperature > 0) || !std::isfinite(o.temperature)) {
    return Invalid("retrieval_loss.temperature", "positive", o.temperature);
  }
  if (!(o.scale > 0) || !std::isfinite(o.scale)) {
    return Invalid("retrieval_loss.scale", "positive", o.scale);
  }
  if (!(o.margin >= 0 && o.margin < 1))
    return Invalid("retrieval_loss.margin", "in [0, 1)", o.margin);
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTrainConfig(const TrainConfig& c) {
  if (c.architecture != "sknet" && c.architecture != "skresnet") {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture must be sknet or skresnet, got \"", c.architecture, "\""));
  }
  if (c.optimizer != "adam" && c.optimizer != "adamw") {
    return absl::InvalidArgumentError(absl::StrCat("optimizer must be adam or adamw"));
  }
  if (c.schedule != "constant" && c.schedule != "cosine") {
    return absl::InvalidArgumentError(absl::StrCat("schedule must be constant or cosine"));
  }
  if (c.input_size < 16 || c.input_size > 1024 || c.input_size % 16 != 0) {
    return Invalid("input_size", "a multiple of 16 in 16..1024", c.input_size);
  }
  if (c.retrieval.kind == "instance" && !c.augment) {
    return absl::InvalidArgumentError(
        "retrieval_loss instance needs augment: its two views of a drawing are two augmentations");
  }
  if (c.mean_image && c.raster_channels != RasterChannels::kInk) {
    return absl::InvalidArgumentError("mean_image needs raster_channels ink");
  }
  if (!(c.norm_std > 0) || !std::isfinite(c.norm_std) || !std::isfinite(c.norm_mean)) {
    return Invalid("norm_std", "positive (with a finite norm_mean)", c.norm_std);
  }
  if (!(c.lr > 0) || !std::isfinite(c.lr)) return Invalid("lr", "positive", c.lr);
  if (!(c.weight_decay >= 0)) return Invalid("weight_decay", ">= 0", c.weight_decay);
  if (!(c.warmup_fraction >= 0 && c.warmup_fraction < 1)) {
    return Invalid("warmup_fraction", "in [0, 1)", c.warmup_fraction);
  }
  if (c.batch_size < 1) return Invalid("batch_size", ">= 1", c.batch_size);
  if (c.epochs < 1) return Invalid("epochs", ">= 1", c.epochs);
  if (!(c.label_smoothing >= 0 && c.label_smoothing < 1)) {
    return Invalid("label_smoothing", "in [0, 1)", c.label_smoothing);
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) return Invalid("dropout", "in [0, 1)", c.dropout);
  RETURN_IF_ERROR(ValidateRetrievalLossOptions(c.retrieval));
  return c.augment ? ValidateAugmentOptions(c.augment_options) : absl::OkStatus();
}

absl::StatusOr<TrainConfig> ResolveTrainConfig(const std::string& recipe,
                                               const RecipeOverrides& overrides) {
  TrainConfig config;
  if (recipe == "seed") {
    config = SeedRecipe();
  } else if (recipe == "default") {
    config = DefaultRecipe();
  } else if (recipe == "retrieval") {
    config = RetrievalRecipe();
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("recipe must be seed, default or retrieval, got \"", recipe, "\""));
  }
  RETURN_IF_ERROR(ApplyOverrides(overrides, &config));
  RETURN_IF_ERROR(ValidateTrainConfig(config));
  return config;
}

std::string TrainConfigToJson(const TrainConfig& c) {
  const AugmentOptions& a = c.augment_options;
  json j = {
      {"recipe", c.recipe},
      {"architecture", c.architecture},
      {"input_size", c.input_size},
      {"raster_style", RasterStyleName(c.raster_style)},
      {"mean_image", c.mean_image},
      {"norm_mean", c.norm_mean},
      {"norm_std", c.norm_std},
      {"optimizer", c.optimizer},
      {"lr", c.lr},
      {"weight_decay", c.weight_decay},
      {"schedule", c.schedule},
      {"warmup_fraction", c.warmup_fraction},
      {"batch_size", c.batch_size},
      {"epochs", c.epochs},
      {"label_smoothing", c.label_smoothing},
      {"dropout", c.dropout},
      {"augment", c.augment},
      {"augment_options",
       {{"max_rotation_degrees", a.max_rotation_degrees},
        {"min_scale", a.min_scale},
        {"max_scale", a.max_scale},
        {"max_shear", a.max_shear}}},
      {"seed", c.seed},
  };
  // Written only when set, so that earlier runs' configs (and a resume's comparison) read as
  // before.
  if (a.bitmaps) j["augment_options"]["bitmaps"] = true;
  if (a.mirror_probability > 0.0) j["augment_options"]["mirror_probability"] = a.mirror_probability;
  if (c.raster_channels != RasterChannels::kInk) {
    j["raster_channels"] = RasterChannelsName(c.raster_channels);
  }
  if (c.retrieval.kind != "none") {
    const RetrievalLossOptions& r = c.retrieval;
    j["retrieval_loss"] = {{"kind", r.kind},
                           {"weight", r.weight},
                           {"temperature", r.temperature},
                           {"scale", r.scale},
                           {"margin", r.margin}};
  }
  return j.dump(2);
}

absl::StatusOr<TrainConfig> TrainConfigFromJson(const std::string& text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("train config is not a JSON object");
  }
  TrainConfig c;
  try {
    c.recipe = j.at("recipe").get<std::string>();
    c.architecture = j.at("architecture").get<std::string>();
    c.input_size = j.at("input_size").get<int>();
    ASSIGN_OR_RETURN(c.raster_style, ParseRasterStyle(j.at("raster_style").get<std::string>()));
    c.mean_image = j.at("mean_image").get<bool>();
    c.norm_mean = j.at("norm_mean").get<double>();
    c.norm_std = j.at("norm_std").get<double>();
    c.optimizer = j.at("optimizer").get<std::string>();
    c.lr = j.at("lr").get<double>();
    c.weight_decay = j.at("weight_decay").get<double>();
    c.schedule = j.at("schedule").get<std::string>();
    c.warmup_fraction = j.at("warmup_fraction").get<double>();
    c.batch_size = j.at("batch_size").get<int>();
    c.epochs = j.at("epochs").get<int>();
    c.label_smoothing = j.at("label_smoothing").get<double>();
    c.dropout = j.at("dropout").get<double>();
    c.augment = j.at("augment").get<bool>();
    const json& a = j.at("augment_options");
    c.augment_options.max_rotation_degrees = a.at("max_rotation_degrees").get<double>();
    c.augment_options.min_scale = a.at("min_scale").get<double>();
    c.augment_options.max_scale = a.at("max_scale").get<double>();
    c.augment_options.max_shear = a.at("max_shear").get<double>();
    c.augment_options.bitmaps = a.value("bitmaps", false);  // absent before bitmaps could be
    c.augment_options.mirror_probability = a.value("mirror_probability", 0.0);  // likewise
    c.seed = j.at("seed").get<uint64_t>();
    if (j.contains("raster_channels")) {  // absent: ink (and every config before it existed)
      ASSIGN_OR_RETURN(c.raster_channels,
                       ParseRasterChannels(j.at("raster_channels").get<std::string>()));
    }
    if (j.contains("retrieval_loss")) {  // absent: none (and every config before it existed)
      const json& r = j.at("retrieval_loss");
      c.retrieval.kind = r.at("kind").get<std::string>();
      c.retrieval.weight = r.at("weight").get<double>();
      c.retrieval.temperature = r.at("temperature").get<double>();
      c.retrieval.scale = r.at("scale").get<double>();
      c.retrieval.margin = r.at("margin").get<double>();
    }
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("train config: ", e.what()));
  }
  RETURN_IF_ERROR(ValidateTrainConfig(c));
  return c;
}

}  // namespace sketch
