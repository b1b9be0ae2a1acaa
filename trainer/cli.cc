#include "trainer/cli.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "core/atomic_file.h"
#include "core/binary_format.h"
#include "index/query_expanding_index.h"
#include "models/preprocessing.h"
#include "models/torch_runtime.h"
#include "trainer/bundle_builder.h"
#include "trainer/drawing_evaluation.h"
#include "trainer/gallery_builder.h"
#include "trainer/prepare.h"
#include "trainer/run_files.h"
#include "trainer/study.h"
#include "trainer/train.h"

namespace sketch {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "sketch-trainer: " << status << "\n";
  return 1;
}

// Every recipe field is a flag; unset ones keep the recipe's value (shared by train and study).
void AddRecipeFlags(CLI::App* cmd, RecipeOverrides* o) {
  cmd->add_option("--epochs", o->epochs, "passes over the training set");
  cmd->add_option("--batch", o->batch_size, "batch size");
  cmd->add_option("--lr", o->lr, "peak learning rate");
  cmd->add_option("--seed", o->seed, "seed for init, order, augmentation, dropout");
  cmd->add_option("--input-size", o->input_size,
                  "image side in pixels (default recipe: 64, seed: 128)");
  cmd->add_option("--raster-style", o->raster_style, "default | seed");
  cmd->add_option("--raster-channels", o->raster_channels,
                  "ink | order: stroke order and progress as two more input channels");
  cmd->add_option("--mean-image", o->mean_image, "true: subtract the training mean image");
  cmd->add_option("--norm-mean", o->norm_mean, "scalar mean (pixel/255 units)");
  cmd->add_option("--norm-std", o->norm_std, "input = (pixel/255 - mean) / std");
  cmd->add_option("--optimizer", o->optimizer, "adam | adamw");
  cmd->add_option("--weight-decay", o->weight_decay, "on conv/linear weights");
  cmd->add_option("--schedule", o->schedule, "constant | cosine");
  cmd->add_option("--warmup", o->warmup_fraction, "warm-up fraction of all steps");
  cmd->add_option("--label-smoothing", o->label_smoothing, "cross-entropy label smoothing");
  cmd->add_option("--dropout", o->dropout, "dropout on fc_1");
  cmd->add_option("--augment", o->augment, "true | false: random affine on strokes");
  cmd->add_option("--rotation", o->max_rotation_degrees, "augmentation: max |rotation| degrees");
  cmd->add_option("--min-scale", o->min_scale, "augmentation: min x/y scale");
  cmd->add_option("--max-scale", o->max_scale, "augmentation: max x/y scale");
  cmd->add_option("--shear", o->max_shear, "augmentation: max |shear|");
  cmd->add_option("--mirror-probability", o->mirror_probability,
                  "augmentation: probability of mirroring a drawing left-right");
  cmd->add_option("--augment-bitmaps", o->augment_bitmaps,
                  "true | false: the same random affine on bitmap drawings (resampled)");
  cmd->add_option("--retrieval-loss", o->retrieval_loss,
                  "none | supcon | cosface | instance: an objective on fc_1 beside cross-entropy");
  cmd->add_option("--retrieval-weight", o->retrieval_weight, "its weight in the total loss");
  cmd->add_option("--retrieval-temperature", o->retrieval_temperature, "supcon and instance temperature");
  cmd->add_option("--retrieval-scale", o->retrieval_scale, "cosface logit scale");
  cmd->add_option("--retrieval-margin", o->retrieval_margin, "cosface cosine margin");
}

// The index a bundle or gallery gets (index/index_spec.h) and how its recall is measured.
void AddIndexFlags(CLI::App* cmd, IndexSpec* index, int* recall_queries) {
  cmd->add_option("--index-type", index->type,
                  "FAISS index factory string: Flat (exact), IVF<nlist>,Flat, "
                  "OPQ<m>,IVF<nlist>,PQ<m>, HNSW<M>")
      ->capture_default_str();
  cmd->add_option("--nprobe", index->default_knobs.nprobe,
                  "IVF lists a search visits by default (0: FAISS's 1)")
      ->capture_default_str();
  cmd->add_option("--ef-search", index->default_knobs.ef_search,
                  "HNSW candidate list size by default (0: FAISS's 16)")
      ->capture_default_str();
  cmd->add_option("--recall-queries", *recall_queries,
                  "indexed features that measure an approximate index's recall@10")
      ->capture_default_str();
}

