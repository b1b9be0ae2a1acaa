#!/usr/bin/python3
"""LibTorch (bench/models_bench.cc) versus PyTorch (bench/pytorch_models.py) throughput of skNet
and skResNet, training step and inference, side by side in one run: any number of LibTorch
builds and PyTorch interpreters, PyTorch eager and optionally torch.compile.

  python3 bench/compare_pytorch.py
      [--libtorch [NAME=]SKETCH_MODELS_BENCH]...  [--pytorch [NAME=]PYTHON]...
      [--compile] [--compile-mode default] [--reference LABEL]
      [--nets sknet,skresnet] [--sizes 128] [--precisions bf16] [--modes train,infer]
      [--threads 2] [--batch 32] [--classes 345] [--rounds 3] [--warmup 1]
      [--train-iterations 3] [--infer-iterations 5] [--malloc heap|glibc]
      [--infer-weights bf16|fp32] [--infer-impl eager|jit|both] [--json OUT] [--dry-run]

  The full table of the PyTorch 2.x comparison (LibTorch 1.13 and 2.x, PyTorch 1.13 and 2.x;
  build/release is the default build, against the wheel's 2.x; build/debian the preset debian;
  Python's 2.x torch from scripts/setup.sh --python-torch):
  python3 bench/compare_pytorch.py \\
      --libtorch 1.13=build/debian/bench/sketch_models_bench \\
      --libtorch 2.x=build/release/bench/sketch_models_bench \\
      --pytorch 1.13=/usr/bin/python3 --pytorch 2.x=.venv/torch2/bin/python --compile \\
      --nets sknet,skresnet --sizes 64,128 --precisions fp32,bf16 --modes train,infer \\
      --json results.json

Sides. --libtorch (repeatable): a sketch_models_bench binary; its row is "LibTorch NAME". NAME
defaults to the version of the libtorch_cpu it links (1.13 from Debian's libtorch_cpu.so.1.13, the
wheel's torch/version.py for a PyTorch-wheel build). --bench PATH (the option before --libtorch)
is --libtorch PATH. Without either: build/release, else the newest
build/*/bench/sketch_models_bench, or env SKETCH_MODELS_BENCH. --pytorch (repeatable): a Python
interpreter with torch; it runs bench/pytorch_models.py and gives the rows "PyTorch NAME eager"
(always), "... jit" (inference, --infer-impl jit|both) and "... compile" (--compile, where its
torch has torch.compile; the 1.13 one has not and gets no compile row). NAME defaults to its
torch version. Without --pytorch: this interpreter. This script itself needs no torch (it only
starts processes), so it runs under either interpreter.

Reference: every row's ratio is against one side, by default the eager row of the PyTorch
interpreter with the newest torch (--reference LABEL picks another row label). The summary table
gives each LibTorch side's ratio with the issue's targets: training >= 1.0x, then >= 1.25x;
inference >= 1.25x (both the wall and the CPU ratio must reach it).

Each round runs every case on every side, one after the other (the order of the sides reverses
every other round, so each side's average position is the same), with the same batch, threads,
precision, layout, input size, classes, warm-up and iteration count. Each timing is a fresh process
on every side: LibTorch one sketch_models_bench (--benchmark_filter, --iterations, JSON), PyTorch
one `PYTHON bench/pytorch_models.py` (--pytorch-inprocess: sides whose interpreter is this one time
in this process instead, whose heap and caches are then warm from the previous cases). The table
gives, per case and side, the medians over the rounds of wall images/s and of images per
CPU-second of the process (all its threads; steadier than wall time on a shared machine), and the
median over rounds of the per-round ratio side / reference.

Cases, mirroring each other (nets x sizes x precisions x modes):
  train  one Adam(1e-4) step: zero_grad, forward + cross-entropy under autocast (bf16) or not
         (fp32), backward, step; model and input channels-last unless --layout nchw.
         compile: forward + loss compiled as one function (AOTAutograd compiles the backward);
         zero_grad and Adam eager.
  infer  eval, inference mode, BatchNorm folded into the convs, one autocast scope per batch
         (LibTorch: FoldBatchNorm + ToChannelsLast, as the server's inference copy; with
         --infer-weights bf16, the default, bf16 cases also CastWeightsForInference). PyTorch
         "eager" is the same in Python (fuse_conv_bn_eval, .to(bfloat16)); "jit" is
         torch.jit.trace under autocast + torch.jit.freeze; "compile" is torch.compile of the
         folded model with inductor's freezing (folds the weight casts, prepacks the weights).
compile: the first call of each process compiles; its wall time is the row's "compile s"
(median over rounds; inductor's on-disk cache, /tmp/torchinductor_$USER, makes later rounds
faster; --compile-cold disables it), and it comes before the --warmup calls every side gets. If
compiling fails for a case, the row says why and the run goes on without that side for that case.

--malloc heap (default) applies KeepLargeAllocationsInHeap() (models/torch_runtime.h) to every
side (sketch_models_bench --malloc=heap, pytorch_models.py --malloc heap: ctypes mallopt);
--malloc glibc leaves them alone. --threads sets intra- and inter-op threads alike on every side
(SetTorchThreads / pytorch_models.set_threads). Before timing, every PyTorch interpreter's
parameter and buffer names and shapes are compared with every LibTorch binary's --describe, per
size, and must be equal.

The roof (CPU only): before the first round and after the last, the first LibTorch binary's
BM_ArithmeticPeak measures this CPU's fp32 FMA and bf16 dot-product peak on --threads threads
(bench/arithmetic_peak.h; the higher of the two readings counts), and the newest PyTorch's --info
counts each net's FLOP per image (torch.utils.flop_counter: forward with BatchNorm folded for
infer, forward + backward for train). Every row then gives its GFLOP/s and their share of the
peak of its precision, and the summary the ceiling: peak / the reference's GFLOP/s, the highest
ratio any side could reach against the reference on this CPU without doing fewer FLOPs.

--json OUT writes the arguments, the sides (versions, libtorch_cpu files), every per-round
figure and the table's rows. --dry-run prints the sides and the commands of the first round only.
"""
import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTORCH_MODELS = os.path.join(HERE, "pytorch_models.py")

