# Where LibTorch comes from. Sets TORCH_LIBRARIES (what sketch::models links), SKETCH_TORCH_CUDA
# (ON when the build can run the CNNs on a CUDA GPU), SKETCH_TORCH_ORIGIN (a line for logs) and,
# for the wheel, SKETCH_TORCH_WHEEL_LIBS (its site-packages folder: torch/ and nvidia/).
#
#   SKETCH_LIBTORCH=pytorch       the default: the LibTorch inside a PyTorch 2.x wheel (headers,
#                                 libraries and CMake config ship in it), CPU only: links
#                                 libtorch_cpu and libc10, never libtorch_cuda, so it needs no CUDA
#                                 toolkit to build. Faster here than 1.13 in 15 of 16 cases of
#                                 bench/compare_pytorch.py (docs/results.md, issue 15).
#   SKETCH_LIBTORCH=debian        Debian 12's libtorch-dev 1.13 (CPU): the preset `debian`.
#   SKETCH_LIBTORCH=pytorch-cuda  the same wheel with its CUDA libraries (TorchConfig.cmake; needs
#                                 the CUDA toolkit, nvcc, to configure). Runs on CPU too.
#
# The wheel is found through SKETCH_TORCH_PYTHON, an interpreter that has it installed
# (scripts/setup.sh makes .venv/torch2; for the CPU build it installs only the wheel and the two
# small CUDA runtime libraries libtorch_cpu names, not the ~4 GB of CUDA libraries `import torch`
# loads). Its location is read without importing torch. Since 2.7 the Linux wheels use the C++11
# ABI, as Debian's gRPC and Abseil do; since 2.10 their headers need C++20, which the torch
# targets below ask of their users only (the rest of the project stays C++17).
set(SKETCH_LIBTORCH "pytorch" CACHE STRING "LibTorch to build against: debian, pytorch or pytorch-cuda")
set_property(CACHE SKETCH_LIBTORCH PROPERTY STRINGS debian pytorch pytorch-cuda)
set(SKETCH_TORCH_PYTHON "${PROJECT_SOURCE_DIR}/.venv/torch2/bin/python" CACHE FILEPATH
    "Python interpreter whose torch wheel provides LibTorch (SKETCH_LIBTORCH=pytorch*)")
set(SKETCH_TORCH_CUDA OFF)

if(SKETCH_LIBTORCH STREQUAL "debian")
  find_package(Torch REQUIRED)
  set(SKETCH_TORCH_ORIGIN "Debian libtorch-dev ${Torch_VERSION}")
  return()
endif()
if(NOT SKETCH_LIBTORCH MATCHES "^pytorch(-cuda)?$")
  message(FATAL_ERROR "SKETCH_LIBTORCH=${SKETCH_LIBTORCH}: expected debian, pytorch or pytorch-cuda")
endif()

execute_process(
  COMMAND "${SKETCH_TORCH_PYTHON}" -c
          "import importlib.metadata as m, importlib.util as u, os; print(os.path.dirname(u.find_spec('torch').origin) + ';' + m.version('torch'))"
  OUTPUT_VARIABLE torch_found OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_VARIABLE torch_find_error RESULT_VARIABLE torch_find_result)
list(GET torch_found 0 SKETCH_TORCH_ROOT)
if(NOT torch_find_result EQUAL 0 OR NOT EXISTS "${SKETCH_TORCH_ROOT}/lib/libtorch_cpu.so")
  message(FATAL_ERROR
    "SKETCH_LIBTORCH=${SKETCH_LIBTORCH}: no torch wheel for SKETCH_TORCH_PYTHON=${SKETCH_TORCH_PYTHON} "
    "(${torch_find_error}). Run scripts/setup.sh --no-build, point SKETCH_TORCH_PYTHON at a Python "
    "that has torch >= 2.7 installed, or build against Debian's LibTorch (cmake --preset debian).")
