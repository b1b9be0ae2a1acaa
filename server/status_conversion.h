// The one place an absl::Status becomes a grpc::Status: the domain returns absl::Status, the
// service finishes every call through ToGrpcStatus.
#ifndef SKETCH_SERVER_STATUS_CONVERSION_H_
#define SKETCH_SERVER_STATUS_CONVERSION_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace sketch {

// Same code (absl and gRPC share the canonical code numbers) and message. Thread-safe.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace sketch

#endif  // SKETCH_SERVER_STATUS_CONVERSION_H_