ARCH_INDEX = {"sknet": 0, "skresnet": 1}
ARCH_LABEL = {"sknet": "skNet", "skresnet": "skResNet"}
# Target ratios LibTorch / reference (PyTorch 2.x eager) from the issue: training first 1.0x,
# then 1.25x; inference 1.25x.
TARGETS = {"train": (1.0, 1.25), "infer": (1.25,)}
PRECISIONS = ("fp32", "bf16")


class Side:
    """One row kind: a LibTorch binary (impl "cpp") or a PyTorch interpreter with one impl."""

    def __init__(self, kind, name, path, impl, info):
        self.kind, self.name, self.path, self.impl, self.info = kind, name, path, impl, info
        self.label = f"LibTorch {name}" if kind == "libtorch" else f"PyTorch {name} {impl}"

    def runs(self, mode):
        return self.kind == "libtorch" or mode == "infer" or self.impl in ("eager", "compile")


def parse_list(text, allowed, option):
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if allowed is not None and s not in allowed]
    if not items or bad:
        sys.exit(f"{option}: comma-separated values out of {', '.join(allowed)}; got {text!r}")
    return items


def parse_sizes(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(s <= 0 or s % 16 for s in sizes):
        sys.exit(f"--sizes: comma-separated positive multiples of 16 (the nets pool 4 times); "
                 f"got {text!r}")
    return sizes


def split_named(spec, option):
    """'NAME=PATH' or 'PATH' -> (NAME or None, PATH). A path containing '=' needs NAME=."""
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = None, spec
    if not path or (sep and not name):
        sys.exit(f"{option} {spec!r}: expected NAME=PATH or PATH")
    return name, path


def find_bench():
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
                 "--target sketch_models_bench) or pass --libtorch")
    return found[-1]


def linked_libtorch_cpu(bench):
    """The libtorch_cpu file the binary loads (ldd) and that library's version ("?" if unknown):
    the comparison with a PyTorch side is only like for like if the file is the same."""
    out = subprocess.run(["ldd", bench], capture_output=True, text=True)
    line = next((x for x in out.stdout.splitlines() if "libtorch_cpu.so" in x), None)
    if line is None:
        sys.exit(f"--libtorch {bench}: ldd shows no libtorch_cpu (not a sketch_models_bench?)"
                 f"{': ' + out.stderr.strip() if out.stderr.strip() else ''}")
    if "not found" in line:
        sys.exit(f"--libtorch {bench}: {line.strip()} (set LD_LIBRARY_PATH or rebuild)")
    path = os.path.realpath(line.split("=>")[1].split("(")[0].strip())
    m = re.search(r"libtorch_cpu\.so\.(\d+\.\d+)", os.path.basename(path))
    if m:
        return path, m.group(1)
    # A PyTorch wheel: torch/lib/libtorch_cpu.so next to torch/version.py.
    version_py = os.path.join(os.path.dirname(os.path.dirname(path)), "version.py")
    try:
        m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)", open(version_py).read(), re.M)
    except OSError:
        m = None
    return path, m.group(1) if m else "?"


def short_version(version):
    """'2.15.0+cu132' -> '2.15'; names rows by default."""
    m = re.match(r"(\d+\.\d+)", version)
    return m.group(1) if m else version


