// ChildServer: a sketch-server program run as a child process on loopback (for instance one
// built from an earlier commit), so that the serving benchmark measures two builds of the server
// in one run, the same way. Benchmark support, not product code.
#ifndef SKETCH_BENCH_CHILD_SERVER_H_
#define SKETCH_BENCH_CHILD_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sketch {

class ChildServer {
 public:
  // Starts `binary` with `args` (which should make it listen on 127.0.0.1, port 0, metrics port
  // 0), reads its stdout until it says it serves, taking its ports from the lines before
  // (server/main.cc prints them), or fails after `timeout`.
  static absl::StatusOr<std::unique_ptr<ChildServer>> Launch(const std::string& binary,
                                                             const std::vector<std::string>& args,
                                                             absl::Duration timeout);
  // SIGTERM (the server drains), then reaps the process.
  ~ChildServer();

  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;

  int port() const { return port_; }
  // The child's CPU seconds so far, every thread (utime + stime of /proc/<pid>/stat).
  double CpuSeconds() const;
  // GET /metrics from the child's Prometheus endpoint; "" when it does not answer.
  std::string Metrics() const;

 private:
  ChildServer(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}

  const pid_t pid_;
  const int stdout_fd_;
  int port_ = 0;
  int metrics_port_ = 0;
};

}  // namespace sketch

#endif  // SKETCH_BENCH_CHILD_SERVER_H_
