// Synchronous handling of the server's signals: SIGTERM/SIGINT (stop) and SIGHUP (reload the
// bundle) are blocked in every thread and taken by one thread with sigwait, so both run as
// ordinary code (no async signal handler, no flag polled in a loop).
#ifndef SKETCH_SERVER_TERMINATION_H_
#define SKETCH_SERVER_TERMINATION_H_

#include <functional>

#include "absl/status/status.h"

namespace sketch {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread; threads started afterwards inherit the
// mask. Call first in main, before any thread (gRPC, the batcher) exists, or a thread that still
// accepts a signal gets it and the process dies (SIGHUP's default action ends it too). Internal
// if the mask cannot be set.
absl::Status BlockServerSignals();

// Waits for SIGTERM or SIGINT (blocked beforehand) and returns its number (0 if sigwait fails).
// Each SIGHUP taken meanwhile calls `on_hangup` (when set) on this thread and waits on; it should
// return quickly (BundleReloader::RequestReload does).
int WaitForTerminationSignal(const std::function<void()>& on_hangup = {});

}  // namespace sketch

#endif  // SKETCH_SERVER_TERMINATION_H_
