"""``tune``: cross-validated Optuna trials, then a refit of the best parameters."""

from __future__ import annotations

import numbers
import os
import socket
import warnings
from typing import NamedTuple

import numpy as np
import optuna
from optuna.trial import FixedTrial, TrialState
from sklearn.base import clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing, indexable

from .._random import seed_from
from ..estimators import HypersphericalBase, JointEstimator
from ..estimators.joint import split_joint_target
from ._pruning import EpochPruning, Fold, make_pruner, reporting
from ._sampler import TrialSeededTPE
from ._space import check_search_space
from ._storage import open_storage

__all__ = ["TuneResult", "tune"]

_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)


class TuneResult(NamedTuple):
    """What :func:`tune` returns; unpacks as ``study, best_estimator = tune(...)``.

    Attributes
    ----------
    study : optuna.study.Study
        Every trial: its parameters, value (mean held-out score), ``fold_scores``,
        ``worker`` (``host:pid``) and, for failed trials, ``error`` (user attributes);
        pruned trials keep their per-epoch held-out scores as intermediate values.
    best_estimator : estimator or None
        A clone of the estimator with the best trial's parameters, fitted on all of
        ``(X, y)``; None with ``refit=False`` or when no trial completed.
    """

    study: optuna.study.Study
    best_estimator: object

    @property
    def best_params(self):
        """The best trial's sampled parameters (``study.best_params``)."""
        return self.study.best_params

    @property
    def best_score(self):
        """The best trial's mean held-out score (``study.best_value``)."""
        return self.study.best_value


