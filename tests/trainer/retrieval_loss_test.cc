// Tests trainer/retrieval_loss.h: each objective against hand-computed values, finite gradients
// (a zero feature row too), a tiny run in which each pulls same-class embeddings together, the
// config's retrieval_loss fields, and an exact resume of a run whose objective has parameters.
#include "trainer/retrieval_loss.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "models/model_files.h"
#include "tests/testing/sample_dataset.h"
#include "trainer/run_files.h"
#include "trainer/train.h"
#include "trainer/train_config.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

torch::Tensor Labels(std::initializer_list<int64_t> values) {
  return torch::tensor(std::vector<int64_t>(values), torch::kInt64);
}

TEST(SupervisedContrastiveLossTest, MatchesAHandComputedCase) {
  // a = b = (1, 0) of class 0, c = (0, 1) of class 1; temperature 1. Anchor a: its one positive b
  // at similarity 1, the other candidate c at 0: -log(e / (e + 1)) = log(1 + e) - 1; b alike;
  // c has no positive and does not count. Scale does not matter (rows are normalized).
  const torch::Tensor features = torch::tensor({{3.0f, 0.0f}, {0.5f, 0.0f}, {0.0f, 2.0f}});
  const double expected = std::log(1 + std::exp(1.0)) - 1;
  EXPECT_NEAR(SupervisedContrastiveLoss(features, Labels({0, 0, 1}), 1.0).item<double>(), expected,
              1e-6);
  // Temperature 0.5 doubles the similarities: log(1 + e^2) - 2.
  EXPECT_NEAR(SupervisedContrastiveLoss(features, Labels({0, 0, 1}), 0.5).item<double>(),
              std::log(1 + std::exp(2.0)) - 2, 1e-6);
  // No anchor with a positive: zero.
  EXPECT_EQ(SupervisedContrastiveLoss(features, Labels({0, 1, 2}), 1.0).item<double>(), 0.0);
}

TEST(CosFaceLossTest, MatchesAHandComputedCase) {
  // Feature (1, 0) of class 0, proxies (2, 0) and (0, 5): cosines 1 and 0; scale 2, margin 0.5:
  // logits 2 * (1 - 0.5) = 1 and 0, so -log(e / (e + 1)).
  const torch::Tensor features = torch::tensor({{4.0f, 0.0f}});
  const torch::Tensor proxies = torch::tensor({{2.0f, 0.0f}, {0.0f, 5.0f}});
  EXPECT_NEAR(CosFaceLoss(features, Labels({0}), proxies, 2.0, 0.5).item<double>(),
              std::log(1 + std::exp(-1.0)), 1e-6);
  // The margin only penalizes the true class: without it, logits 2 and 0.
  EXPECT_NEAR(CosFaceLoss(features, Labels({0}), proxies, 2.0, 0.0).item<double>(),
              std::log(1 + std::exp(-2.0)), 1e-6);
}

TEST(RetrievalObjectiveTest, GradientsAreFiniteEvenForAZeroFeature) {
  torch::manual_seed(1);
  for (const char* kind : {"supcon", "cosface"}) {
    RetrievalLossOptions options;
    options.kind = kind;
    RetrievalObjective objective(options, 3, 16);
    // ReLU features are >= 0 and may be all zero (a blank drawing).
    torch::Tensor features = torch::relu(torch::randn({6, 16}));
    features[2].zero_();
    features.requires_grad_(true);
    const torch::Tensor loss = objective->forward(features, Labels({0, 0, 1, 1, 2, 2}));
    ASSERT_TRUE(loss.defined());
    loss.backward();
    EXPECT_TRUE(std::isfinite(loss.item<double>())) << kind;
    EXPECT_TRUE(torch::isfinite(features.grad()).all().item<bool>()) << kind;
    for (const torch::Tensor& p : objective->parameters()) {
      EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>()) << kind;
    }
  }
  RetrievalObjective none(RetrievalLossOptions(), 3, 16);
  EXPECT_FALSE(none->forward(torch::ones({2, 16}), Labels({0, 1})).defined());
  EXPECT_TRUE(none->parameters().empty());
}