// Test-time views (models/preprocessing.h), recorded in the bundle; a bundle given as the model
// keeps its own unless a flag sets them. The flags need `needs` when it is given.
void AddTestTimeViewFlags(CLI::App* cmd, TestTimeViews* views, CLI::Option* needs = nullptr) {
  auto* mirror = cmd->add_flag("--mirror-average", views->mirror,
                               "embed each drawing as the mean of it and its left-right mirror "
                               "(twice the compute)");
  auto* rotation =
      cmd->add_option("--rotation-average", views->rotation_degrees,
                      "also average each drawing's rotations by +/- this many degrees (0: none; "
                      "three times the compute, six with --mirror-average; 6 and 12 are measured)")
          ->check(CLI::Range(0.0f, kMaxViewRotationDegrees))
          ->capture_default_str();
  if (needs != nullptr) {
    mirror->needs(needs);
    rotation->needs(needs);
  }
}

// The learned whitening of a gallery's features (index/feature_whitening.h); the flags need
// `needs` when it is given (evaluate: only with --drawings).
void AddWhiteningFlags(CLI::App* cmd, WhiteningOptions* whitening, CLI::Option* needs = nullptr) {
  auto* dims = cmd->add_option("--whiten", whitening->dims,
                               "whiten the L2-normalized features to this many dimensions, "
                               "fitted on these drawings (0: no whitening; 128 is measured)")
                   ->capture_default_str();
  auto* shrink = cmd->add_option("--whiten-shrink", whitening->shrink,
                                 "the whitening's regularization (x the mean eigenvalue)")
                     ->capture_default_str();
  if (needs != nullptr) {
    dims->needs(needs);
    shrink->needs(needs);
  }
}

// Search-time query expansion (index/query_expanding_index.h), recorded in the bundle.
// The flags need `needs` when it is given (evaluate: only with --drawings).
void AddQueryExpansionFlags(CLI::App* cmd, QueryExpansionOptions* expansion,
                            CLI::Option* needs = nullptr) {
  auto* neighbors =
      cmd->add_option("--query-expansion", expansion->neighbors,
                      "expand each query with its N nearest indexed drawings before searching "
                      "again (0: no expansion; needs L2 features and a Flat or HNSW index)")
          ->capture_default_str();
  auto* alpha = cmd->add_option("--query-expansion-alpha", expansion->alpha,
                                "each neighbour's weight: its cosine similarity to the query ^ "
                                "alpha")
                    ->capture_default_str()
                    ->needs(neighbors);
  if (needs != nullptr) {
    neighbors->needs(needs);
    alpha->needs(needs);
  }
}

// Flags of the runtime (not of the result): threads, precision, loader threads.
void AddRuntimeFlags(CLI::App* cmd, int* threads, std::string* precision, int* loader_threads) {
  cmd->add_option("--threads", *threads, "torch threads (0: all cores)")->capture_default_str();
  cmd->add_option("--precision", *precision, "auto | fp32 | bf16")->capture_default_str();
  cmd->add_option("--loader-threads", *loader_threads, "rasterization threads")
      ->capture_default_str();
}

// Where the CNN runs. Checked where the model is built (ParseDevice), so a CPU-only build or a
// machine without a GPU answers --device cuda with the reason.
void AddDeviceFlag(CLI::App* cmd, std::string* device) {
  cmd->add_option("--device", *device, "cpu | cuda | cuda:N (cuda needs the torch2-cuda build)")
      ->capture_default_str();
}

struct Commands {
  bool quiet = false;
  PrepareOptions prepare;
  std::string convert_in, convert_out;
  bool convert_skip = false;
  TrainOptions train;
  std::string eval_model, eval_dataset, eval_out, eval_precision = "fp32";
  EvaluateOptions evaluate;
  DrawingEvaluationOptions eval_drawings;
  std::string eval_normalization = "auto", eval_json;
  int eval_threads = 0;
  BundleOptions bundle;
  std::string bundle_precision = "fp32", bundle_normalization = "auto";
  StudyOptions study;
  GalleryOptions gallery;
  std::string gallery_precision = "fp32", gallery_normalization = "auto";
  CLI::App *prep, *convert, *tr, *eval_cmd, *bundle_cmd, *study_cmd, *index_cmd;
};

