// Tests trainer/train.h, train_config.h, checkpoint.h and run_files.h: recipes, the learning-rate
// schedule, a short real training run, exact resume, checkpoint atomicity and the output
// directory.
#include "trainer/train.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "bundle/model_bundle.h"
#include "core/dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/model_files.h"
#include "models/torch_runtime.h"
#include "tests/testing/sample_dataset.h"
#include "trainer/bundle_builder.h"
#include "trainer/checkpoint.h"
#include "trainer/evaluate.h"
#include "trainer/image_batcher.h"
#include "trainer/prepare.h"
#include "trainer/run_files.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / "train_test" / name;
  fs::remove_all(dir);
  return dir.string();
}

int CountLines(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

class TrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto path =
        PrepareSampleDataset("train_test", {"airplane", "eye", "guitar", "television"}, 60, 20, 4);
    ASSERT_TRUE(path.ok()) << path.status();
    dataset_path_ = new std::string(*path);
  }
  static void TearDownTestSuite() {
    delete dataset_path_;
    dataset_path_ = nullptr;
  }

  // A tiny, fully regularized default-recipe run: augmentation and dropout are on so the resume
  // test covers their random streams too.
  static TrainOptions Tiny(const std::string& out) {
    TrainOptions o;
    o.dataset_path = *dataset_path_;
    o.out_dir = out;
    o.overrides.input_size = 32;
    o.overrides.batch_size = 8;
    o.overrides.epochs = 1;  // 30 steps: the cosine schedule is mid-way at step 6
    o.threads = 1;
    o.precision = "fp32";
    o.loader_threads = 1;
    o.checkpoint_every = 2;
    o.log_every = 2;
    o.verbose = false;
    return o;
  }

  static std::string* dataset_path_;
};
std::string* TrainTest::dataset_path_ = nullptr;

// Largest |a - b| over every parameter and buffer (the two models must match by name).
double MaxDifference(const torch::nn::Module& a, const torch::nn::Module& b) {
  double worst = 0;
  auto pb = b.named_parameters(), bb = b.named_buffers();
  for (const auto& item : a.named_parameters()) {
    worst = std::max(worst, (item.value() - pb[item.key()]).abs().max().item<double>());
  }
  for (const auto& item : a.named_buffers()) {
    worst = std::max(worst, (item.value().to(torch::kDouble) - bb[item.key()].to(torch::kDouble))
                                .abs()
                                .max()
                                .item<double>());
  }
  return worst;
}

TEST(RecipeTest, SeedIsThe2018Study) {
  auto c = ResolveTrainConfig("seed", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->optimizer, "adam");
  EXPECT_EQ(c->lr, 1e-4);
  EXPECT_EQ(c->batch_size, 10);
  EXPECT_EQ(c->epochs, 1);
  EXPECT_EQ(c->schedule, "constant");
  EXPECT_EQ(c->weight_decay, 0.0);
  EXPECT_FALSE(c->augment);
  EXPECT_EQ(c->raster_style, RasterStyle::kSeed);
  EXPECT_TRUE(c->mean_image);
  EXPECT_EQ(c->dropout, 0.0);
  EXPECT_EQ(c->label_smoothing, 0.0);
  EXPECT_EQ(c->input_size, 128);
}