TEST(RetrievalObjectiveTest, InstanceRefusesLabels) {
  RetrievalLossOptions options;
  options.kind = "instance";
  RetrievalObjective instance(options, 3, 16);
  // Its positives are a drawing's views, which labels cannot say.
  EXPECT_THROW(instance->forward(torch::ones({2, 16}), Labels({0, 1})), c10::Error);
}

// Mean cosine similarity of same-class pairs minus that of different-class pairs.
double SeparationOf(const torch::Tensor& embeddings, const torch::Tensor& labels) {
  const torch::Tensor z = torch::nn::functional::normalize(
      embeddings, torch::nn::functional::NormalizeFuncOptions().dim(1));
  const torch::Tensor similarity = torch::matmul(z, z.t());
  const torch::Tensor same = labels.view({-1, 1}).eq(labels.view({1, -1}));
  const torch::Tensor off_diagonal = torch::eye(labels.size(0), torch::kBool).logical_not();
  const torch::Tensor positive = same.logical_and(off_diagonal);
  const torch::Tensor negative = same.logical_not();
  return similarity.masked_select(positive).mean().item<double>() -
         similarity.masked_select(negative).mean().item<double>();
}

TEST(RetrievalObjectiveTest, ATinyRunPullsSameClassEmbeddingsTogether) {
  // Four classes whose inputs differ only in a few of 32 noisy dimensions; a linear embedding
  // trained by the objective alone must bring each class together.
  for (const char* kind : {"supcon", "cosface"}) {
    torch::manual_seed(7);
    const int64_t n = 64, classes = 4, dim_in = 32, dim_out = 16;
    const torch::Tensor labels = torch::arange(n, torch::kInt64).remainder(classes);
    const torch::Tensor centers = torch::randn({classes, dim_in}) * 0.6;
    const torch::Tensor inputs = centers.index_select(0, labels) + torch::randn({n, dim_in});
    torch::nn::Linear embed(dim_in, dim_out);
    RetrievalLossOptions options;
    options.kind = kind;
    RetrievalObjective objective(options, classes, dim_out);
    std::vector<torch::Tensor> params = embed->parameters();
    for (const torch::Tensor& p : objective->parameters()) params.push_back(p);
    torch::optim::Adam optimizer(params, torch::optim::AdamOptions(0.02));
    const double before = SeparationOf(embed->forward(inputs).detach(), labels);
    for (int step = 0; step < 150; ++step) {
      optimizer.zero_grad();
      objective->forward(embed->forward(inputs), labels).backward();
      optimizer.step();
    }
    const double after = SeparationOf(embed->forward(inputs).detach(), labels);
    EXPECT_GT(after, 0.3) << kind << ": same-class cosine must exceed different-class by 0.3";
    EXPECT_GT(after, before + 0.2) << kind;
  }
}

