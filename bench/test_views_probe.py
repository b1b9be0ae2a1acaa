#!/usr/bin/python3
"""Which test-time views pay? Averages a model's outputs over sets of fixed views (issue 14).

Reads what sketch_test_views_probe wrote (labels.npy, logits_<view>.npy, features_<view>.npy for
the test split) and prints, for each set of views, the accuracy of the mean logits and the
leave-one-out mAP of the mean fc_1 features, L2-normalized (as the bundles index them), beside the
forward passes the set costs. The first view of every set should be `id`.

  /usr/bin/python3 bench/test_views_probe.py DIR --sets id id,mirror id,mirror,rot+6,rot-6
"""
import argparse

import numpy as np

from query_expansion_probe import expanded_queries


def l2(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def leave_one_out_aps(x, labels, queries=None):
    """Each row of `queries` (default: x itself) ranks every other row of x: its average precision."""
    s = (x if queries is None else queries) @ x.T
    np.fill_diagonal(s, -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")[:, :-1]
    relevant = labels[order] == labels[:, None]
    precision = np.cumsum(relevant, axis=1) / np.arange(1, relevant.shape[1] + 1)
    return (relevant * precision).sum(1) / np.maximum(relevant.sum(1), 1)


def paired(values, reference):
    """Mean difference to the reference set's per-drawing values, and its standard error."""
    d = values - reference
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir")
    p.add_argument("--sets", nargs="+", required=True, help="comma-separated views per set")
    p.add_argument("--query-expansion", type=int, default=10, help="N for the expanded mAP (alpha 3)")
    a = p.parse_args()
    labels = np.load(f"{a.dir}/labels.npy").astype(int)
    print(f"{'views':44s} {'passes':>6s} {'acc':>7s} {'mAP':>7s} {'mAP QE':>7s}   "
          "against the first set: acc, mAP, mAP QE (+- standard error of the paired difference)")
    reference = None
    for views in a.sets:
        names = views.split(",")
        logits = np.mean([np.load(f"{a.dir}/logits_{v}.npy") for v in names], axis=0)
        features = np.mean([np.load(f"{a.dir}/features_{v}.npy") for v in names], axis=0)
        x = l2(features)
        measures = [(logits.argmax(1) == labels).astype(float), leave_one_out_aps(x, labels),
                    leave_one_out_aps(x, labels, expanded_queries(x, a.query_expansion, 3.0))]
        reference = reference or measures
        line = f"{views:44s} {len(names):6d} " + " ".join(f"{m.mean():7.4f}" for m in measures)
        for m, r in zip(measures, reference):
            line += "   %+.4f +- %.4f" % paired(m, r)
        print(line)


if __name__ == "__main__":
    main()
