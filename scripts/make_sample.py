#!/usr/bin/python3
"""Cuts the small real sample committed under tests/data/quickdraw from ../shared/data/quickdraw.

Only first lines/rows are taken and nothing is altered, so the sample keeps the official formats.
Usage: scripts/make_sample.py [SHARED_QUICKDRAW_DIR]
"""
import json
import os
import shutil
import sys

import numpy as np

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "data", "quickdraw")
DST = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "quickdraw")

SIMPLIFIED_LINES = 120  # 16 classes x 120: enough for a quick-start model (100 train + 20 test)
RAW_CLASSES = ["ant", "apple", "axe", "bird", "The Eiffel Tower", "banana"]
NPY_CLASSES = ["cat", "circle", "star", "train"]
NPY_ROWS = 60


def head_lines(src, dst, n):
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as g:
        for i, line in enumerate(f):
            if i == n:
                break
            g.write(line)


def main():
    for sub in ("simplified", "raw", "simplified-25", "numpy_bitmap"):
        os.makedirs(os.path.join(DST, sub), exist_ok=True)
    for name in sorted(os.listdir(os.path.join(SRC, "simplified"))):
        head_lines(os.path.join(SRC, "simplified", name), os.path.join(DST, "simplified", name),
                   SIMPLIFIED_LINES)
    for cls in RAW_CLASSES:
        name = cls + ".ndjson"
        official = [json.loads(l) for l in open(os.path.join(SRC, "simplified-25", name))]
        shared = {d["key_id"] for d in official}
        with open(os.path.join(SRC, "raw", name)) as f, \
                open(os.path.join(DST, "raw", name), "w") as g:
            for line in f:  # the raw drawings whose simplified twin is in simplified-25
                if json.loads(line)["key_id"] in shared:
                    g.write(line)
        shutil.copy(os.path.join(SRC, "simplified-25", name), os.path.join(DST, "simplified-25", name))
    for cls in NPY_CLASSES:
        rows = np.load(os.path.join(SRC, "numpy_bitmap", cls + ".npy"), mmap_mode="r")[:NPY_ROWS]
        np.save(os.path.join(DST, "numpy_bitmap", cls + ".npy"), np.ascontiguousarray(rows))


if __name__ == "__main__":
    main()
