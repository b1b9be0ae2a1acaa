#include "bench/child_server.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/testing/loopback.h"

namespace sketch {

absl::StatusOr<std::unique_ptr<ChildServer>> ChildServer::Launch(
    const std::string& binary, const std::vector<std::string>& args, absl::Duration timeout) {
  // argv before fork: between fork and exec a threaded process may not allocate.
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int out[2];
  if (pipe(out) != 0) return absl::InternalError("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  auto child = std::unique_ptr<ChildServer>(new ChildServer(pid, out[0]));
  const absl::Time give_up = absl::Now() + timeout;
  std::string pending;
  while (absl::Now() < give_up) {
    pollfd fd{out[0], POLLIN, 0};
    if (poll(&fd, 1, 100) <= 0) continue;
    char buffer[512];
    const ssize_t n = read(out[0], buffer, sizeof(buffer));
    if (n <= 0) return absl::UnavailableError(absl::StrCat(binary, " exited before serving"));
    pending.append(buffer, static_cast<size_t>(n));
    size_t eol;
    while ((eol = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, eol);
      pending.erase(0, eol + 1);
      // "... on HOST:PORT" (server/main.cc's parseable lines).
      const int port = std::atoi(line.substr(line.rfind(':') + 1).c_str());
      if (line.rfind("sketch-server listening on ", 0) == 0) {
        child->port_ = port;
      } else if (line.rfind("sketch-server metrics on ", 0) == 0) {
        child->metrics_port_ = port;
      } else if (line.rfind("sketch-server serving ", 0) == 0) {
        if (child->port_ == 0) return absl::InternalError(binary + ": no port announced");
        return child;
      }
    }
  }
  return absl::DeadlineExceededError(absl::StrCat(binary, " did not serve in time"));
}

ChildServer::~ChildServer() {
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  close(stdout_fd_);
}

double ChildServer::CpuSeconds() const {
  std::ifstream in(absl::StrCat("/proc/", pid_, "/stat"));
  std::string stat;
  std::getline(in, stat);
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string ChildServer::Metrics() const {
  return testing::HttpGetLoopback(metrics_port_, "/metrics");
}

}  // namespace sketch