TEST(RecipeTest, OverridesReplaceRecipeFieldsAndAreChecked) {
  RecipeOverrides o;
  o.architecture = "skresnet";
  o.lr = 0.01;
  o.augment = false;
  o.raster_style = "seed";
  o.max_shear = 0.3;
  auto c = ResolveTrainConfig("default", o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "skresnet");
  EXPECT_EQ(c->lr, 0.01);
  EXPECT_FALSE(c->augment);
  EXPECT_EQ(c->raster_style, RasterStyle::kSeed);
  EXPECT_EQ(c->augment_options.max_shear, 0.3);
  EXPECT_EQ(c->optimizer, "adamw") << "untouched fields keep the recipe's";

  EXPECT_FALSE(ResolveTrainConfig("fast", {}).ok());
  const std::vector<std::function<void(RecipeOverrides*)>> breakers = {
      [](RecipeOverrides* b) { b->architecture = "vgg"; },
      [](RecipeOverrides* b) { b->input_size = 100; },
      [](RecipeOverrides* b) { b->lr = -1; },
      [](RecipeOverrides* b) { b->dropout = 1; },
      [](RecipeOverrides* b) { b->raster_style = "thick"; },
      [](RecipeOverrides* b) { b->min_scale = 2; },
  };
  for (const auto& breaker : breakers) {
    RecipeOverrides bad;
    breaker(&bad);
    EXPECT_EQ(ResolveTrainConfig("default", bad).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(RecipeTest, ConfigJsonRoundTrips) {
  RecipeOverrides o;
  o.seed = 18446744073709551615ull;
  o.warmup_fraction = 0.1;
  auto c = ResolveTrainConfig("default", o);
  ASSERT_TRUE(c.ok());
  const std::string text = TrainConfigToJson(*c);
  auto back = TrainConfigFromJson(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(TrainConfigToJson(*back), text);
  EXPECT_EQ(back->seed, 18446744073709551615ull);
  EXPECT_FALSE(TrainConfigFromJson("{\"recipe\": \"seed\"}").ok());
  EXPECT_FALSE(TrainConfigFromJson("not json").ok());
}

TEST(RecipeTest, BitmapAugmentationIsAnOptionWrittenOnlyWhenSet) {
  auto plain = ResolveTrainConfig("default", {});
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->augment_options.bitmaps);
  EXPECT_EQ(TrainConfigToJson(*plain).find("bitmaps"), std::string::npos);
  RecipeOverrides o;
  o.augment_bitmaps = true;
  auto bitmaps = ResolveTrainConfig("default", o);
  ASSERT_TRUE(bitmaps.ok()) << bitmaps.status();
  EXPECT_TRUE(bitmaps->augment_options.bitmaps);
  auto back = TrainConfigFromJson(TrainConfigToJson(*bitmaps));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->augment_options.bitmaps);
}

TEST(RecipeTest, MirrorAugmentationIsAnOptionWrittenOnlyWhenSet) {
  auto plain = ResolveTrainConfig("default", {});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->augment_options.mirror_probability, 0.0);
  EXPECT_EQ(TrainConfigToJson(*plain).find("mirror"), std::string::npos)
      << "the recipes' configs read as before";
  RecipeOverrides o;
  o.mirror_probability = 0.5;
  auto mirrored = ResolveTrainConfig("default", o);
  ASSERT_TRUE(mirrored.ok()) << mirrored.status();
  auto back = TrainConfigFromJson(TrainConfigToJson(*mirrored));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->augment_options.mirror_probability, 0.5);
  o.mirror_probability = 2.0;
  EXPECT_EQ(ResolveTrainConfig("default", o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RecipeTest, RasterChannelsAreAnOptionWrittenOnlyWhenSet) {
  auto ink = ResolveTrainConfig("default", {});
  ASSERT_TRUE(ink.ok());
  EXPECT_EQ(ink->raster_channels, RasterChannels::kInk);
  EXPECT_EQ(TrainConfigToJson(*ink).find("raster_channels"), std::string::npos)
      << "the recipes' configs read as before";

  RecipeOverrides o;
  o.raster_channels = "order";
  auto order = ResolveTrainConfig("default", o);
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->raster_channels, RasterChannels::kStrokeOrder);
  auto back = TrainConfigFromJson(TrainConfigToJson(*order));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->raster_channels, RasterChannels::kStrokeOrder);

  o.raster_channels = "colour";
  EXPECT_EQ(ResolveTrainConfig("default", o).status().code(), absl::StatusCode::kInvalidArgument);
  // The seed recipe subtracts a mean image of the ink, which has no meaning for more channels.
  o.raster_channels = "order";
  EXPECT_EQ(ResolveTrainConfig("seed", o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RecipeTest, RetrievalIsTheDefaultWithSupconStrokeOrderMirrorsAndMoreEpochs) {
  auto base = ResolveTrainConfig("default", {});
  auto retrieval = ResolveTrainConfig("retrieval", {});
  ASSERT_TRUE(base.ok() && retrieval.ok()) << retrieval.status();
  EXPECT_EQ(retrieval->recipe, "retrieval");
  EXPECT_EQ(retrieval->retrieval.kind, "supcon");
  EXPECT_EQ(retrieval->raster_channels, RasterChannels::kStrokeOrder);
  EXPECT_EQ(retrieval->epochs, 2 * base->epochs);
  EXPECT_EQ(retrieval->augment_options.mirror_probability, 0.5);
  // Everything else is the default recipe's: same JSON once the four differences are undone.
  TrainConfig undone = *retrieval;
  undone.recipe = base->recipe;
  undone.retrieval = base->retrieval;
  undone.raster_channels = base->raster_channels;
  undone.epochs = base->epochs;
  undone.augment_options.mirror_probability = base->augment_options.mirror_probability;
  EXPECT_EQ(TrainConfigToJson(undone), TrainConfigToJson(*base));

  auto back = TrainConfigFromJson(TrainConfigToJson(*retrieval));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(TrainConfigToJson(*back), TrainConfigToJson(*retrieval));

  RecipeOverrides o;  // flags still override it
  o.retrieval_loss = "none";
  o.epochs = 24;
  auto plain = ResolveTrainConfig("retrieval", o);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->retrieval.kind, "none");
  EXPECT_EQ(plain->epochs, 24);

  const absl::Status unknown = ResolveTrainConfig("fast", {}).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("seed, default or retrieval"), std::string::npos) << unknown;
}