void AddPrepare(CLI::App* app, Commands* c) {
  PrepareOptions& p = c->prepare;
  p.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto* cmd = c->prep =
      app->add_subcommand("prepare", "sample train/test drawings per class into a dataset");
  cmd->add_option("--input", p.input_dir, "directory of <class>.ndjson|.bin|.npy files")
      ->required();
  cmd->add_option("--output,-o", p.output_path, "dataset file to write")->required();
  auto* classes = cmd->add_option("--classes", p.classes,
                                  "explicit class names, comma-separated (default: all)")
                      ->delimiter(',');
  cmd->add_option("--num-classes", p.num_classes, "choose N classes at random (seeded)")
      ->excludes(classes);
  cmd->add_option("--train", p.train_per_class, "train drawings per class")->capture_default_str();
  cmd->add_option("--test", p.test_per_class, "test drawings per class")->capture_default_str();
  cmd->add_option("--seed", p.seed, "seed for class choice and sampling")->capture_default_str();
  cmd->add_flag("--allow-fewer", p.allow_fewer, "accept classes with fewer drawings");
  cmd->add_flag("--skip-invalid", p.skip_invalid, "skip (and count) malformed records");
  cmd->add_option("--threads", p.threads, "classes read in parallel")->capture_default_str();
  cmd->add_flag("--quiet,-q", c->quiet, "no progress bar");

  c->convert = app->add_subcommand("convert", "convert a stroke file (ndjson) to the .bin format");
  c->convert->add_option("input", c->convert_in, "ndjson or .bin file")->required();
  c->convert->add_option("output", c->convert_out, ".bin file to write")->required();
  c->convert->add_flag("--skip-invalid", c->convert_skip, "skip (and count) malformed records");
}

void AddTrain(CLI::App* app, Commands* c) {
  TrainOptions& t = c->train;
  auto* cmd = c->tr = app->add_subcommand("train", "train skNet/skResNet on a prepared dataset");
  cmd->add_option("--dataset", t.dataset_path, "dataset file from `prepare`")->required();
  cmd->add_option("--out", t.out_dir, "output dir: checkpoints, log, model.pt")->required();
  cmd->add_option("--recipe", t.recipe,
                  "seed (the 2018 study), default or retrieval (own-class search)")
      ->capture_default_str();
  cmd->add_option("--arch", t.overrides.architecture, "sknet | skresnet (recipe: sknet)");
  AddRecipeFlags(cmd, &t.overrides);
  AddRuntimeFlags(cmd, &t.threads, &t.precision, &t.loader_threads);
  AddDeviceFlag(cmd, &t.device);
  cmd->add_option("--checkpoint-every", t.checkpoint_every, "steps (0: at the end only)")
      ->capture_default_str();
  cmd->add_option("--log-every", t.log_every, "steps per log line")->capture_default_str();
  cmd->add_option("--max-steps", t.max_steps, "stop at this global step (0: no cap)");
  cmd->add_flag("--resume", t.resume, "continue from the newest checkpoint in --out");
  cmd->add_flag("--quiet,-q", c->quiet, "no progress bar");
}

