"""Digits with a 2-d and a 3-d output space: prototype losses vs a learnable softmax.

Stratified 5-fold CV on load_digits as 8x8 images, the ``cnn`` backbone, 100 epochs,
fixed seeds. The peer is the same network with a learnable linear softmax classifier on
the 2-/3-d bottleneck (``loss="softmax"``). Targets: >= 0.960 (n_dims=2) and >= 0.975
(n_dims=3) for the best hsproto loss.

    python benchmarks/low_dims.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

import hsproto
from hsproto import HypersphericalClassifier
from hsproto.datasets import load_digits_data

TARGET = {2: 0.960, 3: 0.975}
LOSSES = ("hpn", "cosine", "arcface", "softmax")


def main():
    torch.set_num_threads(2)
    hsproto.set_config(cache_dir=None)
    X, y = load_digits_data(as_images=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    print(f"load_digits {X.shape}, cnn backbone, stratified 5-fold CV (shuffle, "
          f"random_state=0), {torch.get_num_threads()} threads")
    print(f"{'n_dims':>6} {'loss':<8} {'prototypes':<10} {'accuracy':>17} {'fit/fold':>9}")
    for n_dims in (2, 3):
        best = ("", 0.0)
        for loss in LOSSES:
            scores, times = [], []
            for tr, te in cv.split(X, y):
                clf = HypersphericalClassifier("cnn", n_dims=n_dims, loss=loss, random_state=0)
                start = time.perf_counter()
                clf.fit(X[tr], y[tr])
                times.append(time.perf_counter() - start)
                scores.append(clf.score(X[te], y[te]))
            kind = "learned" if loss == "softmax" else "polygon" if n_dims == 2 else "auto"
            print(f"{n_dims:>6} {loss:<8} {kind:<10} {np.mean(scores):.4f} +- "
                  f"{np.std(scores):.4f} {np.mean(times):8.1f}s", flush=True)
            if loss != "softmax" and np.mean(scores) > best[1]:
                best = (loss, np.mean(scores))
        verdict = "PASS" if best[1] >= TARGET[n_dims] else "MISS"
        print(f"n_dims={n_dims}: best hsproto loss {best[0]} {best[1]:.4f} vs target "
              f">= {TARGET[n_dims]}: {verdict}")


if __name__ == "__main__":
    main()
