// sketch-trainer: offline jobs over Quick, Draw! data (see trainer/cli.h for the subcommands).
#include "trainer/cli.h"

int main(int argc, char** argv) { return sketch::RunTrainerCli(argc, argv); }