void AddEvaluate(CLI::App* app, Commands* c) {
  DrawingEvaluationOptions& d = c->eval_drawings;
  auto* cmd = c->eval_cmd = app->add_subcommand(
      "evaluate",
      "--dataset: top-1/top-5 accuracy, loss, per-class accuracy and confusion matrix of its "
      "splits; --drawings: leave-one-out retrieval (mAP, P@10) on any drawings, the model's "
      "classes and unseen words apart");
  cmd->add_option("--model", c->eval_model,
                  "a `train` output directory (with --drawings also a bundle)")
      ->required();
  auto* what = cmd->add_option_group("what", "what to evaluate on (one of them)");
  auto* dataset =
      what->add_option("--dataset", c->eval_dataset, "a prepared dataset with the model's classes");
  auto* drawings =
      what->add_option("--drawings", d.inputs, "drawing files or folders, any of the four formats")
          ->excludes(dataset);
  what->require_option(1);
  cmd->add_option("--out", c->eval_out, "where the CSVs go (default: the model directory)")
      ->excludes(drawings);
  cmd->add_option("--precision", c->eval_precision, "auto | fp32 | bf16")->capture_default_str();
  AddDeviceFlag(cmd, &c->evaluate.device);
  cmd->add_option("--batch", c->evaluate.batch_size, "inference batch")->capture_default_str();
  cmd->add_option("--threads", c->eval_threads, "torch threads (0: all cores)")
      ->capture_default_str();
  cmd->add_flag("--skip-invalid", d.features.skip_invalid, "skip (and count) malformed records")
      ->needs(drawings);
  cmd->add_option("--map-sample", d.map_sample,
                  "measure the O(n^2) leave-one-out figures within this many drawings (0: all)")
      ->capture_default_str()
      ->needs(drawings);
  cmd->add_option("--features", c->eval_normalization,
                  "raw | l2 | auto (a bundle's own choice; l2 for a model directory)")
      ->capture_default_str()
      ->needs(drawings);
  cmd->add_option("--json", c->eval_json, "also write the report as JSON to this file")
      ->needs(drawings);
  AddTestTimeViewFlags(cmd, &d.test_time, drawings);
  AddWhiteningFlags(cmd, &d.whitening, drawings);
  AddQueryExpansionFlags(cmd, &d.query_expansion, drawings);
  cmd->add_flag("--quiet,-q", c->quiet, "no progress bar");
}

// Retrieval on any drawings: prints the report and, with --json, writes it.
int RunEvaluateDrawings(Commands& c, Precision precision) {
  auto normalization = ParseFeatureNormalization(c.eval_normalization);
  if (!normalization.ok()) return Fail(normalization.status());
  DrawingEvaluationOptions& d = c.eval_drawings;
  d.model = c.eval_model;
  d.normalization = *normalization;
  d.features.batch_size = c.evaluate.batch_size;
  d.features.precision = precision;
  d.features.device = c.evaluate.device;
  d.features.progress = !c.quiet;
  auto evaluation = EvaluateDrawings(d);
  if (!evaluation.ok()) return Fail(evaluation.status());
  std::cout << FormatDrawingEvaluation(*evaluation);
  if (!c.eval_json.empty()) {
    auto status = WriteFileAtomically(c.eval_json, DrawingEvaluationJson(d, *evaluation));
    if (!status.ok()) return Fail(status);
    std::cout << "wrote " << c.eval_json << "\n";
  }
  return 0;
}

void AddBundle(CLI::App* app, Commands* c) {
  BundleOptions& b = c->bundle;
  auto* cmd = c->bundle_cmd = app->add_subcommand(
      "bundle", "evaluate a trained model, index its test-set features, write the server bundle");
  cmd->add_option("--model", b.model_dir, "a `train` output directory")->required();
  cmd->add_option("--dataset", b.dataset_path, "the dataset it was trained on")->required();
  cmd->add_option("--out", b.bundle_dir, "bundle directory to write")->required();
  cmd->add_option("--features", c->bundle_normalization,
                  "index raw or l2-normalized features, or auto (the better test mAP)")
      ->capture_default_str();
  cmd->add_option("--precision", c->bundle_precision, "auto | fp32 | bf16")->capture_default_str();
  AddDeviceFlag(cmd, &b.evaluate.device);
  cmd->add_option("--batch", b.evaluate.batch_size, "inference batch")->capture_default_str();
  cmd->add_flag("!--no-train-eval", b.evaluate_train, "skip the pass over the training set");
  AddTestTimeViewFlags(cmd, &b.test_time);
  AddIndexFlags(cmd, &b.index, &b.recall_queries);
  AddQueryExpansionFlags(cmd, &b.query_expansion);
  cmd->add_flag("--quiet,-q", c->quiet, "no progress bar");
}

