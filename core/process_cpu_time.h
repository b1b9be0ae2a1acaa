// The CPU time this process has used, all threads together: throughput per CPU-second is
// steadier than per wall-second on a shared machine (the trainer and the benchmarks report it).
#ifndef SKETCH_CORE_PROCESS_CPU_TIME_H_
#define SKETCH_CORE_PROCESS_CPU_TIME_H_

namespace sketch {

// Seconds of CPU (user + system) used by every thread of this process so far
// (CLOCK_PROCESS_CPUTIME_ID). Thread-safe.
double ProcessCpuSeconds();

}  // namespace sketch

#endif  // SKETCH_CORE_PROCESS_CPU_TIME_H_
