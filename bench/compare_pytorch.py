#!/usr/bin/python3
"""LibTorch (bench/models_bench.cc) versus PyTorch (bench/pytorch_models.py) throughput of skNet
and skResNet, training step and inference, side by side in one run.

  /usr/bin/python3 bench/compare_pytorch.py [--threads 2] [--batch 32] [--precision bf16]
      [--size 128] [--classes 345] [--rounds 3] [--malloc heap|glibc] [--infer-weights bf16|fp32]
      [--bench build/release/bench/sketch_models_bench]

Each round runs every case on both sides, one after the other (the side that goes first
alternates between rounds), with the same batch, threads, precision, layout, input size,
classes, warm-up and iteration count. Each timing is a fresh process on both sides: LibTorch one
sketch_models_bench (--benchmark_filter, --iterations, JSON), PyTorch one
`/usr/bin/python3 bench/pytorch_models.py` (--pytorch-inprocess: in this process instead, whose
heap and caches are then warm from the previous cases). The table gives, per case, the medians
over the rounds of wall images/s and of images per CPU-second of the process (all its threads;
steadier than wall time on a shared machine), and the median over rounds of the per-round ratio
LibTorch / PyTorch.

Cases, mirroring each other:
  train  one Adam(1e-4) step: zero_grad, forward + cross-entropy under autocast (bf16) or not
         (fp32), backward, step; model and input channels-last unless --layout nchw.
  infer  eval, inference mode, BatchNorm folded into the convs, one autocast scope per batch
         (LibTorch: FoldBatchNorm + ToChannelsLast, as the server's inference copy; with
         --infer-weights bf16, the default under bf16, also CastWeightsForInference). Compared
         with two PyTorch versions, one row each: "eager" is the same in Python
         (fuse_conv_bn_eval, .to(bfloat16)); "jit" is torch.jit.trace under autocast +
         torch.jit.freeze, which folds BN and the weight casts itself (+ optimize_for_inference
         for fp32). --infer-impl eager|jit times only one.
--malloc heap (default) applies KeepLargeAllocationsInHeap() (models/torch_runtime.h) to both
sides (sketch_models_bench --malloc=heap, pytorch_models.py --malloc heap: ctypes mallopt);
--malloc glibc leaves both alone. Before timing, the two sides' parameter and buffer names and
shapes are compared and must be equal.

Needs Debian's python3-torch (run with /usr/bin/python3): the same libtorch1.13 the C++ side links.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

try:
    import torch
except ImportError:
    sys.exit("no torch module: apt-get install python3-torch and run with /usr/bin/python3")
import pytorch_models as pm  # noqa: E402

ARCH_INDEX = {"sknet": 0, "skresnet": 1}
# Target ratios LibTorch / PyTorch from the trainer issue.
TARGETS = {"train": 1.25, "infer": 1.5}


def find_bench(path):
    if path:
        return path
    env = os.environ.get("SKETCH_MODELS_BENCH")
    if env:
        return env
    release = os.path.join(ROOT, "build", "release", "bench", "sketch_models_bench")
    if os.path.exists(release):
        return release
    found = sorted(glob.glob(os.path.join(ROOT, "build", "*", "bench", "sketch_models_bench")),
                   key=os.path.getmtime)
    if not found:
        sys.exit("sketch_models_bench not found: build it (cmake --build build/release "
                 "--target sketch_models_bench) or pass --bench")
    return found[-1]


def variant_bits(mode, bf16, channels_last):
    """models_bench.cc: bit 0 bf16, bit 1 BatchNorm folded, bit 2 channels-last."""
    return (1 if bf16 else 0) | (2 if mode == "infer" else 0) | (4 if channels_last else 0)


def run_cpp(bench, a, arch, mode, iterations):
    family = "BM_TrainStep" if mode == "train" else "BM_Forward"
    bits = variant_bits(mode, a.precision == "bf16", a.layout == "nhwc")
    if mode == "infer" and a.infer_weights == "bf16":
        bits |= 8
    cmd = [bench, f"--malloc={a.malloc}", f"--threads={a.threads}", f"--batch={a.batch}", f"--size={a.size}",
           f"--classes={a.classes}", f"--warmup={a.warmup}", f"--iterations={iterations}",
           f"--benchmark_filter=^{family}/arch:{ARCH_INDEX[arch]}/variant:{bits}/",
           "--benchmark_format=json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    runs = json.loads(out.stdout)["benchmarks"]
    if len(runs) != 1 or runs[0].get("error_occurred"):
        sys.exit(f"{' '.join(cmd)}: expected one successful benchmark, got {runs}")
    r = runs[0]
    return {"images_per_s": r["items_per_second"], "images_per_cpu_s": r["images_per_cpu_s"],
            "parameters": int(r["parameters"]), "iterations": r["iterations"]}


def run_pytorch(a, arch, mode, impl, iterations):
    if not a.pytorch_inprocess:
        # A fresh process per timing, as the LibTorch side gets: same cold start (heap, oneDNN
        # primitive cache) on both sides.
        cmd = [sys.executable, os.path.join(HERE, "pytorch_models.py"), f"--arch={arch}",
               f"--mode={mode}", f"--precision={a.precision}", f"--layout={a.layout}",
               f"--batch={a.batch}", f"--threads={a.threads}", f"--size={a.size}",
               f"--classes={a.classes}", f"--warmup={a.warmup}", f"--iterations={iterations}",
               f"--infer-impl={impl}", f"--malloc={a.malloc}"]
        if mode == "infer" and impl == "eager" and a.infer_weights == "bf16":
            cmd.append("--bf16-weights")
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    common = dict(batch=a.batch, size=a.size, classes=a.classes, bf16=a.precision == "bf16",
                  channels_last=a.layout == "nhwc", warmup=a.warmup, iterations=iterations)
    if mode == "train":
        return pm.bench_train(arch, **common)
    return pm.bench_infer(arch, impl=impl,
                          bf16_weights=impl == "eager" and a.infer_weights == "bf16", **common)


def check_same_networks(bench, a):
    out = subprocess.run([bench, "--describe", f"--classes={a.classes}", f"--size={a.size}"],
                         capture_output=True, text=True, check=True)
    cpp = json.loads(out.stdout)
    for arch in a.archs:
        py = pm.describe(pm.build(arch, a.classes, a.size))
        if py != cpp[arch]:
            diff = [x for x in zip(py["parameters"] + py["buffers"],
                                   cpp[arch]["parameters"] + cpp[arch]["buffers"]) if x[0] != x[1]]
            sys.exit(f"{arch}: PyTorch and LibTorch networks differ: counts {py['count']} vs "
                     f"{cpp[arch]['count']}, first differences {diff[:3]}")
        print(f"{arch}: identical parameter/buffer names and shapes, "
              f"{py['count']:,} parameters on both sides")


def libtorch_paths(bench):
    """The libtorch_cpu each side loads: the comparison is only fair if it is the same file."""
    py = next((line.split()[-1] for line in open("/proc/self/maps")
               if "libtorch_cpu.so" in line), "?")
    ldd = subprocess.run(["ldd", bench], capture_output=True, text=True).stdout
    cpp = next((line.split("=>")[1].split("(")[0].strip() for line in ldd.splitlines()
                if "libtorch_cpu.so" in line and "=>" in line), "?")
    return os.path.realpath(cpp) if cpp != "?" else cpp, os.path.realpath(py) if py != "?" else py


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--layout", choices=["nhwc", "nchw"], default="nhwc",
                   help="channels-last (default) or contiguous; bf16 needs nhwc")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--classes", type=int, default=345)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="untimed calls before each timing")
    p.add_argument("--train-iterations", type=int, default=3, help="timed steps per timing")
    p.add_argument("--infer-iterations", type=int, default=5, help="timed batches per timing")
    p.add_argument("--archs", default="sknet,skresnet")
    p.add_argument("--modes", default="train,infer")
    p.add_argument("--infer-impl", choices=["eager", "jit", "both"], default="both",
                   help="PyTorch inference: eager mirror, jit trace+freeze, or both (one row each)")
    p.add_argument("--malloc", choices=["heap", "glibc"], default="heap",
                   help="glibc malloc tuning, applied to both sides alike")
    p.add_argument("--infer-weights", choices=["bf16", "fp32"],
                   help="inference weights stored in (default: bf16 under bf16, else fp32)")
    p.add_argument("--pytorch-inprocess", action="store_true",
                   help="time PyTorch in this process (warm heap) instead of a fresh "
                   "/usr/bin/python3 bench/pytorch_models.py process per timing")
    p.add_argument("--bench", help="sketch_models_bench binary (default: build/release, else the "
                   "newest build/*/bench/sketch_models_bench; env SKETCH_MODELS_BENCH)")
    p.add_argument("--json", help="also write all per-round figures to this file")
    p.add_argument("--verbose", action="store_true", help="print every timing as it is taken")
    a = p.parse_args()
    a.archs = [s for s in a.archs.split(",") if s]
    a.modes = [s for s in a.modes.split(",") if s]
    if any(x not in ARCH_INDEX for x in a.archs) or any(m not in TARGETS for m in a.modes):
        sys.exit("--archs: sknet,skresnet; --modes: train,infer")
    if a.precision == "bf16" and a.layout != "nhwc":
        sys.exit("bf16 is benchmarked channels-last only (as the trainer and server run it)")
    if a.infer_weights is None:
        a.infer_weights = a.precision
    if a.infer_weights == "bf16" and a.precision != "bf16":
        sys.exit("--infer-weights bf16 needs --precision bf16")
    bench = find_bench(a.bench)
    pm.set_threads(a.threads)
    if a.pytorch_inprocess and a.malloc == "heap" and not pm.keep_large_allocations_in_heap():
        sys.exit("mallopt refused")

    cpp_lib, py_lib = libtorch_paths(bench)
    print(f"LibTorch: {bench} -> {cpp_lib}")
    print(f"PyTorch:  torch {torch.__version__} -> {py_lib}" +
          ("" if cpp_lib == py_lib else "   (NOT the same library)"))
    print(f"batch {a.batch}, {a.threads} threads, {a.precision}"
          f"{' + channels-last' if a.layout == 'nhwc' else ''}, {a.size}x{a.size}, "
          f"{a.classes} classes, warm-up {a.warmup}, {a.train_iterations} train steps / "
          f"{a.infer_iterations} inference batches per timing, {a.rounds} rounds, "
          f"malloc {a.malloc} on both sides, inference weights {a.infer_weights}")
    check_same_networks(bench, a)
    load_start = os.getloadavg()
    print("load average at start: %.2f %.2f %.2f" % load_start, flush=True)

    py_impls = ["eager", "jit"] if a.infer_impl == "both" else [a.infer_impl]
    cases = [(arch, mode) for arch in a.archs for mode in a.modes]
    samples = {}  # (arch, mode, side) -> list of results
    started = time.time()
    for rnd in range(a.rounds):
        for arch, mode in cases:
            iterations = a.train_iterations if mode == "train" else a.infer_iterations
            sides = [("LibTorch", None)] + [
                (f"PyTorch {impl}" if mode == "infer" else "PyTorch", impl)
                for impl in (py_impls if mode == "infer" else ["eager"])]
            if rnd % 2 == 1:
                sides.reverse()
            for side, impl in sides:
                if impl is None:
                    r = run_cpp(bench, a, arch, mode, iterations)
                else:
                    r = run_pytorch(a, arch, mode, impl, iterations)
                samples.setdefault((arch, mode, side), []).append(r)
                if a.verbose:
                    print(f"  round {rnd + 1} {arch} {mode} {side}: "
                          f"{r['images_per_s']:.2f} img/s, {r['images_per_cpu_s']:.2f} img/CPU-s",
                          flush=True)
        print(f"round {rnd + 1}/{a.rounds} done ({time.time() - started:.0f} s, load "
              "%.2f)" % os.getloadavg()[0], flush=True)

    def median(arch, mode, side, key):
        return statistics.median(r[key] for r in samples[(arch, mode, side)])

    def ratio(arch, mode, side, key):
        """Median over rounds of the per-round ratio: each pair ran minutes apart at most."""
        pairs = zip(samples[(arch, mode, "LibTorch")], samples[(arch, mode, side)])
        return statistics.median(c[key] / p[key] for c, p in pairs)

    prec = a.precision + ("+NHWC" if a.layout == "nhwc" else "")
    print()
    print("| network | mode | precision | LibTorch img/s | PyTorch img/s | ratio | "
          "LibTorch img/CPU-s | PyTorch img/CPU-s | ratio (CPU) | target |")
    print("|" + "---|" * 10)
    for arch, mode in cases:
        cpp_w = median(arch, mode, "LibTorch", "images_per_s")
        cpp_c = median(arch, mode, "LibTorch", "images_per_cpu_s")
        py_sides = sorted(s for (x, m, s) in samples if x == arch and m == mode and s != "LibTorch")
        for side in py_sides:
            r_w = ratio(arch, mode, side, "images_per_s")
            r_c = ratio(arch, mode, side, "images_per_cpu_s")
            target = TARGETS[mode]
            verdict = "met" if r_w >= target and r_c >= target else "NOT met"
            label = mode if side == "PyTorch" else f"{mode} vs {side.split()[1]}"
            print(f"| {arch} | {label} | {prec} | {cpp_w:.2f} | "
                  f"{median(arch, mode, side, 'images_per_s'):.2f} | {r_w:.2f}x | {cpp_c:.2f} | "
                  f"{median(arch, mode, side, 'images_per_cpu_s'):.2f} | {r_c:.2f}x | "
                  f">= {target}x: {verdict} |")
    load_end = os.getloadavg()
    print()
    print(f"train: one Adam step, autocast {a.precision}; infer: eval, BN folded, weights "
          f"{a.infer_weights} (PyTorch eager: the same in Python; jit: trace + freeze); malloc "
          f"{a.malloc} on both sides; PyTorch "
          f"{'in-process' if a.pytorch_inprocess else 'in a fresh process per timing'}")
    print("img/s: medians over rounds; ratio: median over rounds of LibTorch / PyTorch")
    print("%d rounds; load average at start %.2f %.2f %.2f, at end %.2f %.2f %.2f "
          "(%d CPUs)" % ((a.rounds,) + load_start + load_end + (os.cpu_count(),)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "load_start": load_start, "load_end": load_end,
                       "samples": [{"arch": k[0], "mode": k[1], "side": k[2], "rounds": v}
                                   for k, v in samples.items()]}, f, indent=1)


if __name__ == "__main__":
    main()
