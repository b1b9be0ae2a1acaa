// The `sketch-trainer` command line: prepare, convert, train, evaluate, bundle and study,
// parsed with CLI11 and dispatched to the trainer library. main.cc only calls RunTrainerCli.
#ifndef SKETCH_TRAINER_CLI_H_
#define SKETCH_TRAINER_CLI_H_

namespace sketch {

// Parses argv, runs the chosen subcommand and returns the process exit code: 0 on success,
// 1 when the job fails (its error on stderr), CLI11's codes for usage errors and --help.
int RunTrainerCli(int argc, char** argv);

}  // namespace sketch

#endif  // SKETCH_TRAINER_CLI_H_
