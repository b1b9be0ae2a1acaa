// A floor under the thread stack sizes that libraries ask for, linked into sketch-server only.
//
// Why: glibc carves the static TLS of every library loaded at start-up out of each new thread's
// stack, and pthread_create fails with EINVAL when a requested stack cannot hold it. LibTorch's
// dependencies bring that TLS to ~108 KiB in this process (OpenBLAS 60 KiB, glog 30 KiB), while
// civetweb (the HTTP server under prometheus-cpp's metrics endpoint) asks for a fixed 100 KiB
// (its build-time CIVETWEB_THREAD_STACK_SIZE): the endpoint could not start at all. This
// definition is exported from the executable (see CMakeLists.txt), so it takes the place of
// libc's for every library, and raises any request below kStackFloor to it; larger requests and
// threads that keep the default size are untouched.
#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

namespace {

// Room for the static TLS plus what the thread itself needs; far below the 8 MiB default.
constexpr size_t kStackFloor = size_t{1} << 20;

using SetStackSize = int (*)(pthread_attr_t*, size_t);

}  // namespace

extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t stack_size) noexcept {
  // libc's own definition, looked up once (thread-safe static initialization).
  static const SetStackSize libc_set_stack_size =
      reinterpret_cast<SetStackSize>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  if (libc_set_stack_size == nullptr) return ENOSYS;
  return libc_set_stack_size(attr, std::max(stack_size, kStackFloor));
}