void AddIndex(CLI::App* app, Commands* c) {
  GalleryOptions& g = c->gallery;
  auto* cmd = c->index_cmd = app->add_subcommand(
      "index",
      "index any drawings (files or folders, any of the four formats) into a gallery "
      "bundle; a killed run continues when started again");
  cmd->add_option("--model", g.model, "a `train` output directory or a bundle")->required();
  cmd->add_option("--input", g.inputs, "drawing files or folders (repeatable)")->required();
  cmd->add_option("--out", g.out_dir, "bundle directory to write (work files: <out>.work)")
      ->required();
  cmd->add_option("--features", c->gallery_normalization,
                  "raw | l2 | auto (a bundle's own choice; l2 for a model directory)")
      ->capture_default_str();
  cmd->add_flag("--skip-invalid", g.features.skip_invalid, "skip (and count) malformed records");
  AddTestTimeViewFlags(cmd, &g.test_time);
  AddWhiteningFlags(cmd, &g.whitening);
  AddQueryExpansionFlags(cmd, &g.query_expansion);
  cmd->add_flag("!--no-drawings", g.store_drawings, "do not store the drawings in the bundle");
  cmd->add_option("--chunk", g.features.chunk_size, "drawings per resumable feature chunk")
      ->capture_default_str();
  cmd->add_option("--batch", g.features.batch_size, "inference batch")->capture_default_str();
  cmd->add_option("--map-sample", g.map_sample,
                  "measure the O(n^2) leave-one-out figures within this many drawings (0: all)")
      ->capture_default_str();
  cmd->add_option("--precision", c->gallery_precision, "auto | fp32 | bf16")->capture_default_str();
  AddDeviceFlag(cmd, &g.features.device);
  AddIndexFlags(cmd, &g.index, &g.recall_queries);
  // For tests of resumption: behaves as a run killed after N new chunks.
  cmd->add_option("--max-chunks", g.max_chunks)->group("");
  cmd->add_flag("--quiet,-q", c->quiet, "no progress bar");
}

int RunIndex(Commands& c) {
  auto precision = ParsePrecision(c.gallery_precision);
  if (!precision.ok()) return Fail(precision.status());
  auto normalization = ParseFeatureNormalization(c.gallery_normalization);
  if (!normalization.ok()) return Fail(normalization.status());
  c.gallery.features.precision = *precision;
  c.gallery.normalization = *normalization;
  c.gallery.features.progress = !c.quiet;
  auto report = BuildGallery(c.gallery);
  if (!report.ok()) return Fail(report.status());
  std::cout << FormatGalleryReport(*report) << "wrote gallery bundle " << c.gallery.out_dir << "\n";
  return 0;
}

