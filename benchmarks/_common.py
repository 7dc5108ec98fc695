"""Shared cross-validation loop of the benchmarks: fit time per fold and a score."""

from __future__ import annotations

import time

import numpy as np
import torch


def cross_validate(make, X, y, cv, score, train_subset=None, seed=0):
    """Fit ``make()`` on each training fold of ``cv`` and score it on the test fold.

    ``score(y_true, y_pred) -> float``; ``train_subset(train_indices, fold) -> indices``
    optionally resamples the training fold (the test fold is never touched). The global
    torch RNG is seeded with ``1000 * seed + fold`` before each fit (skorch peers draw
    from it; ``seed=0`` seeds with the fold number, as benchmarks/digits.py does).
    Returns ``(scores, fit_times)``, one entry per fold.
    """
    scores, times = [], []
    for fold, (train, test) in enumerate(cv.split(X, y)):
        if train_subset is not None:
            train = train_subset(train, fold)
        torch.manual_seed(1000 * seed + fold)
        model = make()
        start = time.perf_counter()
        model.fit(X[train], y[train])
        times.append(time.perf_counter() - start)
        scores.append(score(y[test], model.predict(X[test])))
    return np.asarray(scores), np.asarray(times)


def row(name, scores, times, width=60):
    """One table line: ``name  mean +- std  fit/fold``."""
    return (f"{name:<{width}} {np.mean(scores):7.4f} +- {np.std(scores):.4f} "
            f"{np.mean(times):8.1f}s")


def run_table(models, run, width):
    """Cross-validate and print every ``(name, make)`` of ``models`` with ``run(make)``;
    return ``{name: mean score}``."""
    results = {}
    for name, make in models:
        scores, times = run(make)
        results[name] = np.mean(scores)
        print(row(name, scores, times, width), flush=True)
    return results


def best_row(results, prefix, target):
    """The best row whose name starts with ``prefix``, and "PASS"/"MISS" against
    ``target``."""
    ours = {k: v for k, v in results.items() if k.startswith(prefix)}
    best = max(ours, key=ours.get)
    return best, "PASS" if ours[best] >= target else "MISS"
