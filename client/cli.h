// The `sketch` command-line client: subcommands classify, search, embed, info, health (one
// server call per drawing or batch, printed as a table or JSON lines; search can also show the
// drawings it finds, in the terminal or as a PNG) and map (the live leave-one-out mAP). main.cc
// only wires it to the process; tests run it in-process.
#ifndef SKETCH_CLIENT_CLI_H_
#define SKETCH_CLIENT_CLI_H_

#include <grpcpp/impl/channel_interface.h>

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "client/text_grid.h"

namespace sketch {

// Exit codes: scripts and health probes branch on them. `sketch --help` ends with the table of
// which gRPC status gives which (built from ExitCodeForRpcError), and so does the README.
enum ExitCode : int {
  kExitOk = 0,
  // Bad flags, or an input file that cannot be read or has no such record; `map`: the server
  // indexes other drawings than these (FAILED_PRECONDITION, INVALID_ARGUMENT).
  kExitUsage = 2,
  kExitServerError = 3,  // the server refused the call: fix the request or the server
  // Try again later (or elsewhere): no answer in time, the server down, loading, draining or
  // overloaded even after the --retries, or health NOT_SERVING.
  kExitUnavailable = 4,
  // `map --expect-offline`: the live mAP differs from the bundle's (exact indexes only)
  kExitMismatch = 5,
};

// kExitUnavailable for the codes a call is re-sent after (IsRetryable in client/sketch_client.h:
// UNAVAILABLE; RESOURCE_EXHAUSTED, an overloaded server, whose remedy is the same, wait or go
// elsewhere; CANCELLED, by a server shutting down) and for DEADLINE_EXCEEDED; kExitServerError
// otherwise.
int ExitCodeForRpcError(const absl::Status& status);

struct CliEnvironment {
  std::istream* in = nullptr;  // stdin, for the input "-"
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // Opens the channel to --target (tests hand back an in-process channel).
  std::function<std::shared_ptr<grpc::ChannelInterface>(const std::string& target)> connect;
  // Where `search --show` draws: out's terminal width and whether it takes UTF-8 (braille);
  // main.cc asks the process's terminal (TerminalGridOptions).
  TextGridOptions terminal;
};

// Parses argv (argv[0] is the program name), runs the subcommand and returns the exit code.
// Answers go to env.out, errors to env.err as "sketch: <status>".
int RunSketchCli(int argc, const char* const* argv, const CliEnvironment& env);

}  // namespace sketch

#endif  // SKETCH_CLIENT_CLI_H_
