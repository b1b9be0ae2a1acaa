// A process's memory as Linux reports it, for tests that bound it.
#ifndef SKETCH_TESTS_TESTING_PROCESS_MEMORY_H_
#define SKETCH_TESTS_TESTING_PROCESS_MEMORY_H_

#include <fstream>
#include <string>

namespace sketch::testing {

// A "kB" line of /proc/<pid>/status ("VmRSS", "VmHWM", ...) in MB; pid 0 is this process.
// -1 when it cannot be read.
inline double ProcessStatusMb(int pid, const std::string& key) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                            : "/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) / 1024.0;
  }
  return -1;
}

// Resets the process's peak RSS (VmHWM) to its current RSS (Linux clear_refs 5).
inline void ResetPeakRss(int pid) {
  std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5";
}

}  // namespace sketch::testing

#endif  // SKETCH_TESTS_TESTING_PROCESS_MEMORY_H_