def python_info(python, sizes, classes, option, flops):
    """pytorch_models.py --info under that interpreter: torch version, its libtorch_cpu,
    whether it has torch.compile, the nets' names and shapes per size and, with flops, their FLOP
    per image."""
    cmd = [python, PYTORCH_MODELS, "--info", f"--sizes={','.join(map(str, sizes))}",
           f"--classes={classes}"] + (["--flops"] if flops else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        sys.exit(f"{option}: cannot run it ({e})")
    if out.returncode != 0:
        sys.exit(f"{option}: {' '.join(cmd)} failed ({out.returncode}); does it have torch?\n"
                 f"{out.stderr.strip()[-2000:]}")
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        sys.exit(f"{option}: {' '.join(cmd)} printed no JSON line: {out.stdout[-500:]!r}")


def describe_cpp(bench, size, classes):
    cmd = [bench, "--describe", f"--classes={classes}", f"--size={size}"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout)


def check_same_networks(libtorch_sides, pythons, a):
    """Every PyTorch interpreter's nets against every LibTorch binary's, per size: the same
    parameter and buffer names and shapes, else the timings compare different networks."""
    for lt in libtorch_sides:
        for size in a.sizes:
            cpp = describe_cpp(lt.path, size, a.classes)
            for py_name, (python, info) in pythons.items():
                py = info["describe"][str(size)]
                for arch in a.nets:
                    if py[arch] == cpp[arch]:
                        continue
                    diff = [x for x in zip(py[arch]["parameters"] + py[arch]["buffers"],
                                           cpp[arch]["parameters"] + cpp[arch]["buffers"])
                            if x[0] != x[1]]
                    sys.exit(f"{arch} at {size} px: PyTorch {py_name} ({python}) and LibTorch "
                             f"{lt.name} ({lt.path}) networks differ: counts "
                             f"{py[arch]['count']} vs {cpp[arch]['count']}, first differences "
                             f"{diff[:3]}")
    any_info = next(iter(pythons.values()))[1]
    for size in a.sizes:
        counts = ", ".join(f"{ARCH_LABEL[arch]} {any_info['describe'][str(size)][arch]['count']:,}"
                           for arch in a.nets)
        print(f"{size} px: identical parameter/buffer names and shapes on all "
              f"{len(libtorch_sides) + len(pythons)} programs ({counts} parameters)")


def measure_peak(bench, threads, timeout):
    """{"fp32": GFLOP/s or None, "bf16": ..., "fp32_instruction": ..., "bf16_instruction": ...}
    from sketch_models_bench's BM_ArithmeticPeak; None where the CPU lacks the instruction (or
    has AMX, whose bf16 peak it does not measure) or the binary predates the benchmark."""
    cmd = [bench, f"--threads={threads}", "--benchmark_filter=^BM_ArithmeticPeak/",
           "--benchmark_format=json"]
    peak = {"fp32": None, "bf16": None, "fp32_instruction": "not measured",
            "bf16_instruction": "not measured"}
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        runs = json.loads(out.stdout)["benchmarks"] if out.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        runs = []
    for r in runs:
        m = re.match(r"BM_ArithmeticPeak/kind:(\d)", r.get("name", ""))
        if not m:
            continue
        precision = PRECISIONS[int(m.group(1))]
        if r.get("error_occurred"):
            peak[f"{precision}_instruction"] = r.get("error_message", "unsupported")
        else:
            peak[precision] = r["gflop_per_s"]
            peak[f"{precision}_instruction"] = r.get("label", "")
    return peak


def higher_peak(readings):
    """One peak from measure_peak's readings: per precision the highest rate any of them got
    (a lower one was disturbed), the instructions as the first reading names them."""
    peak = dict(readings[0])
    for precision in PRECISIONS:
        rates = [r[precision] for r in readings if r[precision] is not None]
        peak[precision] = max(rates) if rates else None
    return peak


def flops_table(pythons, reference):
    """{(net, size): {"infer": FLOP, "train": FLOP}} from the reference interpreter's --info, else
    any that counted them; {} if none could (torch < 2.1)."""
    infos = [reference.info] + [info for _, info in pythons.values()]
    for info in infos:
        flops = info.get("flops") or {}
        if any(v for per_size in flops.values() for v in per_size.values()):
            return {(net, int(size)): v for size, per_size in flops.items()
                    for net, v in per_size.items() if v}
    return {}


def variant_bits(mode, bf16, channels_last):
    """models_bench.cc: bit 0 bf16, bit 1 BatchNorm folded, bit 2 channels-last."""
    return (1 if bf16 else 0) | (2 if mode == "infer" else 0) | (4 if channels_last else 0)


def bf16_weights(a, mode, precision):
    return mode == "infer" and precision == "bf16" and a.infer_weights == "bf16"


def cpp_command(side, a, case, iterations):
    arch, size, precision, mode = case
    family = "BM_TrainStep" if mode == "train" else "BM_Forward"
    bits = variant_bits(mode, precision == "bf16", a.layout == "nhwc")
    if bf16_weights(a, mode, precision):
        bits |= 8
    return [side.path, f"--malloc={a.malloc}", f"--threads={a.threads}", f"--batch={a.batch}",
            f"--size={size}", f"--classes={a.classes}", f"--warmup={a.warmup}",
            f"--iterations={iterations}", f"--device={a.device}",
            f"--benchmark_filter=^{family}/arch:{ARCH_INDEX[arch]}/variant:{bits}/",
            "--benchmark_format=json"]


def run_cpp(side, a, case, iterations):
    cmd = cpp_command(side, a, case, iterations)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
    except subprocess.TimeoutExpired:
        sys.exit(f"{' '.join(cmd)}: no result within --timeout {a.timeout} s")
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    runs = json.loads(out.stdout)["benchmarks"]
    if len(runs) != 1 or runs[0].get("error_occurred"):
        sys.exit(f"{' '.join(cmd)}: expected one successful benchmark, got {runs}")
    r = runs[0]
    return {"images_per_s": r["items_per_second"], "images_per_cpu_s": r["images_per_cpu_s"],
            "cpu_s": r["cpu_s"], "parameters": int(r["parameters"]),
            "iterations": r["iterations"]}


def pytorch_command(side, a, case, iterations):
    arch, size, precision, mode = case
    cmd = [side.path, PYTORCH_MODELS, f"--arch={arch}", f"--mode={mode}",
           f"--precision={precision}", f"--layout={a.layout}", f"--batch={a.batch}",
           f"--threads={a.threads}", f"--size={size}", f"--classes={a.classes}",
           f"--warmup={a.warmup}", f"--iterations={iterations}", f"--impl={side.impl}",
           f"--malloc={a.malloc}", f"--device={a.device}"]
    if side.impl == "eager" and bf16_weights(a, mode, precision):
        cmd.append("--bf16-weights")
    if side.impl == "compile":
        cmd.append(f"--compile-mode={a.compile_mode}")
    return cmd


def failure_reason(stderr, returncode):
    """The last line that looks like an exception, else the last line: what the row shows."""
    lines = [x.strip() for x in stderr.splitlines() if x.strip()]
    errors = [x for x in lines if re.match(r"^[\w.]*(Error|Exception|Unsupported)\b", x)]
    reason = (errors or lines or [f"exit status {returncode}"])[-1]
    return reason if len(reason) <= 200 else reason[:197] + "..."


_inprocess = {}


def run_pytorch_inprocess(side, a, case, iterations):
    """This process as the PyTorch side (--pytorch-inprocess): torch is imported only here."""
    arch, size, precision, mode = case
    if "pm" not in _inprocess:
        sys.path.insert(0, HERE)
        import pytorch_models as pm
        pm.set_threads(a.threads)
        if a.malloc == "heap" and not pm.keep_large_allocations_in_heap():
            sys.exit("--pytorch-inprocess: mallopt refused")
        pm.DEVICE = a.device
        _inprocess["pm"] = pm
    pm = _inprocess["pm"]
    common = dict(batch=a.batch, size=size, classes=a.classes, bf16=precision == "bf16",
                  channels_last=a.layout == "nhwc", warmup=a.warmup, iterations=iterations,
                  impl=side.impl, compile_mode=a.compile_mode)
    if mode == "train":
        return pm.bench_train(arch, **common)
    return pm.bench_infer(arch, bf16_weights=side.impl == "eager" and
                          bf16_weights(a, mode, precision), **common)


def run_pytorch(side, a, case, iterations, env):
    """A result dict; for a compile side, {"error": reason} when compiling or running failed."""
    if a.pytorch_inprocess and side.path == sys.executable:
        if side.impl != "compile":
            return run_pytorch_inprocess(side, a, case, iterations)
        try:
            return run_pytorch_inprocess(side, a, case, iterations)
        except Exception as e:  # noqa: BLE001 - any compile failure becomes the row's note
            return {"error": f"{type(e).__name__}: {e}"[:200]}
    # A fresh process per timing, as the LibTorch side gets: same cold start (heap, oneDNN
    # primitive cache) on every side.
    cmd = pytorch_command(side, a, case, iterations)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout, env=env)
    except subprocess.TimeoutExpired:
        if side.impl == "compile":
            return {"error": f"no result within --timeout {a.timeout} s"}
        sys.exit(f"{' '.join(cmd)}: no result within --timeout {a.timeout} s")
    if out.returncode != 0:
        if side.impl == "compile":
            return {"error": failure_reason(out.stderr, out.returncode)}
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_sides(a):
    """LibTorch sides, then per interpreter its eager, jit and compile sides; and the PyTorch
    interpreters by name with their --info."""
    libtorch = []
    specs = [("--libtorch", s) for s in a.libtorch] + ([("--bench", a.bench)] if a.bench else [])
    if not specs:
        specs = [("--libtorch", find_bench())]
    for option, spec in specs:
        name, path = split_named(spec, option)
        path = os.path.abspath(path)
        if not os.access(path, os.X_OK):
            sys.exit(f"{option} {spec}: {path} is not an executable file (built yet?)")
        library, version = linked_libtorch_cpu(path)
        libtorch.append(Side("libtorch", name or short_version(version), path, "cpp",
                             {"libtorch_cpu": library, "torch": version}))
    pythons = {}
    impls = {"eager": ["eager"], "jit": ["jit"], "both": ["eager", "jit"]}[a.infer_impl]
    if "eager" not in impls:
        impls = ["eager"] + impls  # the training step and the reference need eager
    py_sides = []
    for spec in a.pytorch or [sys.executable]:
        name, path = split_named(spec, "--pytorch")
        # abspath, not realpath: a venv's python is a symlink, and the venv is chosen by the
        # path it is started from.
        path = os.path.abspath(path) if os.sep in path else path
        option = (f"--pytorch {spec}" if a.pytorch else
                  f"no --pytorch given, so this interpreter ({sys.executable})")
        # FLOP counts serve only the CPU roof columns of a timed run.
        info = python_info(path, a.sizes, a.classes, option,
                           flops=a.device == "cpu" and not a.dry_run)
        name = name or short_version(info["torch"])
        if name in pythons:
            sys.exit(f"--pytorch {spec}: the name {name} is taken (give NAME=PYTHON)")
        pythons[name] = (path, info)
        side_impls = list(impls)
        if a.compile:
            if info["has_compile"]:
                side_impls.append("compile")
            else:
                print(f"PyTorch {name}: torch {info['torch']} has no torch.compile; no compile "
                      f"rows for it")
        py_sides += [Side("pytorch", name, path, impl, info) for impl in side_impls]
    labels = [s.label for s in libtorch + py_sides]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        sys.exit(f"two sides named {dup}: give --libtorch/--pytorch distinct NAME=")
    return libtorch, py_sides, pythons


