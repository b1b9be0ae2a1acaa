// The deadline and cancellation of one request as the domain sees them, so work queued for a
// caller who has given up (deadline passed, call cancelled) is skipped instead of computed.
#ifndef SKETCH_SERVER_CALL_CONTEXT_H_
#define SKETCH_SERVER_CALL_CONTEXT_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace sketch {

struct CallContext {
  absl::Time deadline = absl::InfiniteFuture();
  // True once the caller has gone (client cancel, connection lost). Empty means never; must be
  // thread-safe, as the batcher's worker thread calls it.
  std::function<bool()> is_cancelled;

  // DeadlineExceeded when `now` is past the deadline, Cancelled when the caller has gone,
  // OK otherwise. Thread-safe when is_cancelled is.
  absl::Status Check(absl::Time now = absl::Now()) const;
};

}  // namespace sketch

#endif  // SKETCH_SERVER_CALL_CONTEXT_H_
