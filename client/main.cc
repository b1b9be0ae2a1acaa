// sketch: the command-line client of a sketchsearch server (classify, search, embed, info,
// health, and map for the live leave-one-out mAP). The work is in client/cli.h.
#include <unistd.h>

#include <iostream>

#include "client/cli.h"
#include "client/sketch_client.h"
#include "client/text_grid.h"

int main(int argc, char** argv) {
  sketch::CliEnvironment env;
  env.in = &std::cin;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.terminal = sketch::TerminalGridOptions(STDOUT_FILENO);
  env.connect = [](const std::string& target) -> std::shared_ptr<grpc::ChannelInterface> {
    return sketch::MakeChannel(target);
  };
  return sketch::RunSketchCli(argc, argv, env);
}
