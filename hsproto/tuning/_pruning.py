"""Clone-safe pruning: each fold's held-out score reported after every epoch."""

from __future__ import annotations

import contextlib
import contextvars

import optuna
from skorch.callbacks import Callback

__all__ = ["FOLD_STEP", "EpochPruning", "Fold", "make_pruner", "reporting"]

#: Intermediate values of fold ``f``, epoch ``e`` (0-based) are reported at step
#: ``f * FOLD_STEP + e``, so a pruner compares trials at the same fold and epoch.
FOLD_STEP = 100_000


class Fold:
    """One cross-validation fold of a trial, as seen by :class:`EpochPruning`: the
    estimator being fitted on the training part and the held-out part it is scored on."""

    def __init__(self, trial, estimator, valid, scorer, index):
        self.trial, self.estimator, self.scorer, self.index = trial, estimator, scorer, index
        self.valid = valid

    def score(self):
        """The scorer's value on the held-out fold for the estimator as it is now: an
        hsproto estimator sets its fitted attributes before training starts, so it
        predicts with the network as trained so far."""
        return float(self.scorer(self.estimator, *self.valid))


_ACTIVE_FOLD = contextvars.ContextVar("hsproto_tuning_fold", default=None)


@contextlib.contextmanager
def reporting(fold):
    token = _ACTIVE_FOLD.set(fold)
    try:
        yield
    finally:
        _ACTIVE_FOLD.reset(token)


class EpochPruning(Callback):
    """skorch callback: report the held-out fold's score to the running Optuna trial after
    every epoch, and stop the trial when the study's pruner says so.

    :func:`tune` adds it to each fold's estimator. It has no parameters: the trial, the
    held-out fold and the scorer are looked up when an epoch ends, from the fold that
    :func:`tune` is fitting (a context variable, so ``n_jobs`` threads keep their own).
    An estimator carrying it can therefore be cloned, deep-copied and pickled like any
    other (optuna-integration's ``SkorchPruningCallback`` holds the trial and cannot);
    outside :func:`tune` it does nothing.

    Why the held-out fold: the trial's value is the mean held-out score of the folds,
    so the values a pruner compares are the same metric on the same data the trial is
    judged by. The net's own validation loss would have to hold out part of the training
    fold, and losses of different ``loss`` choices are not comparable with each other.
    The price is one prediction pass over the held-out fold per epoch (the fold is a
    fraction of the training data and prediction skips the backward pass). Scoring
    happens in eval mode and inside a forked torch CPU RNG, so a fit on the CPU trains
    exactly as without the callback (tested).

    Fold ``f``, epoch ``e`` (from 0) is reported at step ``f * FOLD_STEP + e``
    (``FOLD_STEP`` = 100 000), so the pruner compares trials at the same fold and epoch;
    the score is also recorded in the net's history as ``fold_score``.
    """

    def on_epoch_end(self, net, **kwargs):
        fold = _ACTIVE_FOLD.get()
        if fold is None:
            return
        epoch = len(net.history) - 1
        score = fold.score()
        net.history.record("fold_score", score)
        if epoch < FOLD_STEP:
            fold.trial.report(score, fold.index * FOLD_STEP + epoch)
        if fold.trial.should_prune():
            raise optuna.TrialPruned(f"pruned in fold {fold.index}, epoch {epoch + 1}: "
                                     f"held-out score {score:.4g}")


def make_pruner(pruning):
    if pruning is True:
        # No pruning in the first 5 trials (nothing to compare with) nor in the first
        # 5 epochs of the first fold (slow starters, e.g. small learning rates).
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    if pruning is False:
        return optuna.pruners.NopPruner()
    if isinstance(pruning, optuna.pruners.BasePruner):
        return pruning
    raise ValueError(f"pruning must be True, False or an optuna pruner, got {pruning!r}.")
