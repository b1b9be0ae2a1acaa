#!/usr/bin/python3
"""Would whitening fc_1 help retrieval of words the model never saw? An offline probe (issue 14).

Reads a Flat gallery bundle built with raw features (`sketch-trainer index --features raw
--index-type Flat`): its index.faiss (FAISS's IndexFlat file: the vectors in insertion order) and
index_metadata.tsv (the word of each row). Prints leave-one-out mAP and precision@10 (relevant =
same word) for the features as the service searches them (L2-normalized), then with a PCA
whitening fitted on the drawings of the *other* half of the words (split at random, both ways,
averaged): nothing of a query's word is seen by the fit, as for a whitening learned once and
applied to new words. With --fit self the whitening is fitted on all the drawings it is measured
on, as `sketch-trainer index --whiten` fits it on its gallery (no labels either way); a study
bundle (`bundle --features l2`, Flat) works too: its test drawings. Needs numpy (Debian's
python3-numpy).

  /usr/bin/python3 bench/whitening_probe.py BUNDLE [--dims 128,256,512] [--fit other-half|self]
      [--powers 0.75,0.5]
"""
import argparse
import csv
import struct

import numpy as np


def read_flat_index(path):
    """The vectors of a FAISS IndexFlatL2/IP file (write_index's layout in FAISS 1.7)."""
    data = open(path, "rb").read()
    fourcc = data[:4]
    if fourcc not in (b"IxF2", b"IxFI"):
        raise SystemExit(f"{path}: a {fourcc!r} index, not Flat: build the gallery with --index-type Flat")
    d, ntotal = struct.unpack_from("<iq", data, 4)
    offset = 4 + 12 + 16 + 1  # fourcc, d and ntotal, two unused int64, is_trained
    metric = struct.unpack_from("<i", data, offset)[0]
    offset += 4 + (4 if metric > 1 else 0)
    count = struct.unpack_from("<Q", data, offset)[0]  # codes.size() / 4: one count per float
    offset += 8
    if count != d * ntotal:
        raise SystemExit(f"{path}: {count} floats for {ntotal} x {d}")
    return np.frombuffer(data, np.float32, count, offset).reshape(ntotal, d).astype(np.float64)


def read_words(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return np.array([r["word"] for r in rows])


def l2(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def leave_one_out(x, words):
    """(mAP, P@10) of each row against all others, ranked by inner product."""
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    order = np.argsort(-s, axis=1)[:, :-1]
    relevant = words[order] == words[:, None]
    positives = relevant.sum(1)
    precision = np.cumsum(relevant, axis=1) / np.arange(1, relevant.shape[1] + 1)
    ap = (relevant * precision).sum(1) / np.maximum(positives, 1)
    return ap[positives > 0].mean(), relevant[:, :10].mean()


def fit_whitening(x, dims, shrink):
    """Mean and projection onto the top `dims` principal axes, each scaled to unit variance;
    `shrink` x the mean kept eigenvalue is added to each first (regularized whitening)."""
    mean = x.mean(0)
    values, vectors = np.linalg.eigh(np.cov((x - mean).T))
    top = np.argsort(values)[::-1][:dims]
    values, vectors = values[top], vectors[:, top]
    return mean, vectors / np.sqrt(values + shrink * values.mean())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle")
    p.add_argument("--dims", default="128,256,512")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fit", choices=("other-half", "self"), default="other-half")
    p.add_argument("--shrinks", default="0,0.1")
    p.add_argument("--powers", default="",
                   help="with --fit self: also x^p (fc_1 is >= 0) and centring, each then L2")
    a = p.parse_args()
    if a.powers and a.fit != "self":
        p.error("--powers needs --fit self")
    x = l2(read_flat_index(a.bundle + "/index.faiss"))
    words = read_words(a.bundle + "/index_metadata.tsv")
    shrinks = [float(s) for s in a.shrinks.split(",")]
    if a.fit == "self":
        print(f"{a.bundle}: {len(words)} drawings of {len(set(words))} words")
        print("L2:                                     mAP %.4f  P@10 %.4f" % leave_one_out(x, words))
        for dims in [int(d) for d in a.dims.split(",")]:
            for shrink in shrinks:
                mean, projection = fit_whitening(x, dims, shrink)
                print("self-fitted, whitened %3d-d, shrink %.1f: mAP %.4f  P@10 %.4f"
                      % ((dims, shrink) + leave_one_out(l2((x - mean) @ projection), words)))
        for power in [float(p) for p in a.powers.split(",") if p]:
            print("power %.2f, then L2:                   mAP %.4f  P@10 %.4f"
                  % ((power,) + leave_one_out(l2(np.power(np.maximum(x, 0), power)), words)))
        if a.powers:
            print("centred, then L2:                       mAP %.4f  P@10 %.4f"
                  % leave_one_out(l2(x - x.mean(0)), words))
        return
    vocabulary = np.array(sorted(set(words)))
    np.random.default_rng(a.seed).shuffle(vocabulary)
    halves = [np.isin(words, vocabulary[: len(vocabulary) // 2]),
              np.isin(words, vocabulary[len(vocabulary) // 2:])]
    print(f"{a.bundle}: {len(words)} drawings of {len(vocabulary)} words")
    print("all drawings, L2:                       mAP %.4f  P@10 %.4f" % leave_one_out(x, words))
    per_half = [leave_one_out(x[h], words[h]) for h in halves]
    print("each half alone, L2 (the reference):    mAP %.4f  P@10 %.4f" % tuple(np.mean(per_half, 0)))
    for dims in [int(d) for d in a.dims.split(",")]:
        for shrink in shrinks:
            scores = []
            for fit, evaluate in ((0, 1), (1, 0)):
                mean, projection = fit_whitening(x[halves[fit]], dims, shrink)
                z = l2((x[halves[evaluate]] - mean) @ projection)
                scores.append(leave_one_out(z, words[halves[evaluate]]))
            print("each half, whitened %3d-d, shrink %.1f:  mAP %.4f  P@10 %.4f"
                  % ((dims, shrink) + tuple(np.mean(scores, 0))))


if __name__ == "__main__":
    main()