endif()
list(GET torch_found 1 SKETCH_TORCH_VERSION)
if(SKETCH_TORCH_VERSION VERSION_LESS 2.7)
  message(FATAL_ERROR "torch ${SKETCH_TORCH_VERSION} at ${SKETCH_TORCH_ROOT}: need >= 2.7 (C++11 ABI)")
endif()
# `cmake --install` copies the wheel's libraries the programs load into lib/sketchsearch beside
# bin/ (CMakeLists.txt, install: RUNTIME_DEPENDENCIES from this folder only), so an install, the
# container image's included, runs without the wheel. The installed libtorch_cpu finds its own
# dependencies there through its RPATH's $ORIGIN.
get_filename_component(SKETCH_TORCH_WHEEL_LIBS "${SKETCH_TORCH_ROOT}/.." ABSOLUTE)
set(CMAKE_INSTALL_RPATH "$ORIGIN/../lib/sketchsearch")

if(SKETCH_LIBTORCH STREQUAL "pytorch-cuda")
  # Both configs from the wheel: TorchConfig's find_dependency(Caffe2) would otherwise find
  # Debian's Caffe2 (libtorch 1.13) first, PATHS being searched after the system prefix.
  set(Torch_DIR "${SKETCH_TORCH_ROOT}/share/cmake/Torch" CACHE PATH "" FORCE)
  set(Caffe2_DIR "${SKETCH_TORCH_ROOT}/share/cmake/Caffe2" CACHE PATH "" FORCE)
  find_package(Torch REQUIRED)
  # libtorch_cuda finds its CUDA libraries (NCCL, cuDNN, ...) beside the wheel through its own
  # RPATH at run time; at link time ld ignores that RPATH and would take the machine's older
  # ones (a CUDA toolkit's NCCL), so name the wheel's folders for the link too. CONFIGURE_DEPENDS:
  # a build configured before `scripts/setup.sh --libtorch pytorch-cuda` installed them (only
  # nvidia/cu13 then) re-globs instead of failing to link on NCCL's symbols.
  file(GLOB torch_cuda_lib_dirs LIST_DIRECTORIES true CONFIGURE_DEPENDS
       "${SKETCH_TORCH_ROOT}/../nvidia/*/lib")
  list(JOIN torch_cuda_lib_dirs ":" torch_cuda_rpath_link)
  add_library(sketch_libtorch_cuda INTERFACE)
  target_link_libraries(sketch_libtorch_cuda INTERFACE ${TORCH_LIBRARIES})
  target_link_options(sketch_libtorch_cuda INTERFACE "LINKER:-rpath-link,${torch_cuda_rpath_link}")
  set(TORCH_LIBRARIES sketch_libtorch_cuda)
  set(SKETCH_TORCH_CUDA ON)
  set(SKETCH_TORCH_ORIGIN "PyTorch wheel ${SKETCH_TORCH_VERSION} with CUDA (${SKETCH_TORCH_ROOT})")
  return()
endif()

# CPU only: the two libraries the C++ frontend needs on CPU, as one imported target.
add_library(sketch_libtorch_cpu INTERFACE)
add_library(sketch::libtorch ALIAS sketch_libtorch_cpu)
target_include_directories(sketch_libtorch_cpu SYSTEM INTERFACE
  "${SKETCH_TORCH_ROOT}/include" "${SKETCH_TORCH_ROOT}/include/torch/csrc/api/include")
target_link_libraries(sketch_libtorch_cpu INTERFACE
  "${SKETCH_TORCH_ROOT}/lib/libtorch_cpu.so" "${SKETCH_TORCH_ROOT}/lib/libc10.so")
target_compile_features(sketch_libtorch_cpu INTERFACE cxx_std_20)
target_compile_definitions(sketch_libtorch_cpu INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
set(TORCH_LIBRARIES sketch::libtorch)
set(SKETCH_TORCH_ORIGIN "PyTorch wheel ${SKETCH_TORCH_VERSION}, CPU (${SKETCH_TORCH_ROOT})")