// instance: the positives are a drawing's other view (its example index), not its class.
TEST(RetrievalObjectiveTest, InstanceContrastsTheViewsOfEachDrawing) {
  RetrievalLossOptions options;
  options.kind = "instance";
  options.weight = 0.5;
  options.temperature = 0.2;
  RetrievalObjective objective(options, /*num_classes=*/2, /*feature_dim=*/4);
  EXPECT_EQ(objective->views(), 2);
  Batch batch;
  batch.labels = Labels({0, 0, 1, 0, 0, 1});  // two drawings of class 0, one of class 1, 2 views
  batch.indices = {7, 3, 5, 7, 3, 5};
  torch::manual_seed(1);
  const torch::Tensor features = torch::rand({6, 4});
  const torch::Tensor loss = objective->forward(features, batch);
  EXPECT_NEAR(
      loss.item<double>(),
      0.5 * SupervisedContrastiveLoss(features, Labels({7, 3, 5, 7, 3, 5}), 0.2).item<double>(),
      1e-6);
  EXPECT_GT(std::abs(loss.item<double>() -
                     0.5 * SupervisedContrastiveLoss(features, batch.labels, 0.2).item<double>()),
            1e-4);
  RetrievalLossOptions supcon = options;
  supcon.kind = "supcon";
  EXPECT_EQ(RetrievalObjective(supcon, 2, 4)->views(), 1);

  RecipeOverrides o;
  o.retrieval_loss = "instance";
  ASSERT_TRUE(ResolveTrainConfig("default", o).ok());
  o.augment = false;  // the two views would be the same image
  EXPECT_EQ(ResolveTrainConfig("default", o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RetrievalConfigTest, RecipesCarryNoObjectiveAndOverridesAreChecked) {
  auto seed = ResolveTrainConfig("seed", {});
  ASSERT_TRUE(seed.ok());
  EXPECT_EQ(seed->retrieval.kind, "none");
  EXPECT_EQ(TrainConfigToJson(*seed).find("retrieval_loss"), std::string::npos)
      << "configs without an objective read as before it existed";

  RecipeOverrides o;
  o.retrieval_loss = "cosface";
  o.retrieval_margin = 0.3;
  auto cosface = ResolveTrainConfig("default", o);
  ASSERT_TRUE(cosface.ok()) << cosface.status();
  const std::string text = TrainConfigToJson(*cosface);
  auto back = TrainConfigFromJson(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->retrieval.kind, "cosface");
  EXPECT_DOUBLE_EQ(back->retrieval.margin, 0.3);
  EXPECT_EQ(TrainConfigToJson(*back), text);

  o.retrieval_loss = "triplet";
  EXPECT_EQ(ResolveTrainConfig("default", o).status().code(), absl::StatusCode::kInvalidArgument);
  o.retrieval_loss = "supcon";
  o.retrieval_temperature = 0;
  auto bad = ResolveTrainConfig("default", o);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("retrieval_loss.temperature"), std::string::npos);
}

double MaxDifference(const torch::nn::Module& a, const torch::nn::Module& b) {
  double worst = 0;
  auto pb = b.named_parameters();
  for (const auto& item : a.named_parameters()) {
    worst = std::max(worst, (item.value() - pb[item.key()]).abs().max().item<double>());
  }
  return worst;
}

TEST(RetrievalTrainTest, ACosFaceRunResumesExactly) {
  auto dataset = PrepareSampleDataset("retrieval_train", {"airplane", "eye", "guitar"}, 24, 8, 3);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  auto options = [&](const std::string& name) {
    TrainOptions o;
    o.dataset_path = *dataset;
    o.out_dir = (fs::path(::testing::TempDir()) / "retrieval_train" / name).string();
    fs::remove_all(o.out_dir);
    o.overrides.input_size = 32;
    o.overrides.batch_size = 8;
    o.overrides.epochs = 1;
    o.overrides.retrieval_loss = "cosface";
    o.threads = 1;
    o.precision = "fp32";
    o.checkpoint_every = 2;
    o.verbose = false;
    return o;
  };
  TrainOptions straight = options("straight"), resumed = options("resumed");
  straight.max_steps = 6;
  ASSERT_TRUE(Train(straight).ok());
  resumed.max_steps = 3;
  ASSERT_TRUE(Train(resumed).ok());
  bool has_objective = false;
  for (const auto& entry : fs::recursive_directory_iterator(resumed.out_dir)) {
    has_objective |= entry.path().filename() == "objective.pt";
  }
  EXPECT_TRUE(has_objective) << "the proxies are checkpointed";
  resumed.max_steps = 6;
  resumed.resume = true;
  auto second = Train(resumed);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->start_step, 3);
  auto x = LoadTrainedModel(straight.out_dir), y = LoadTrainedModel(resumed.out_dir);
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_LE(MaxDifference(*x->model, *y->model), 1e-6)
      << "a resumed run must restore the proxies and their optimizer state";
}

}  // namespace
}  // namespace sketch