TEST(ScheduleTest, WarmsUpThenDecaysToZero) {
  TrainConfig c;
  c.lr = 1.0;
  c.schedule = "cosine";
  c.warmup_fraction = 0.1;
  EXPECT_NEAR(LearningRateAt(c, 0, 100), 0.1, 1e-12);
  EXPECT_NEAR(LearningRateAt(c, 9, 100), 1.0, 1e-12);
  EXPECT_NEAR(LearningRateAt(c, 10, 100), 1.0, 1e-12);
  EXPECT_NEAR(LearningRateAt(c, 55, 100), 0.5, 1e-12);
  EXPECT_LT(LearningRateAt(c, 99, 100), 1e-3);
  for (int s = 11; s < 100; ++s)
    EXPECT_LE(LearningRateAt(c, s, 100), LearningRateAt(c, s - 1, 100));
  c.schedule = "constant";
  c.warmup_fraction = 0;
  EXPECT_EQ(LearningRateAt(c, 0, 100), 1.0);
  EXPECT_EQ(LearningRateAt(c, 99, 100), 1.0);
}

TEST_F(TrainTest, ShortRunLearnsRealDrawings) {
  const std::string out = TempDir("learns");
  TrainOptions o = Tiny(out);
  o.overrides.batch_size = 16;
  o.overrides.epochs = 6;  // 15 steps per epoch: 90 steps (5 epochs already reach ~0.85)
  o.overrides.lr = 2e-3;
  o.checkpoint_every = 0;
  o.log_every = 15;
  o.precision = "auto";  // bf16 + channels-last where the CPU has it: that path is covered too
  auto result = Train(o);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->end_step, 90);
  EXPECT_GT(result->images_per_second, 0);

  auto trained = LoadTrainedModel(out);
  ASSERT_TRUE(trained.ok()) << trained.status();
  auto dataset = ReadDataset(*dataset_path_);
  ASSERT_TRUE(dataset.ok());
  std::vector<const Sketch*> sketches;
  std::vector<int64_t> labels;
  for (const DatasetExample& e : dataset->test) {
    sketches.push_back(&e.sketch);
    labels.push_back(e.label);
  }
  auto images = RasterizeBatch(sketches, trained->preprocessing);
  ASSERT_TRUE(images.ok());
  torch::NoGradGuard no_grad;
  const torch::Tensor predicted = trained->model->Forward(*images).logits.argmax(1);
  const double accuracy =
      predicted.eq(torch::tensor(labels)).to(torch::kDouble).mean().item<double>();
  EXPECT_GT(accuracy, 0.6) << "chance is 0.25; about 0.9 is usual";
  EXPECT_EQ(CountLines(out + "/train_log.jsonl"), 6);
}