void AddStudy(CLI::App* app, Commands* c) {
  StudyOptions& s = c->study;
  auto* cmd = c->study_cmd = app->add_subcommand(
      "study", "the 2018 study in one command: train and bundle both networks, write the table");
  cmd->add_option("--dataset", s.dataset_path, "dataset file from `prepare`")->required();
  cmd->add_option("--out", s.out_dir, "directory for runs, bundles and the table")->required();
  cmd->add_option("--recipe", s.recipe, "seed | default | retrieval")->capture_default_str();
  cmd->add_option("--archs", s.architectures, "networks, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  AddRecipeFlags(cmd, &s.overrides);
  AddRuntimeFlags(cmd, &s.threads, &s.precision, &s.loader_threads);
  AddDeviceFlag(cmd, &s.device);
  cmd->add_option("--max-steps", s.max_steps, "cap every run (smoke tests; 0: full runs)");
  cmd->add_flag("--quiet,-q", c->quiet, "no progress bar");
}

int RunTrain(Commands& c) {
  c.train.verbose = !c.quiet;
  auto r = Train(c.train);
  if (!r.ok()) return Fail(r.status());
  std::cout << "trained steps " << r->start_step << ".." << r->end_step << " of " << r->total_steps
            << ": loss " << r->loss << ", accuracy " << r->accuracy << ", " << r->images_per_second
            << " img/s (" << r->images_per_cpu_second << " per CPU-second, "
            << r->loader_wait_seconds << " s waiting for data); wrote " << r->model_path << "\n";
  return 0;
}

// With --drawings: retrieval on them. Otherwise evaluates train and test, prints both and
// writes <out>/{per_class,confusion}_<split>.csv.
int RunEvaluate(Commands& c) {
  auto precision = ParsePrecision(c.eval_precision);
  if (!precision.ok()) return Fail(precision.status());
  SetTorchThreads(c.eval_threads);
  if (!c.eval_drawings.inputs.empty()) return RunEvaluateDrawings(c, *precision);
  auto model = LoadTrainedModel(c.eval_model);
  if (!model.ok()) return Fail(model.status());
  auto dataset = ReadDataset(c.eval_dataset);
  if (!dataset.ok()) return Fail(dataset.status());
  c.evaluate.precision = *precision;
  c.evaluate.keep_features = false;
  const std::string out = c.eval_out.empty() ? c.eval_model : c.eval_out;
  std::filesystem::create_directories(out);
  for (const auto& [name, split] :
       {std::pair{"train", &dataset->train}, {"test", &dataset->test}}) {
    if (split->empty()) continue;
    c.evaluate.progress_label = c.quiet ? "" : std::string("evaluate ") + name;
    auto eval = EvaluateSplit(*model, *split, c.evaluate);
    if (!eval.ok()) return Fail(eval.status());
    std::printf("%-5s %6lld drawings  top-1 %.4f  top-5 %.4f  loss %.4f\n", name,
                static_cast<long long>(eval->count), eval->top1, eval->top5, eval->loss);
    const std::string suffix = std::string("_") + name + ".csv";
    for (auto status : {WriteFileAtomically(out + "/per_class" + suffix,
                                            PerClassAccuracyCsv(*eval, model->classes)),
                        WriteFileAtomically(out + "/confusion" + suffix,
                                            ConfusionMatrixCsv(*eval, model->classes))}) {
      if (!status.ok()) return Fail(status);
    }
  }
  std::cout << "wrote per_class_{train,test}.csv and confusion_{train,test}.csv to " << out << "\n";
  return 0;
}

int RunBundle(Commands& c) {
  auto precision = ParsePrecision(c.bundle_precision);
  if (!precision.ok()) return Fail(precision.status());
  auto normalization = ParseFeatureNormalization(c.bundle_normalization);
  if (!normalization.ok()) return Fail(normalization.status());
  c.bundle.evaluate.precision = *precision;
  c.bundle.normalization = *normalization;
  if (!c.quiet) c.bundle.evaluate.progress_label = "evaluate";
  auto report = BuildBundle(c.bundle);
  if (!report.ok()) return Fail(report.status());
  std::cout << FormatBundleReport(*report) << "wrote bundle " << c.bundle.bundle_dir << "\n";
  return 0;
}

int Dispatch(Commands& c) {
  if (*c.prep) {
    c.prepare.progress = !c.quiet;
    auto summary = PrepareDataset(c.prepare);
    if (!summary.ok()) return Fail(summary.status());
    std::cout << FormatPrepareSummary(*summary) << "wrote " << c.prepare.output_path << "\n";
  } else if (*c.convert) {
    ReaderOptions options;
    options.skip_invalid = c.convert_skip;
    int64_t written = 0;
    auto status = ConvertToBinary(c.convert_in, c.convert_out, options, &written);
    if (!status.ok()) return Fail(status);
    std::cout << "wrote " << written << " records to " << c.convert_out << "\n";
  } else if (*c.tr) {
    return RunTrain(c);
  } else if (*c.eval_cmd) {
    return RunEvaluate(c);
  } else if (*c.bundle_cmd) {
    return RunBundle(c);
  } else if (*c.index_cmd) {
    return RunIndex(c);
  } else if (*c.study_cmd) {
    c.study.verbose = !c.quiet;
    auto result = RunStudy(c.study);
    if (!result.ok()) return Fail(result.status());
    std::cout << result->table_markdown;
  }
  return 0;
}

}  // namespace

int RunTrainerCli(int argc, char** argv) {
  CLI::App app{"sketchsearch trainer: datasets from Quick, Draw! files, CNN training, bundles"};
  app.require_subcommand(1);
  Commands commands;
  AddPrepare(&app, &commands);
  AddTrain(&app, &commands);
  AddEvaluate(&app, &commands);
  AddBundle(&app, &commands);
  AddIndex(&app, &commands);
  AddStudy(&app, &commands);
  CLI11_PARSE(app, argc, argv);
  return Dispatch(commands);
}

}  // namespace sketch