def tune(estimator, X, y, *, search_space=None, n_trials=20, timeout=None, cv=5,
         scoring=None, storage=None, study_name=None, n_jobs=1, pruning=True,
         random_state=None, show_progress_bar=False, refit=True, heartbeat_interval=60):
    """Tune an hsproto estimator's hyperparameters with Optuna and refit the best.

    Each trial samples parameters from ``search_space``, fits a clone of ``estimator``
    on every training fold of ``cv`` and returns the mean held-out score; the study
    maximises it. Trials that raise or score NaN are recorded as failed (with the error
    in ``trial.user_attrs["error"]``) and the search goes on. With ``pruning``, each
    fold's held-out score is reported after every epoch (:class:`EpochPruning`) and
    the pruner stops trials that fall behind.

    Everything is checked before the first trial: the parameters, the search-space
    names (against ``estimator.get_params()``), ``cv``, ``scoring`` and the storage
    (the URL is parsed and the database connected to).

    Parameters
    ----------
    estimator : HypersphericalClassifier, HypersphericalRegressor or JointEstimator
        Parameters outside the search space keep the estimator's values.
    X : array-like of shape (n_samples, ...)
    y : array-like, the estimator's target format
    search_space : dict or callable, default=None
        None: :func:`default_search_space`. A dict maps parameter names to optuna
        distributions; a callable takes an ``optuna.Trial`` and returns a dict of
        parameters (e.g. to tune ``module_params``); it is called once on a throw-away
        trial to check the names, so it must not have side effects.
    n_trials : int, default=20
        The number of finished (complete or pruned) trials the study should hold. A call
        stops starting trials once the study holds that many, counting trials that run in
        other workers, so rerunning a call on a persistent storage resumes the study
        instead of adding ``n_trials`` more, and workers sharing a study share the count.
        Failed trials do not count, but a call runs at most ``n_trials`` trials itself
        (it ends even if every trial fails). Workers that start a trial in the same
        instant may together overshoot by one trial each: the check and Optuna's
        creation of the next trial are not one transaction.
    timeout : float, default=None
        Stop starting trials after this many seconds (this call only).
    cv : int, cross-validation generator or iterable, default=5
        As in ``cross_val_score``: an int is ``StratifiedKFold`` for the classifier and
        ``KFold`` otherwise (no shuffling).
    scoring : str or callable, default=None
        One scorer (``check_scoring``); None is the estimator's ``score``. For the
        joint estimator see ``hsproto.joint_scorers()``.
    storage : None, str or optuna.storages.BaseStorage, default=None
        None keeps the study in memory. ``"sqlite:///file.db"``: a file on one machine.
        ``"postgresql://user:password@host:port/db"`` (or ``mysql://``): a database shared
        by workers on several machines, with heartbeats every ``heartbeat_interval``
        seconds; a trial whose worker stops beating for twice that long is marked failed
        when another worker next starts a trial, and is retried once. A storage object
        is used as given.
    study_name : str, default=None
        Resume the study of that name if the storage has one (``load_if_exists``). None
        creates a new study with a generated name.
    n_jobs : int, default=1
        Trials run in parallel threads of this process (Optuna's ``n_jobs``).
    pruning : bool or optuna.pruners.BasePruner, default=True
        True: ``MedianPruner(n_startup_trials=5, n_warmup_steps=5)`` on the held-out
        score per epoch. False: every trial runs to the end (no per-epoch scoring).
    random_state : int, RandomState or None, default=None
        Seeds Optuna's TPE sampler (trial ``n`` draws from a generator seeded by
        ``(seed, n)``) and, when the estimator's own ``random_state`` is None, the
        estimator's fits, so a sequential run is reproducible.
    show_progress_bar : bool, default=False
        Optuna's progress bar.
    refit : bool, default=True
        Fit the best parameters on all of ``(X, y)``.
    heartbeat_interval : int, default=60
        Seconds between heartbeats for a PostgreSQL/MySQL URL (ignored otherwise).

    Returns
    -------
    TuneResult
        ``(study, best_estimator)``, with ``best_params`` and ``best_score``.

    Raises
    ------
    ValueError
        Invalid parameters, unknown search-space names, a malformed storage URL.
    ConnectionError
        The storage's database cannot be reached (the password is masked).

    Examples
    --------
    >>> import optuna
    >>> from hsproto import HypersphericalClassifier
    >>> from hsproto.datasets import load_digits_data
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> X, y = load_digits_data()
    >>> space = {"lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)}
    >>> study, best = tune(HypersphericalClassifier(max_epochs=3), X[:200], y[:200],
    ...                    search_space=space, n_trials=2, cv=2, random_state=0)
    >>> len(study.trials), sorted(study.best_params)
    (2, ['lr'])
    >>> best.max_epochs, best.lr == study.best_params["lr"]
    (3, True)
    """
    _check_tune_params(estimator, n_trials, timeout, n_jobs, heartbeat_interval)
    X, y = indexable(X, y)
    seed = None if random_state is None else seed_from(random_state)
    estimator = clone(estimator)
    if seed is not None and estimator.get_params().get("random_state") is None:
        estimator.set_params(random_state=seed)
    objective = _Objective(estimator, X, y, check_search_space(estimator, search_space, X, y),
                           _check_cv(cv, estimator, X, y), _check_scoring(estimator, scoring),
                           pruning=pruning is not False)
    pruner = make_pruner(pruning)
    study = _create_study(open_storage(storage, heartbeat_interval), study_name, seed, pruner)
    _run(study, objective, n_trials, timeout, n_jobs, show_progress_bar)
    return TuneResult(study, _refit(study, objective) if refit else None)