// A stroke-order run: its files record the channels, it loads as a 3-channel network, and its
// bundle (with mirror averaging) serves the features its evaluation computed.
TEST_F(TrainTest, StrokeOrderRunLoadsAndBundlesWithItsChannels) {
  const std::string out = TempDir("order");
  TrainOptions o = Tiny(out);
  o.overrides.raster_channels = "order";
  o.max_steps = 4;
  o.checkpoint_every = 0;
  auto result = Train(o);
  ASSERT_TRUE(result.ok()) << result.status();
  auto trained = LoadTrainedModel(out);
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->model->in_channels(), 3);
  EXPECT_EQ(trained->preprocessing.raster.channels, RasterChannels::kStrokeOrder);

  BundleOptions b;
  b.model_dir = out;
  b.dataset_path = *dataset_path_;
  b.bundle_dir = TempDir("order_bundle");
  b.evaluate_train = false;
  b.test_time.mirror = true;
  auto report = BuildBundle(b);
  ASSERT_TRUE(report.ok()) << report.status();
  auto bundle = LoadBundle(b.bundle_dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const TrainedModel& served = bundle->model;
  EXPECT_EQ(served.model->in_channels(), 3);
  EXPECT_EQ(served.preprocessing.raster.channels, RasterChannels::kStrokeOrder);
  EXPECT_TRUE(served.preprocessing.test_time.mirror);
  auto dataset = ReadDataset(*dataset_path_);
  ASSERT_TRUE(dataset.ok());
  auto evaluation = EvaluateSplit(served, dataset->test, {});
  ASSERT_TRUE(evaluation.ok()) << evaluation.status();
  EXPECT_EQ(evaluation->top1, report->test.top1);
}

TEST_F(TrainTest, ResumedRunEndsWithTheSameWeights) {
  const std::string straight = TempDir("straight"), resumed = TempDir("resumed");
  TrainOptions a = Tiny(straight);
  a.max_steps = 7;
  ASSERT_TRUE(Train(a).ok());

  TrainOptions b = Tiny(resumed);
  b.max_steps = 3;  // "killed" after step 3; the last checkpoint is at step 3
  auto first = Train(b);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->end_step, 3);
  auto at_step3 = LoadTrainedModel(resumed);
  ASSERT_TRUE(at_step3.ok()) << at_step3.status();
  // A crash while writing the next checkpoint leaves a torn .tmp directory and file behind.
  fs::create_directories(resumed + "/checkpoints/step-00000005.tmp");
  std::ofstream(resumed + "/checkpoints/step-00000005.tmp/model.pt") << "torn";
  std::ofstream(resumed + "/model.pt.tmp") << "torn";
  b.max_steps = 7;
  b.resume = true;
  b.loader_threads = 2;  // scheduling must not matter
  auto second = Train(b);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->start_step, 3);
  EXPECT_EQ(second->end_step, 7);
  EXPECT_GE(second->run_train_seconds, first->train_seconds + second->train_seconds - 1e-6)
      << "the run's time counts the first session too";
  EXPECT_FALSE(fs::exists(resumed + "/checkpoints/step-00000005.tmp"));

  auto x = LoadTrainedModel(straight), y = LoadTrainedModel(resumed);
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_LE(MaxDifference(*x->model, *y->model), 1e-6);
  EXPECT_GT(MaxDifference(*x->model, *at_step3->model), 1e-4) << "the comparison can fail";
  // Steps 2 and 3 (where the first session stopped), then 4, 6 and 7: none twice.
  EXPECT_EQ(CountLines(resumed + "/train_log.jsonl"), 5);
}

TEST_F(TrainTest, CudaDeviceIsRefusedWithTheReasonWhereThereIsNone) {
  if (CudaBuild() && torch::cuda::is_available()) GTEST_SKIP() << "a CUDA GPU is present";
  TrainOptions o = Tiny(TempDir("no-gpu"));
  o.device = "cuda";
  auto result = Train(o);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.status().message()), testing::HasSubstr("--device cuda"));
}

