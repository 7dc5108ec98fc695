"""Dynamic vs static label-to-prototype assignment (seed 001), and the assignment's cost.

1. Accuracy, stratified 5-fold CV, fixed seeds, with n_dims much smaller than the number
   of classes: digits with n_dims=2 (10 classes), and a synthetic 100-class task with
   n_dims=10 whose classes lie on a 10 x 10 grid in a 2-d latent space (neighbouring
   classes are alike, which a good assignment can exploit), mapped non-linearly to 32
   features.
2. Overhead at K = 1000 classes: the median wall time of whole fits with and without
   the dynamic assignment (five alternated fits each; everything the callback does,
   its end-of-epoch solver included, is inside), per epoch; also skorch's per-epoch
   ``dur`` (which ends before the callback's end-of-epoch work), the time spent inside
   the callback's own hooks (class averages and solver) and the solver's time per
   assignment. Target: <= 5 % of an epoch. The verdict is given both from the callback's
   own time and from the whole-fit medians; on this 2-core machine identical fits vary
   by up to 40 %, which the second cannot resolve.

    python benchmarks/assignment.py
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.model_selection import StratifiedKFold

import hsproto
from hsproto import HypersphericalClassifier
from hsproto.assignment import DynamicAssignment
from hsproto.datasets import load_digits_data


def grid_classes(n_side=10, per_class=60, n_features=32, seed=0):
    """100 Gaussian classes on a grid in 2-d, lifted to ``n_features`` by a random
    two-layer tanh map (neighbouring classes overlap a little)."""
    rng = np.random.default_rng(seed)
    centres = np.stack(np.meshgrid(np.arange(n_side), np.arange(n_side)), -1).reshape(-1, 2)
    y = np.repeat(np.arange(len(centres)), per_class)
    latent = centres[y] + rng.normal(scale=0.3, size=(len(y), 2))
    W1, W2 = rng.normal(size=(2, 64)), rng.normal(size=(64, n_features)) / 8
    X = np.tanh(latent / n_side * 3 @ W1) @ W2
    X = (X - X.mean(0)) / X.std(0)
    return X.astype(np.float32), y


def cv_accuracy(make, X, y):
    scores, times = [], []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        start = time.perf_counter()
        model = make().fit(X[tr], y[tr])
        times.append(time.perf_counter() - start)
        scores.append(model.score(X[te], y[te]))
    return np.mean(scores), np.std(scores), np.mean(times)


def accuracy_table():
    X, y = load_digits_data()
    Xg, yg = grid_classes()
    tasks = [("digits, K=10, n_dims=2", X, y, 2, 200), ("grid, K=100, n_dims=10", Xg, yg, 10,
                                                          100)]
    print(f"{'task':<24} {'assignment':<10} {'accuracy':>17} {'fit/fold':>9}")
    for name, data, target, dims, epochs in tasks:
        for assignment in ("static", "dynamic"):
            mean, std, fit = cv_accuracy(lambda a=assignment, d=dims, e=epochs:
                                         HypersphericalClassifier(
                                             n_dims=d, assignment=a, max_epochs=e,
                                             random_state=0), data, target)
            print(f"{name:<24} {assignment:<10} {mean:.4f} +- {std:.4f} {fit:8.1f}s",
                  flush=True)


@contextlib.contextmanager
def _timed_hooks():
    """Time spent inside DynamicAssignment's hooks (wall clock), one total per epoch:
    ``spent["epochs"][i]`` is the batch hooks of epoch i plus its end-of-epoch hook."""
    spent = {"epochs": [], "running": 0.0}
    originals = {n: getattr(DynamicAssignment, n) for n in ("on_batch_end", "on_epoch_end")}

    def timed(fn, closes_epoch):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent["running"] += time.perf_counter() - start
                if closes_epoch:
                    spent["epochs"].append(spent["running"])
                    spent["running"] = 0.0
        return wrapper

    for name, fn in originals.items():
        setattr(DynamicAssignment, name, timed(fn, name == "on_epoch_end"))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(DynamicAssignment, name, fn)


def overhead_table(n_classes=1000, per_class=50, n_dims=64, epochs=6, repeats=5):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n_classes, 64))
    y = np.repeat(np.arange(n_classes), per_class)
    X = (centres[y] + rng.normal(scale=1.0, size=(len(y), 64))).astype(np.float32)
    print(f"\nK={n_classes}, {len(y)} samples x 64 features, n_dims={n_dims}, mlp(256), "
          f"batch 128, {epochs} epochs (first epoch dropped)")
    durations, own, walls = {}, [], {}
    for assignment in ("static", "dynamic") * repeats:               # alternated
        clf = HypersphericalClassifier(n_dims=n_dims, prototypes="random",
                                       assignment=assignment, max_epochs=epochs,
                                       random_state=0)
        with _timed_hooks() as spent:
            start = time.perf_counter()
            clf.fit(X, y)
            walls.setdefault(assignment, []).append(time.perf_counter() - start)
        durations.setdefault(assignment, []).extend(clf.history_[1:, "dur"])
        if assignment == "dynamic":
            solver = clf.history_[1:, "assignment_time"]
            own.extend(spent["epochs"][1:])
    static, dynamic = np.median(durations["static"]), np.median(durations["dynamic"])
    wall_s, wall_d = np.median(walls["static"]), np.median(walls["dynamic"])
    own_share = np.median(own) / static
    print(f"the callback's own time (its hooks, solver included): median "
          f"{np.median(own):.4f}s per epoch = {100 * own_share:.1f}% of a static epoch")
    cost = np.random.default_rng(1).normal(size=(n_classes, n_classes))
    start = time.perf_counter()
    linear_sum_assignment(cost)
    lsa = time.perf_counter() - start
    solver = np.median(solver)
    print(f"epoch dur (before the end-of-epoch solver) static {static:.3f}s, dynamic "
          f"{dynamic:.3f}s: {100 * (dynamic - static) / static:+.1f}%; solver {solver:.3f}s "
          f"per assignment = {100 * solver / static:.1f}% of an epoch; scipy LSA on a "
          f"random {n_classes}x{n_classes} cost: {lsa:.3f}s")
    share = (wall_d - wall_s) / wall_s
    print(f"whole fit ({epochs} epochs) static {wall_s:.3f}s, dynamic {wall_d:.3f}s: "
          f"{100 * share:+.1f}% (runs: static "
          f"{', '.join(f'{t:.2f}' for t in walls['static'])}; dynamic "
          f"{', '.join(f'{t:.2f}' for t in walls['dynamic'])})")
    print(f"target <= 5% of an epoch, by the callback's own time: "
          f"{'PASS' if own_share <= 0.05 else 'MISS'} ({100 * own_share:.1f}%); "
          f"by whole-fit medians: {'PASS' if share <= 0.05 else 'MISS'} "
          f"({100 * share:+.1f}%; identical static fits vary by "
          f"{100 * (max(walls['static']) / min(walls['static']) - 1):.0f}% here)")

def main():
    torch.set_num_threads(2)
    hsproto.set_config(cache_dir=None)
    print(f"{torch.get_num_threads()} threads; stratified 5-fold CV (shuffle, random_state=0)")
    accuracy_table()
    overhead_table()


if __name__ == "__main__":
    main()
