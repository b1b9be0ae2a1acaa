#!/usr/bin/env python3
"""Recall-QPS plot of sketch_index_bench's CSVs (docs only, not CI; needs matplotlib).

Usage: bench/plot_index_bench.py OUT.png DIR [DIR ...]
Each DIR is a --out directory of sketch_index_bench (one CSV per index type); one panel per DIR,
recall@10 against single-query queries/s (log scale), one line per index type over its knob.
"""
import csv
import glob
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_rows(directory):
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "*.csv"))):
        with open(path, newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    out, directories = argv[1], argv[2:]
    fig, axes = plt.subplots(1, len(directories), figsize=(6 * len(directories), 4.5), squeeze=False)
    panels = [read_rows(directory) for directory in directories]
    for directory, rows in zip(directories, panels):
        if not rows:
            sys.stderr.write(f"{directory}: no CSVs\n")
            return 1
    # One colour per index type across all panels, so a type reads the same in each.
    all_types = sorted({r["type"] for rows in panels for r in rows})
    colours = {t: f"C{i % 10}" for i, t in enumerate(all_types)}
    for ax, rows in zip(axes[0], panels):
        for index_type in sorted({r["type"] for r in rows}):
            points = [r for r in rows if r["type"] == index_type]
            qps = [float(r["qps_single"]) for r in points]
            recall = [float(r["recall_at_10"]) for r in points]
            ax.plot(qps, recall, marker="o", label=index_type, color=colours[index_type])
            for r, x, y in zip(points, qps, recall):
                if r["knob"] != "none":
                    ax.annotate(r["value"], (x, y), textcoords="offset points", xytext=(3, 3),
                                fontsize=7)
        ax.set_xscale("log")
        threads = sorted({r.get("threads", "1") for r in rows})
        ax.set_xlabel(f"queries/s, one query per search, {'/'.join(threads)} FAISS thread(s)")
        ax.set_ylabel("recall@10 against Flat")
        ax.set_title(f"{rows[0]['dataset']} gallery, n = {int(rows[0]['n']):,}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
