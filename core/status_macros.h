// Early-return helpers for absl::Status, which Abseil 20220623 does not ship.
#ifndef SKETCH_CORE_STATUS_MACROS_H_
#define SKETCH_CORE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SKETCH_CONCAT_INNER_(a, b) a##b
#define SKETCH_CONCAT_(a, b) SKETCH_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    const ::absl::Status sketch_status_ = (expr);    \
    if (!sketch_status_.ok()) return sketch_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` moves the value into `x` or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  SKETCH_ASSIGN_OR_RETURN_IMPL_(SKETCH_CONCAT_(sketch_statusor_, __LINE__), lhs, expr)
#define SKETCH_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // SKETCH_CORE_STATUS_MACROS_H_
