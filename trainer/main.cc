// sketch-trainer: offline jobs over Quick, Draw! data (prepare a dataset, convert to .bin, train).
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "core/binary_format.h"
#include "trainer/prepare.h"
#include "trainer/train.h"

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "sketch-trainer: " << status << "\n";
  return 1;
}

// `train`: every recipe field is a flag; unset ones keep the recipe's value.
CLI::App* AddTrainCommand(CLI::App* app, sketch::TrainOptions* train, bool* quiet) {
  sketch::RecipeOverrides& o = train->overrides;
  auto* tr = app->add_subcommand("train", "train skNet/skResNet on a prepared dataset");
  tr->add_option("--dataset", train->dataset_path, "dataset file from `prepare`")->required();
  tr->add_option("--out", train->out_dir, "output dir: checkpoints, log, model.pt")->required();
  tr->add_option("--recipe", train->recipe, "seed (the 2018 study) or default")
      ->capture_default_str();
  tr->add_option("--arch", o.architecture, "sknet | skresnet (recipe: sknet)");
  tr->add_option("--epochs", o.epochs, "passes over the training set");
  tr->add_option("--batch", o.batch_size, "batch size");
  tr->add_option("--lr", o.lr, "peak learning rate");
  tr->add_option("--seed", o.seed, "seed for init, order, augmentation, dropout");
  tr->add_option("--input-size", o.input_size, "image side in pixels (recipe: 128)");
  tr->add_option("--raster-style", o.raster_style, "default | seed");
  tr->add_option("--mean-image", o.mean_image, "true: subtract the training mean image");
  tr->add_option("--norm-mean", o.norm_mean, "scalar mean (pixel/255 units)");
  tr->add_option("--norm-std", o.norm_std, "input = (pixel/255 - mean) / std");
  tr->add_option("--optimizer", o.optimizer, "adam | adamw");
  tr->add_option("--weight-decay", o.weight_decay, "on conv/linear weights");
  tr->add_option("--schedule", o.schedule, "constant | cosine");
  tr->add_option("--warmup", o.warmup_fraction, "warm-up fraction of all steps");
  tr->add_option("--label-smoothing", o.label_smoothing, "cross-entropy label smoothing");
  tr->add_option("--dropout", o.dropout, "dropout on fc_1");
  tr->add_option("--augment", o.augment, "true | false: random affine on strokes");
  tr->add_option("--rotation", o.max_rotation_degrees, "augmentation: max |rotation| degrees");
  tr->add_option("--min-scale", o.min_scale, "augmentation: min x/y scale");
  tr->add_option("--max-scale", o.max_scale, "augmentation: max x/y scale");
  tr->add_option("--shear", o.max_shear, "augmentation: max |shear|");
  tr->add_option("--threads", train->threads, "torch threads (0: all cores)")
      ->capture_default_str();
  tr->add_option("--precision", train->precision, "auto | fp32 | bf16")->capture_default_str();
  tr->add_option("--loader-threads", train->loader_threads, "rasterization threads")
      ->capture_default_str();
  tr->add_option("--checkpoint-every", train->checkpoint_every, "steps (0: at the end only)")
      ->capture_default_str();
  tr->add_option("--log-every", train->log_every, "steps per log line")->capture_default_str();
  tr->add_option("--max-steps", train->max_steps, "stop at this global step (0: no cap)");
  tr->add_flag("--resume", train->resume, "continue from the newest checkpoint in --out");
  tr->add_flag("--quiet,-q", *quiet, "no progress bar");
  return tr;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sketchsearch trainer: prepares datasets from Quick, Draw! files and trains CNNs"};
  app.require_subcommand(1);

  sketch::PrepareOptions prepare;
  prepare.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool quiet = false;
  auto* prep = app.add_subcommand("prepare", "sample train/test drawings per class into a dataset");
  prep->add_option("--input", prepare.input_dir, "directory of <class>.ndjson|.bin|.npy files")
      ->required();
  prep->add_option("--output,-o", prepare.output_path, "dataset file to write")->required();
  auto* classes = prep->add_option("--classes", prepare.classes,
                                   "explicit class names, comma-separated (default: all)")
                       ->delimiter(',');
  prep->add_option("--num-classes", prepare.num_classes, "choose N classes at random (seeded)")
      ->excludes(classes);
  prep->add_option("--train", prepare.train_per_class, "train drawings per class")
      ->capture_default_str();
  prep->add_option("--test", prepare.test_per_class, "test drawings per class")
      ->capture_default_str();
  prep->add_option("--seed", prepare.seed, "seed for class choice and sampling")
      ->capture_default_str();
  prep->add_flag("--allow-fewer", prepare.allow_fewer, "accept classes with fewer drawings");
  prep->add_flag("--skip-invalid", prepare.skip_invalid, "skip (and count) malformed records");
  prep->add_option("--threads", prepare.threads, "classes read in parallel")
      ->capture_default_str();
  prep->add_flag("--quiet,-q", quiet, "no progress bar");

  std::string convert_in, convert_out;
  bool convert_skip = false;
  auto* convert = app.add_subcommand("convert", "convert a stroke file (ndjson) to the .bin format");
  convert->add_option("input", convert_in, "ndjson or .bin file")->required();
  convert->add_option("output", convert_out, ".bin file to write")->required();
  convert->add_flag("--skip-invalid", convert_skip, "skip (and count) malformed records");

  sketch::TrainOptions train;
  auto* tr = AddTrainCommand(&app, &train, &quiet);

  CLI11_PARSE(app, argc, argv);

  if (*prep) {
    prepare.progress = !quiet;
    auto summary = sketch::PrepareDataset(prepare);
    if (!summary.ok()) return Fail(summary.status());
    std::cout << sketch::FormatPrepareSummary(*summary) << "wrote " << prepare.output_path << "\n";
  } else if (*convert) {
    sketch::ReaderOptions options;
    options.skip_invalid = convert_skip;
    int64_t written = 0;
    auto status = sketch::ConvertToBinary(convert_in, convert_out, options, &written);
    if (!status.ok()) return Fail(status);
    std::cout << "wrote " << written << " records to " << convert_out << "\n";
  } else if (*tr) {
    train.verbose = !quiet;
    auto result = sketch::Train(train);
    if (!result.ok()) return Fail(result.status());
    std::cout << "trained steps " << result->start_step << ".." << result->end_step << " of "
              << result->total_steps << ": loss " << result->loss << ", accuracy "
              << result->accuracy << ", " << result->images_per_second << " img/s ("
              << result->images_per_cpu_second << " per CPU-second, "
              << result->loader_wait_seconds << " s waiting for data); wrote " << result->model_path
              << "\n";
  }
  return 0;
}