// On a GPU: a run killed and resumed there ends where the straight GPU run does (to cuDNN's
// nondeterminism), and its model loads in a CPU process.
TEST_F(TrainTest, CudaRunResumesAndItsModelLoadsOnTheCpu) {
  if (!CudaBuild() || !torch::cuda::is_available()) {
    GTEST_SKIP() << "no CUDA GPU here (CudaBuild() = " << CudaBuild()
                 << "): run on a GPU machine with the torch2-cuda build";
  }
  const std::string straight = TempDir("cuda-straight"), resumed = TempDir("cuda-resumed");
  TrainOptions a = Tiny(straight);
  a.device = "cuda";
  a.max_steps = 7;
  auto whole = Train(a);
  ASSERT_TRUE(whole.ok()) << whole.status();
  TrainOptions b = Tiny(resumed);
  b.device = "cuda";
  b.max_steps = 3;
  ASSERT_TRUE(Train(b).ok());
  b.max_steps = 7;
  b.resume = true;
  auto second = Train(b);
  ASSERT_TRUE(second.ok()) << second.status();
  auto x = LoadTrainedModel(straight), y = LoadTrainedModel(resumed);
  ASSERT_TRUE(x.ok() && y.ok()) << x.status() << " " << y.status();
  EXPECT_TRUE(x->model->parameters()[0].device().is_cpu());
  EXPECT_LE(MaxDifference(*x->model, *y->model), 1e-3);
}

TEST_F(TrainTest, OutputDirectoryGuardsAgainstMixingRuns) {
  const std::string out = TempDir("guards");
  TrainOptions o = Tiny(out);
  o.resume = true;
  EXPECT_EQ(Train(o).status().code(), absl::StatusCode::kNotFound) << "nothing to resume";
  o.resume = false;
  o.max_steps = 2;
  ASSERT_TRUE(Train(o).ok());
  EXPECT_EQ(Train(o).status().code(), absl::StatusCode::kFailedPrecondition);
  o.resume = true;
  PrepareOptions other;
  other.input_dir = std::string(SKETCH_TEST_DATA_DIR) + "/quickdraw/simplified";
  other.output_path = out + "-other.skds";
  other.classes = {"cat", "eye"};
  other.train_per_class = 10;
  other.test_per_class = 1;
  other.progress = false;
  ASSERT_TRUE(PrepareDataset(other).ok());
  TrainOptions wrong_data = o;
  wrong_data.dataset_path = other.output_path;
  EXPECT_EQ(Train(wrong_data).status().code(), absl::StatusCode::kFailedPrecondition);
  o.overrides.lr = 0.5;  // not the run's config
  EXPECT_EQ(Train(o).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TrainTest, SeedRecipeWritesItsMeanImageAndKeepsTwoCheckpoints) {
  const std::string out = TempDir("seed");
  TrainOptions o = Tiny(out);
  o.recipe = "seed";
  o.overrides = RecipeOverrides();
  o.overrides.input_size = 32;
  o.max_steps = 6;
  auto result = Train(o);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->total_steps, 24) << "one pass over 240 drawings in batches of 10";
  EXPECT_TRUE(fs::exists(out + "/mean_image.npy"));
  auto p = LoadPreprocessing(out);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->raster.style, RasterStyle::kSeed);
  ASSERT_EQ(p->normalization.mean_image.size(), 32u * 32u);
  auto dataset = ReadDataset(*dataset_path_);
  auto mean = ComputeMeanImage(dataset->train, p->raster);
  EXPECT_EQ(p->normalization.mean_image, *mean);

  int checkpoints = 0;
  for (const auto& entry : fs::directory_iterator(out + "/checkpoints")) {
    ++checkpoints;
    EXPECT_TRUE(entry.path().filename() == "step-00000004" ||
                entry.path().filename() == "step-00000006")
        << entry.path();
  }
  EXPECT_EQ(checkpoints, 2);
  auto state = ReadCheckpointState(out + "/checkpoints/step-00000006");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->step, 6);
  EXPECT_EQ(TrainConfigFromJson(state->config_json)->recipe, "seed");
}

}  // namespace
}  // namespace sketch
