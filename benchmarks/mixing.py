"""Mixing on digits (seed 002): ``hpn`` vs ``mce``, with and without MixUp.

Stratified 5-fold CV on load_digits (mlp backbone, tabular input, so MixUp; CutMix needs
images), fixed seeds, 100 and 200 epochs. The paper's claims: mixing helps, and with
mixing the dissimilarity loss (``hpn`` on mixed prototypes) beats ``mce``.

    python benchmarks/mixing.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

import hsproto
from hsproto import HypersphericalClassifier
from hsproto.datasets import load_digits_data


def main():
    torch.set_num_threads(2)
    hsproto.set_config(cache_dir=None)
    X, y = load_digits_data()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    print(f"load_digits {X.shape}, mlp backbone, stratified 5-fold CV (shuffle, "
          f"random_state=0), {torch.get_num_threads()} threads")
    print(f"{'loss':<5} {'mixing':<7} {'epochs':>6} {'accuracy':>17} {'fit/fold':>9}")
    results = {}
    for epochs in (100, 200):
        for loss in ("hpn", "mce"):
            for mixing in (None, "mixup"):
                scores, times = [], []
                for tr, te in cv.split(X, y):
                    clf = HypersphericalClassifier(loss=loss, mixing=mixing, max_epochs=epochs,
                                                   random_state=0)
                    start = time.perf_counter()
                    clf.fit(X[tr], y[tr])
                    times.append(time.perf_counter() - start)
                    scores.append(clf.score(X[te], y[te]))
                results[loss, mixing, epochs] = np.mean(scores)
                print(f"{loss:<5} {mixing or '-':<7} {epochs:>6} {np.mean(scores):.4f} +- "
                      f"{np.std(scores):.4f} {np.mean(times):8.1f}s", flush=True)
    for epochs in (100, 200):
        gain = {loss: results[loss, "mixup", epochs] - results[loss, None, epochs]
                for loss in ("hpn", "mce")}
        print(f"{epochs} epochs: mixing gain hpn {gain['hpn']:+.4f}, mce {gain['mce']:+.4f}; "
              f"with mixing hpn - mce = "
              f"{results['hpn', 'mixup', epochs] - results['mce', 'mixup', epochs]:+.4f}")


if __name__ == "__main__":
    main()