def _check_tune_params(estimator, n_trials, timeout, n_jobs, heartbeat_interval):
    if not isinstance(estimator, HypersphericalBase):
        raise ValueError(f"tune needs an hsproto estimator (HypersphericalClassifier, "
                         f"HypersphericalRegressor, JointEstimator), got "
                         f"{type(estimator).__name__}.")
    for name, value, low in (("n_trials", n_trials, 1), ("heartbeat_interval",
                             heartbeat_interval, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(
            timeout, numbers.Real) or not timeout > 0):
        raise ValueError(f"timeout must be None or a number > 0, got {timeout!r}.")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0 \
            or n_jobs < -1:
        raise ValueError(f"n_jobs must be -1 or an integer >= 1, got {n_jobs!r}.")


def _check_cv(cv, estimator, X, y):
    labels = split_joint_target(y)[0] if isinstance(estimator, JointEstimator) else y
    splitter = check_cv(cv, labels, classifier=is_classifier(estimator))
    return list(splitter.split(X, labels))


def _check_scoring(estimator, scoring):
    if isinstance(scoring, dict | list | tuple | set):
        raise ValueError("tune maximises one score: pass one scorer name or callable as "
                         "scoring, not several.")
    return check_scoring(estimator, scoring)


def _create_study(storage, study_name, seed, pruner):
    study = optuna.create_study(storage=storage, sampler=TrialSeededTPE(seed), pruner=pruner,
                                study_name=study_name, direction="maximize",
                                load_if_exists=study_name is not None)
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ValueError(f"Study {study.study_name!r} minimises; tune maximises scores. "
                         f"Use another study_name.")
    return study


def _n_taken(study):
    """Trials that count towards the target: finished, or running in some worker."""
    return len(study.get_trials(deepcopy=False, states=(*_COUNTED, TrialState.RUNNING)))


def _stop_at(n_trials):
    def callback(study, trial):
        if _n_taken(study) >= n_trials:
            study.stop()
    return callback


def _run(study, objective, n_trials, timeout, n_jobs, show_progress_bar):
    """Run trials until the study holds ``n_trials`` finished ones (see :func:`tune`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    if _n_taken(study) >= n_trials:
        return
    study.optimize(objective, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs,
                   catch=(Exception,), callbacks=[_stop_at(n_trials)],
                   show_progress_bar=show_progress_bar)


def _refit(study, objective):
    try:
        best = study.best_trial
    except ValueError:
        counts = {s.name: 0 for s in (TrialState.FAIL, TrialState.PRUNED)}
        for t in study.get_trials(deepcopy=False):
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        warnings.warn(f"No trial of study {study.study_name!r} completed ({counts}); "
                      f"nothing to refit. Failed trials keep their error in "
                      f"trial.user_attrs['error'].", UserWarning, stacklevel=3)
        return None
    params = objective.space(FixedTrial(best.params, best.number))
    return clone(objective.estimator).set_params(**params).fit(objective.X, objective.y)


class _Objective:
    """Mean held-out score of the trial's parameters over the cross-validation folds."""

    def __init__(self, estimator, X, y, space, splits, scorer, *, pruning):
        self.estimator, self.X, self.y, self.space = estimator, X, y, space
        self.splits, self.scorer, self.pruning = splits, scorer, pruning

    def __call__(self, trial):
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        try:
            estimator = clone(self.estimator).set_params(**self.space(trial))
            scores = []
            for index, (train, valid) in enumerate(self.splits):
                scores.append(self._fold(trial, estimator, index, train, valid))
                if not np.isfinite(scores[-1]):
                    trial.set_user_attr("error", f"fold {index} scored {scores[-1]}")
                    return float("nan")
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:2000])
            raise
        trial.set_user_attr("fold_scores", scores)
        return float(np.mean(scores))

    def _fold(self, trial, estimator, index, train, valid):
        train = _safe_indexing(self.X, train), _safe_indexing(self.y, train)
        valid = _safe_indexing(self.X, valid), _safe_indexing(self.y, valid)
        estimator = clone(estimator)
        if not self.pruning:
            return float(self.scorer(estimator.fit(*train), *valid))
        callbacks = [*(estimator.callbacks or []), ("epoch_pruning", EpochPruning())]
        estimator.set_params(callbacks=callbacks)
        with reporting(Fold(trial, estimator, valid, self.scorer, index)):
            estimator.fit(*train)
        return float(self.scorer(estimator, *valid))
