"""Tuning digits with Optuna: ``hsproto.tuning.tune`` against the defaults, and pruning
against no pruning.

The digits are split once (stratified, seed 0) into 80 % for tuning and 20 % held out.
On the 80 %, with the same 5 folds (StratifiedKFold, no shuffling, as cross_val_score):

1. the defaults, ``HypersphericalClassifier(random_state=0)``: 5-fold accuracy;
2. ``tune`` with the default search space, 20 trials, ``random_state=0``, with pruning
   (MedianPruner on the held-out fold's accuracy per epoch) and with ``pruning=False``:
   wall time, trial states and the best 5-fold accuracy.

The best 5-fold accuracy is the maximum over 20 trials, so it is optimistic; the held-out
20 % gives an unbiased check: the defaults and each run's refitted best estimator are
scored on it. One torch thread; the prototype cache is a temporary directory filled
before timing, so neither run gets placements the other paid for.

    nice python benchmarks/tuning.py
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import optuna
import torch
from sklearn.model_selection import cross_val_score, train_test_split

import hsproto
from hsproto import HypersphericalClassifier
from hsproto.datasets import load_digits_data
from hsproto.tuning import default_search_space, tune

N_TRIALS, CV, SEED = 20, 5, 0


def warm_cache(space, n_classes):
    """Place every prototype set the search space can ask for (cached on disk)."""
    for n_dims in range(space["n_dims"].low, space["n_dims"].high + 1):
        for strategy in space["prototypes"].choices:
            hsproto.make_prototypes(strategy, n_classes, n_dims, random_state=SEED)


def run(X, y, X_test, y_test, pruning):
    start = time.perf_counter()
    study, best = tune(HypersphericalClassifier(), X, y, n_trials=N_TRIALS, cv=CV,
                       pruning=pruning, random_state=SEED)
    elapsed = time.perf_counter() - start
    states = [t.state.name.lower() for t in study.trials]
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("complete", "pruned", "fail"))
    epochs = sum(len(t.intermediate_values) for t in study.trials) if pruning else None
    name = "pruning" if pruning else "pruning=False"
    print(f"tune, {name:<14} time {elapsed:6.1f}s  ({counts})")
    print(f"  best {CV}-fold accuracy {study.best_value:.4f} (trial {study.best_trial.number}); "
          f"held-out accuracy of the refitted best {best.score(X_test, y_test):.4f}")
    if epochs is not None:
        print(f"  epochs trained over all trials and folds: {epochs}")
    print(f"  best parameters: {fmt(study.best_params)}")
    return elapsed, study.best_value


def fmt(params):
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in sorted(params.items()))


def main():
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X_all, y_all = load_digits_data()
    X, X_test, y, y_test = train_test_split(X_all, y_all, test_size=0.2, stratify=y_all,
                                            random_state=SEED)
    print(f"digits: {len(X)} samples for tuning ({CV}-fold CV), {len(X_test)} held out; "
          f"{N_TRIALS} trials, torch threads: {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as cache, hsproto.config_context(cache_dir=cache):
        warm_cache(default_search_space(HypersphericalClassifier(), X, y), 10)
        start = time.perf_counter()
        default = HypersphericalClassifier(random_state=SEED)
        scores = cross_val_score(default, X, y, cv=CV)
        elapsed = time.perf_counter() - start
        held_out = default.fit(X, y).score(X_test, y_test)
        print(f"defaults: {CV}-fold accuracy {np.mean(scores):.4f} +- {np.std(scores):.4f} "
              f"({elapsed:.1f}s); held-out accuracy {held_out:.4f}")
        t_pruned, best_pruned = run(X, y, X_test, y_test, pruning=True)
        t_full, best_full = run(X, y, X_test, y_test, pruning=False)
    print(f"pruning: {t_pruned:.1f}s vs {t_full:.1f}s without ({t_pruned / t_full:.0%} of "
          f"the time); best {CV}-fold accuracy {best_pruned:.4f} vs {best_full:.4f}")
    print(f"tuned vs defaults ({CV}-fold): {max(best_pruned, best_full):.4f} vs "
          f"{np.mean(scores):.4f}")


if __name__ == "__main__":
    main()
