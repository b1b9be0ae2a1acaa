#!/usr/bin/env python3
"""Where a training step's time goes in oneDNN, for the C++ and Python sides side by side.

Runs each command with oneDNN's verbose mode (ONEDNN_VERBOSE=1, and DNNL_VERBOSE=1 for the 2.x
line that LibTorch 1.13 ships), reads the `exec` lines it prints (one per primitive call, with
its time in ms) and sums them per primitive kind, implementation and propagation. The rest of
the command's wall time is what runs outside oneDNN (the optimizer's element-wise ops, autograd,
casts, allocation). Counts and times cover the whole command, warm-up included: give every
side the same iterations.

  python3 bench/onednn_profile.py --name libtorch -- build/release/bench/sketch_models_bench \\
      --threads=1 --batch=32 --iterations=3 --benchmark_filter='^BM_TrainStep/arch:0/variant:5/' \\
      --name pytorch -- .venv/torch2/bin/python bench/pytorch_models.py --mode train \\
      --threads 1 --batch 32 --iterations 3

Each --name starts a side; the words after `--` up to the next --name are its command.
Prints one table: per (kind, implementation, propagation), calls and ms on each side, the
largest first, then oneDNN's total and the wall time of each command.
"""
import collections
import os
import subprocess
import sys
import time


def parse_sides(argv):
    sides, current = [], None
    i = 0
    while i < len(argv):
        if argv[i] == "--name" and i + 1 < len(argv):
            current = {"name": argv[i + 1], "cmd": []}
            sides.append(current)
            i += 2
            if i < len(argv) and argv[i] == "--":
                i += 1
            continue
        if current is None:
            sys.exit(f"onednn_profile.py: expected --name NAME -- COMMAND..., got {argv[i]!r}")
        current["cmd"].append(argv[i])
        i += 1
    if not sides or any(not s["cmd"] for s in sides):
        sys.exit(__doc__)
    return sides


def parse_exec_line(line):
    """(kind, impl, prop, ms) of one verbose exec line, or None. oneDNN 2.x prints
    `onednn_verbose,exec,cpu,KIND,IMPL,PROP,...,MS`, 3.x `onednn_verbose,v1,primitive,exec,cpu,...`."""
    if "_verbose," not in line:
        return None
    fields = line.strip().split(",")
    try:
        at = fields.index("exec")
    except ValueError:
        return None
    if len(fields) < at + 5:
        return None
    try:
        ms = float(fields[-1])
    except ValueError:
        return None
    return fields[at + 2], fields[at + 3], fields[at + 4], ms


def profile(cmd):
    env = dict(os.environ, ONEDNN_VERBOSE="1", DNNL_VERBOSE="1")
    start = time.perf_counter()
    run = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, errors="replace")
    wall = time.perf_counter() - start
    if run.returncode != 0:
        tail = "\n".join(run.stdout.splitlines()[-20:])
        sys.exit(f"onednn_profile.py: {' '.join(cmd)} failed ({run.returncode}):\n{tail}")
    totals = collections.defaultdict(lambda: [0, 0.0])
    for line in run.stdout.splitlines():
        parsed = parse_exec_line(line)
        if parsed:
            kind, impl, prop, ms = parsed
            totals[(kind, impl, prop)][0] += 1
            totals[(kind, impl, prop)][1] += ms
    return totals, wall


def main():
    sides = parse_sides(sys.argv[1:])
    results = []
    for side in sides:
        totals, wall = profile(side["cmd"])
        results.append((totals, wall))
    keys = sorted({k for totals, _ in results for k in totals},
                  key=lambda k: -max(t[k][1] for t, _ in results if k in t))
    header = "| kind | implementation | propagation | " + " | ".join(
        f"{s['name']} calls | {s['name']} ms" for s in sides) + " |"
    print(header)
    print("|" + "---|" * (3 + 2 * len(sides)))
    for key in keys:
        cells = []
        for totals, _ in results:
            calls, ms = totals.get(key, [0, 0.0])
            cells += [str(calls), f"{ms:.1f}"]
        print(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " |")
    for side, (totals, wall) in zip(sides, results):
        onednn_ms = sum(ms for _, ms in totals.values())
        print(f"{side['name']}: oneDNN {onednn_ms / 1000:.2f} s of {wall:.2f} s wall "
              f"({sum(c for c, _ in totals.values())} primitive calls)")


if __name__ == "__main__":
    main()
