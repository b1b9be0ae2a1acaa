#!/usr/bin/python3
"""Would query expansion help search? An offline probe of alpha-QE (issue 14).

alpha-weighted query expansion (Radenovic, Tolias and Chum, "Fine-tuning CNN image retrieval with
no human annotation", 2018): a query's k nearest gallery items, each weighted by its cosine
similarity to the query raised to alpha, are added to the query; the sum, L2-normalized, searches
the gallery again. It costs a second search and no forward pass, and needs no labels. Leave-one-out
as the bundles measure it: each item queries all the others, and its own vector is never among
the neighbours that expand it (nothing of the query leaks into the gallery it searches).

Reads a Flat gallery or bundle (index.faiss and index_metadata.tsv, as bench/whitening_probe.py);
prints mAP and precision@10 of the plain search, then of each (k, alpha); and, so that (k, alpha)
need not be chosen on the figures they are reported with, the mAP within each half of the words
(split at random, each half its own gallery), and the (k, alpha) that the best of one half picks,
scored on the other.

  /usr/bin/python3 bench/query_expansion_probe.py BUNDLE [--ks 1,2,3,5,10] [--alphas 0,1,3]
"""
import argparse

import numpy as np

from whitening_probe import l2, read_flat_index, read_words


def ranked_relevance(scores, words):
    """For each row, the relevance (same word) of every other row, best score first."""
    scores = scores.copy()
    np.fill_diagonal(scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :-1]
    return words[order] == words[:, None]


def map_and_p10(relevant):
    positives = relevant.sum(1)
    precision = np.cumsum(relevant, axis=1) / np.arange(1, relevant.shape[1] + 1)
    ap = (relevant * precision).sum(1) / np.maximum(positives, 1)
    return ap[positives > 0].mean(), relevant[:, :10].mean()


def expanded_queries(x, k, alpha):
    """Each row plus its k nearest other rows, weighted by similarity^alpha, L2-normalized."""
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    nearest = np.argsort(-s, axis=1, kind="stable")[:, :k]
    weights = np.power(np.maximum(np.take_along_axis(s, nearest, 1), 0), alpha)
    return l2(x + np.einsum("nk,nkd->nd", weights, x[nearest]))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle")
    p.add_argument("--ks", default="1,2,3,5,10")
    p.add_argument("--alphas", default="0,1,3")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    x = l2(read_flat_index(a.bundle + "/index.faiss"))
    words = read_words(a.bundle + "/index_metadata.tsv")
    vocabulary = np.array(sorted(set(words)))
    np.random.default_rng(a.seed).shuffle(vocabulary)
    halves = [np.isin(words, vocabulary[: len(vocabulary) // 2]),
              np.isin(words, vocabulary[len(vocabulary) // 2:])]

    def measure(k, alpha):
        """(mAP, P@10) of all drawings, then mAP of each half searched alone."""
        figures = []
        for rows in (np.ones(len(words), bool), halves[0], halves[1]):
            y, w = x[rows], words[rows]
            q = expanded_queries(y, k, alpha) if k else y
            figures.append(map_and_p10(ranked_relevance(q @ y.T, w)))
        return figures[0] + (figures[1][0], figures[2][0])

    print(f"{a.bundle}: {len(words)} drawings of {len(vocabulary)} words")
    print("                       all: mAP    P@10    half A mAP  half B mAP")
    print("plain search:          %.4f  %.4f  %.4f      %.4f" % measure(0, 0))
    results = {}
    for k in [int(v) for v in a.ks.split(",")]:
        for alpha in [float(v) for v in a.alphas.split(",")]:
            results[k, alpha] = measure(k, alpha)
            print("QE k %2d, alpha %.1f:    %.4f  %.4f  %.4f      %.4f" % ((k, alpha) + results[k, alpha]))
    for chosen_on, scored_on in ((2, 3), (3, 2)):
        k, alpha = max(results, key=lambda key: results[key][chosen_on])
        print("half %s's best, k %d alpha %.1f: half %s mAP %.4f (plain %.4f), all %.4f"
              % ("AB"[chosen_on - 2], k, alpha, "AB"[scored_on - 2], results[k, alpha][scored_on],
                 measure(0, 0)[scored_on], results[k, alpha][0]))


if __name__ == "__main__":
    main()
