// Plain TCP to 127.0.0.1 for tests and benchmarks: an HTTP/1.0 GET (the metrics endpoint) and a
// bare connection (to stall one on purpose).
#ifndef SKETCH_TESTS_TESTING_LOOPBACK_H_
#define SKETCH_TESTS_TESTING_LOOPBACK_H_

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace sketch::testing {

// A connected socket to 127.0.0.1:`port`, or -1. The caller closes it.
inline int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// GET `path` from 127.0.0.1:`port` over HTTP/1.0: the whole response, "" when nothing answers.
inline std::string HttpGetLoopback(int port, const std::string& path) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  std::string response;
  const std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
  if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) {
      response.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  return response;
}

}  // namespace sketch::testing

#endif  // SKETCH_TESTS_TESTING_LOOPBACK_H_
