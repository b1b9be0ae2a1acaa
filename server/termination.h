// Synchronous handling of SIGTERM/SIGINT for the server's main: the signals are blocked in every
// thread and taken by one thread with sigwait, so shutdown runs as ordinary code (no async
// signal handler, no flag polled in a loop).
#ifndef SKETCH_SERVER_TERMINATION_H_
#define SKETCH_SERVER_TERMINATION_H_

#include "absl/status/status.h"

namespace sketch {

// Blocks SIGTERM and SIGINT in the calling thread; threads started afterwards inherit the mask.
// Call first in main, before any thread (gRPC, the batcher) exists, or a thread that still
// accepts the signal gets it and the process dies. Internal if the mask cannot be set.
absl::Status BlockTerminationSignals();

// Waits for SIGTERM or SIGINT (blocked beforehand) and returns its number (0 if sigwait fails).
int WaitForTerminationSignal();

}  // namespace sketch

#endif  // SKETCH_SERVER_TERMINATION_H_