def pick_reference(a, py_sides):
    if a.reference:
        ref = next((s for s in py_sides if s.label == a.reference), None)
        if ref is None:
            sys.exit(f"--reference {a.reference!r}: no such PyTorch row; rows: "
                     f"{', '.join(s.label for s in py_sides)}")
        if not ref.runs("train") and "train" in a.modes:
            sys.exit(f"--reference {a.reference!r}: has no training step; pick an eager row")
        return ref

    def version_key(side):
        return tuple(int(x) for x in re.findall(r"\d+", side.info["torch"])[:3])
    return max((s for s in py_sides if s.impl == "eager"), key=version_key)


def verdict(mode, r_wall, r_cpu):
    """The highest target both ratios reach, or the lowest missed."""
    met = [t for t in TARGETS[mode] if r_wall >= t and r_cpu >= t]
    return f">= {met[-1]}x" if met else f"below {TARGETS[mode][0]}x"


def ratio_text(value, mode):
    """Two decimals, three where two would round up onto a target the value misses (0.996x
    is "0.996x", not a "1.00x" that reads as met)."""
    text = f"{value:.2f}"
    if any(value < t <= float(text) for t in TARGETS[mode]):
        text = f"{value:.3f}"
    return text + "x"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--libtorch", action="append", default=[], metavar="[NAME=]BENCH",
                   help="a sketch_models_bench binary (repeatable); row 'LibTorch NAME'")
    p.add_argument("--bench", help="one sketch_models_bench, as --libtorch BENCH (older option)")
    p.add_argument("--pytorch", action="append", default=[], metavar="[NAME=]PYTHON",
                   help="a Python interpreter with torch (repeatable; default: this one); rows "
                   "'PyTorch NAME eager|jit|compile'")
    p.add_argument("--compile", action="store_true",
                   help="add a torch.compile row per PyTorch >= 2 interpreter")
    p.add_argument("--compile-mode", default="default",
                   help="torch.compile mode (default, max-autotune-no-cudagraphs, ...)")
    p.add_argument("--compile-cold", action="store_true",
                   help="disable inductor's caches, so every compile s is a cold compile")
    p.add_argument("--reference", help="row label the ratios are against (default: eager of "
                   "the newest PyTorch)")
    p.add_argument("--nets", "--archs", dest="nets", default="sknet,skresnet")
    p.add_argument("--sizes", "--size", dest="sizes", default="128",
                   help="input sizes, comma-separated (e.g. 64,128)")
    p.add_argument("--precisions", "--precision", dest="precisions", default="bf16",
                   help="fp32, bf16 or fp32,bf16")
    p.add_argument("--modes", default="train,infer")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--layout", choices=["nhwc", "nchw"], default="nhwc",
                   help="channels-last (default) or contiguous; bf16 needs nhwc")
    p.add_argument("--classes", type=int, default=345)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="untimed calls before each timing")
    p.add_argument("--train-iterations", type=int, default=3, help="timed steps per timing")
    p.add_argument("--infer-iterations", type=int, default=5, help="timed batches per timing")
    p.add_argument("--infer-impl", choices=["eager", "jit", "both"], default="eager",
                   help="PyTorch inference rows besides compile: eager, jit trace+freeze, or "
                   "both (one row each; training always eager)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="every side on this device (cuda: the torch2-cuda bench and a CUDA torch)")
    p.add_argument("--malloc", choices=["heap", "glibc"], default="heap",
                   help="glibc malloc tuning, applied to every side alike")
    p.add_argument("--infer-weights", choices=["bf16", "fp32"], default="bf16",
                   help="bf16 inference cases: weights stored in bf16 (LibTorch, PyTorch eager) "
                   "or fp32; fp32 cases always fp32")
    p.add_argument("--pytorch-inprocess", action="store_true",
                   help="time the PyTorch sides whose interpreter is this one in this process "
                   "(warm heap) instead of a fresh process per timing")
    p.add_argument("--timeout", type=int, default=1800,
                   help="seconds one timing process may take (compile included)")
    p.add_argument("--json", help="also write sides, per-round figures and rows to this file")
    p.add_argument("--dry-run", action="store_true",
                   help="check sides and networks, print the first round's commands, time nothing")
    p.add_argument("--verbose", action="store_true", help="print every timing as it is taken")
    a = p.parse_args()
    a.nets = parse_list(a.nets, list(ARCH_INDEX), "--nets")
    a.modes = parse_list(a.modes, list(TARGETS), "--modes")
    a.precisions = parse_list(a.precisions, PRECISIONS, "--precisions")
    a.sizes = parse_sizes(a.sizes)
    for option, value, low in (("--threads", a.threads, 1), ("--batch", a.batch, 1),
                               ("--classes", a.classes, 2), ("--rounds", a.rounds, 1),
                               ("--warmup", a.warmup, 0), ("--timeout", a.timeout, 1),
                               ("--train-iterations", a.train_iterations, 1),
                               ("--infer-iterations", a.infer_iterations, 1)):
        if value < low:
            sys.exit(f"{option} {value}: must be >= {low}")
    if "bf16" in a.precisions and a.layout != "nhwc":
        sys.exit("--precisions bf16 with --layout nchw: bf16 is benchmarked channels-last only "
                 "(as the trainer and server run it)")

    libtorch, py_sides, pythons = make_sides(a)
    reference = pick_reference(a, py_sides)
    sides = libtorch + py_sides
    for s in libtorch:
        print(f"{s.label}: {s.path} -> {s.info['libtorch_cpu']}")
    for name, (python, info) in pythons.items():
        same = [s.label for s in libtorch if s.info["libtorch_cpu"] == info["libtorch_cpu"]]
        shared = ("the same file as " + ", ".join(same) if same
                  else "no LibTorch side loads this file")
        print(f"PyTorch {name}: {python}, torch {info['torch']} -> {info['libtorch_cpu']}"
              f"   ({shared})")
    print(f"reference: {reference.label}")
    print(f"batch {a.batch}, {a.threads} threads, {'+'.join(a.precisions)}"
          f"{' + channels-last' if a.layout == 'nhwc' else ''}, sizes {a.sizes}, "
          f"{a.classes} classes, warm-up {a.warmup}, {a.train_iterations} train steps / "
          f"{a.infer_iterations} inference batches per timing, {a.rounds} rounds, "
          f"malloc {a.malloc} on every side, bf16 inference weights {a.infer_weights}"
          + (f", torch.compile mode {a.compile_mode}" if a.compile else ""))
    check_same_networks(libtorch, pythons, a)

    env = dict(os.environ)
    if a.compile_cold:
        env["TORCHINDUCTOR_FORCE_DISABLE_CACHES"] = "1"
    cases = [(arch, size, precision, mode) for arch in a.nets for size in a.sizes
             for precision in a.precisions for mode in a.modes]
    if a.dry_run:
        for case in cases:
            iterations = a.train_iterations if case[3] == "train" else a.infer_iterations
            for s in sides:
                if s.runs(case[3]):
                    cmd = (cpp_command if s.kind == "libtorch" else pytorch_command)(
                        s, a, case, iterations)
                    print(f"{'/'.join(map(str, case))} {s.label}: {' '.join(cmd)}")
        return

    flops = flops_table(pythons, reference) if a.device == "cpu" else {}
    peaks = []
    if a.device == "cpu":
        peaks.append(measure_peak(libtorch[0].path, a.threads, a.timeout))
    load_start = os.getloadavg()
    print("load average at start: %.2f %.2f %.2f" % load_start, flush=True)
    samples = {}  # (case, label) -> list of result dicts, one per round
    failed = {}  # (case, label) -> reason; that side is not run again for that case
    started = time.time()
    for rnd in range(a.rounds):
        for case in cases:
            mode = case[3]
            iterations = a.train_iterations if mode == "train" else a.infer_iterations
            order = [s for s in sides if s.runs(mode)]
            if rnd % 2 == 1:
                order.reverse()
            for s in order:
                if (case, s.label) in failed:
                    continue
                if s.kind == "libtorch":
                    r = run_cpp(s, a, case, iterations)
                else:
                    r = run_pytorch(s, a, case, iterations, env)
                if "error" in r:
                    failed[(case, s.label)] = r["error"]
                    print(f"  {'/'.join(map(str, case))} {s.label}: failed: {r['error']}",
                          flush=True)
                    continue
                samples.setdefault((case, s.label), []).append(dict(r, round=rnd + 1))
                if a.verbose:
                    print(f"  round {rnd + 1} {'/'.join(map(str, case))} {s.label}: "
                          f"{r['images_per_s']:.2f} img/s, {r['images_per_cpu_s']:.2f} "
                          f"img/CPU-s" + (f", compile {r['compile_s']:.1f} s"
                                          if "compile_s" in r else ""), flush=True)
        print(f"round {rnd + 1}/{a.rounds} done ({time.time() - started:.0f} s, load "
              "%.2f)" % os.getloadavg()[0], flush=True)
    load_end = os.getloadavg()
    if a.device == "cpu":
        peaks.append(measure_peak(libtorch[0].path, a.threads, a.timeout))
    peak = higher_peak(peaks) if peaks else {}

    def ratio(case, label, key):
        """Median over rounds of the per-round ratio: each pair ran minutes apart at most."""
        ref = {r["round"]: r[key] for r in samples.get((case, reference.label), [])}
        pairs = [r[key] / ref[r["round"]] for r in samples.get((case, label), [])
                 if r["round"] in ref and ref[r["round"]] > 0]
        return statistics.median(pairs) if pairs else None

    rows = []
    for case in cases:
        for s in sides:
            if not s.runs(case[3]):
                continue
            got = samples.get((case, s.label), [])
            row = {"net": case[0], "size": case[1], "precision": case[2], "mode": case[3],
                   "side": s.label, "kind": s.kind, "impl": s.impl, "torch": s.info["torch"],
                   "rounds": len(got), "error": failed.get((case, s.label))}
            if got:
                row["images_per_s"] = statistics.median(r["images_per_s"] for r in got)
                row["images_per_cpu_s"] = statistics.median(r["images_per_cpu_s"] for r in got)
                row["ratio"] = ratio(case, s.label, "images_per_s")
                row["ratio_cpu"] = ratio(case, s.label, "images_per_cpu_s")
                per_image = flops.get((case[0], case[1]), {}).get(case[3])
                if per_image:
                    row["gflop_per_s"] = row["images_per_s"] * per_image / 1e9
                    if peak.get(case[2]):
                        row["of_peak"] = row["gflop_per_s"] / peak[case[2]]
                compile_s = [r["compile_s"] for r in got if "compile_s" in r]
                if compile_s:
                    row["compile_s"] = statistics.median(compile_s)
                    row["compile_s_max"] = max(compile_s)
            rows.append(row)

    def fmt(value, suffix=""):
        return "-" if value is None else f"{value:.2f}{suffix}"

    def roof_cell(row):
        if "gflop_per_s" not in row:
            return "-"
        share = f" ({100 * row['of_peak']:.0f} %)" if "of_peak" in row else ""
        return f"{row['gflop_per_s']:.0f}{share}"

    def ceiling(case):
        """peak / the reference's GFLOP/s: the best ratio against it without fewer FLOPs."""
        ref = next((r for r in rows if r["side"] == reference.label and
                    (r["net"], r["size"], r["precision"], r["mode"]) == case), None)
        if ref is None or not ref.get("of_peak"):
            return None
        return 1 / ref["of_peak"]

    prec_label = {p: p + ("+NHWC" if a.layout == "nhwc" else "") for p in a.precisions}
    print()
    print(f"| network | size | precision | mode | side | img/s | img/CPU-s | / ref | "
          f"/ ref (CPU) | GFLOP/s (of peak) | compile s | note |")
    print("|" + "---|" * 12)
    for row in rows:
        note = f"failed: {row['error']}" if row["error"] else (
            "reference" if row["side"] == reference.label else "")
        if row["error"] and row["rounds"]:
            note = f"{row['rounds']} of {a.rounds} rounds; " + note
        compile_s = ""
        if "compile_s" in row:
            compile_s = f"{row['compile_s']:.1f}"
            if row["compile_s_max"] > 1.2 * row["compile_s"]:  # the cold first compile
                compile_s += f" (max {row['compile_s_max']:.1f})"
        print(f"| {ARCH_LABEL[row['net']]} | {row['size']} | {prec_label[row['precision']]} | "
              f"{row['mode']} | {row['side']} | {fmt(row.get('images_per_s'))} | "
              f"{fmt(row.get('images_per_cpu_s'))} | {fmt(row.get('ratio'), 'x')} | "
              f"{fmt(row.get('ratio_cpu'), 'x')} | {roof_cell(row)} | {compile_s} | {note} |")

    print()
    print(f"LibTorch / {reference.label}, wall and CPU ratio, targets: train "
          f"{' then '.join(f'>= {t}x' for t in TARGETS['train'])}, infer "
          f">= {TARGETS['infer'][0]}x (both ratios)")
    print("| network | size | precision | mode | " + " | ".join(s.label for s in libtorch) +
          " | ceiling |")
    print("|" + "---|" * (5 + len(libtorch)))
    for case in cases:
        cells = []
        for s in libtorch:
            row = next(r for r in rows if r["side"] == s.label and
                       (r["net"], r["size"], r["precision"], r["mode"]) == case)
            if row.get("ratio") is None or row.get("ratio_cpu") is None:
                cells.append("-")
                continue
            cells.append(f"{ratio_text(row['ratio'], case[3])} / "
                         f"{ratio_text(row['ratio_cpu'], case[3])}: "
                         f"{verdict(case[3], row['ratio'], row['ratio_cpu'])}")
        top = ceiling(case)
        cells.append("-" if top is None else ratio_text(top, case[3]) + (
            " (target above the roof)" if top < TARGETS[case[3]][-1] else ""))
        print(f"| {ARCH_LABEL[case[0]]} | {case[1]} | {prec_label[case[2]]} | {case[3]} | "
              + " | ".join(cells) + " |")

    print()
    print(f"train: one Adam step, autocast under bf16; infer: eval, BN folded, bf16 cases with "
          f"{a.infer_weights} weights (PyTorch eager: the same in Python; jit: trace + freeze; "
          f"compile: torch.compile, inductor freezing); malloc {a.malloc} and {a.threads} "
          f"threads on every side; PyTorch " + ("in-process where possible"
                                                if a.pytorch_inprocess
                                                else "in a fresh process per timing"))
    print("img/s: medians over rounds; / ref: median over rounds of side / reference; compile s: "
          "median wall time of the compiling first call")
    if peak:
        print("peak (%d threads, the higher of the readings before and after): fp32 %s (%s), "
              "bf16 %s (%s); before %s, after %s GFLOP/s" % (
                  a.threads, fmt(peak["fp32"]), peak["fp32_instruction"], fmt(peak["bf16"]),
                  peak["bf16_instruction"],
                  "/".join(fmt(p[k]) for p in peaks[:1] for k in PRECISIONS),
                  "/".join(fmt(p[k]) for p in peaks[1:] for k in PRECISIONS)))
        print("GFLOP/s: img/s x FLOP per image (torch.utils.flop_counter; infer: forward, "
              "train: forward + backward); ceiling: peak / reference GFLOP/s, the highest ratio "
              "any side can reach without doing fewer FLOPs")
    print("%d rounds; load average at start %.2f %.2f %.2f, at end %.2f %.2f %.2f "
          "(%d CPUs)" % ((a.rounds,) + load_start + load_end + (os.cpu_count(),)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "load_start": load_start, "load_end": load_end,
                       "peaks": peaks, "peak": peak,
                       "flops_per_image": [{"net": k[0], "size": k[1], **v}
                                           for k, v in flops.items()],
                       "reference": reference.label,
                       "sides": [{"label": s.label, "kind": s.kind, "name": s.name,
                                  "path": s.path, "impl": s.impl, "torch": s.info["torch"],
                                  "libtorch_cpu": s.info["libtorch_cpu"]} for s in sides],
                       "rows": rows,
                       "samples": [{"net": k[0][0], "size": k[0][1], "precision": k[0][2],
                                    "mode": k[0][3], "side": k[1], "rounds": v}
                                   for k, v in samples.items()]}, f, indent=1)
        print(f"wrote {a.json}")


if __name__ == "__main__":
    main()
