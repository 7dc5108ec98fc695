"""Hyperparameter tuning with Optuna: search spaces, :func:`tune` and clone-safe pruning.

:func:`tune` cross-validates one estimator per trial, prunes unpromising trials epoch by
epoch on the held-out fold's score (:class:`EpochPruning`), records failed trials instead
of stopping, and refits the best parameters on all the data. The study lives in memory,
in an SQLite file (one machine; a rerun with the same ``study_name`` resumes it) or in a
PostgreSQL/MySQL database shared by workers on several machines, with heartbeats so that
the trial of a worker that died is marked failed and retried once.

See ``docs/tuning.md`` for when to use :func:`tune` and when
``optuna_integration.OptunaSearchCV``.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import inspect
import math
import numbers
import os
import re
import socket
import time
import warnings
from typing import NamedTuple

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FixedTrial, TrialState
from sklearn.base import clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing, indexable
from skorch.callbacks import Callback

from .estimators._base import HypersphericalBase
from .estimators.joint import split_joint_target
from .prototypes._api import seed_from

__all__ = ["EpochPruning", "TuneResult", "default_search_space", "tune"]

#: Intermediate values of fold ``f``, epoch ``e`` (0-based) are reported at step
#: ``f * FOLD_STEP + e``, so a pruner compares trials at the same fold and epoch.
FOLD_STEP = 100_000

_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)
_DIALECTS = ("sqlite", "postgresql", "mysql")
_SERVER_DIALECTS = ("postgresql", "mysql")
_CONNECT_TIMEOUT_S = 10


# ---------------------------------------------------------------------- search spaces
def default_search_space(estimator, X, y):
    """The default search space of an hsproto estimator for data ``(X, y)``.

    Every estimator: ``lr`` (3e-4 to 3e-2, log), ``weight_decay`` (1e-6 to 1e-2, log),
    ``optimizer`` (adam, adamw), ``batch_size`` (32 to 256) and ``max_epochs`` (10 to 150,
    log). The classifier adds ``n_dims`` (from K/2 to 2K for K classes), ``prototypes``
    (auto, uniformity, random), ``loss`` (hpn, mce, cosine, arcface) and ``mixing``
    (none, mixup; cutmix and both for image input); the regressor ``n_dims``
    (T + 1 to T + 8 for T targets); the joint estimator ``n_dims`` (T + K/2 to T + 2K) and
    ``prototypes``. Strategies that need extra input (``privileged``, ``embedding``) or
    cannot place every (K, D) (``simplex``, ``orthoplex``, ...) are left out, and so are
    the ``vmf`` loss (slow Monte-Carlo inference) and the ``softmax``/``mse`` baselines.

    Parameters
    ----------
    estimator : HypersphericalClassifier, HypersphericalRegressor or JointEstimator
    X : array-like of shape (n_samples, ...)
    y : array-like, the estimator's target format

    Returns
    -------
    dict of str to optuna.distributions.BaseDistribution
        Extend or override it: ``{**default_search_space(est, X, y), "lr": ...}``.

    Examples
    --------
    >>> from hsproto import HypersphericalRegressor
    >>> space = default_search_space(HypersphericalRegressor(), [[0.0]] * 4, [0, 1, 2, 3])
    >>> sorted(space)
    ['batch_size', 'lr', 'max_epochs', 'n_dims', 'optimizer', 'weight_decay']
    >>> space["n_dims"]
    IntDistribution(high=9, log=False, low=2, step=1)
    """
    space = {
        "lr": FloatDistribution(3e-4, 3e-2, log=True),
        "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
        "optimizer": CategoricalDistribution(["adam", "adamw"]),
        "batch_size": CategoricalDistribution([32, 64, 128, 256]),
        "max_epochs": IntDistribution(10, 150, log=True),
    }
    n_classes, n_targets = _target_sizes(estimator, y)
    prototypes = CategoricalDistribution(["auto", "uniformity", "random"])
    if n_classes is not None:
        low, high = max(2, math.ceil(n_classes / 2)), max(3, 2 * n_classes)
        space["n_dims"] = IntDistribution(n_targets + low, n_targets + high)
        space["prototypes"] = prototypes
    else:
        space["n_dims"] = IntDistribution(n_targets + 1, n_targets + 8)
    if is_classifier(estimator):
        space["loss"] = CategoricalDistribution(["hpn", "mce", "cosine", "arcface"])
        images = np.ndim(X) == 4
        space["mixing"] = CategoricalDistribution(
            [None, "mixup", "cutmix", "both"] if images else [None, "mixup"])
    params = estimator.get_params()
    return {name: dist for name, dist in space.items() if name in params}


def _target_sizes(estimator, y):
    """(number of classes or None, number of regression targets) of ``y``."""
    if is_classifier(estimator):
        return len(np.unique(np.asarray(y))), 0
    if getattr(estimator, "_task", None) == "joint":
        labels, values = split_joint_target(y)
        return len(np.unique(labels)), values.shape[1]
    y = np.asarray(y)
    return None, 1 if y.ndim == 1 else y.shape[1]


def _suggest(trial, name, dist):
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


class _DictSpace:
    """A ``{name: distribution}`` search space as a ``trial -> params`` callable."""

    def __init__(self, space):
        self.space = space

    def __call__(self, trial):
        return {name: _suggest(trial, name, dist) for name, dist in self.space.items()}


def _check_search_space(estimator, search_space, X, y):
    """The search space as a ``trial -> params`` callable whose names are all parameters
    of ``estimator`` (checked now: a dict's keys, or a callable's output on a trial of a
    throw-away study)."""
    if search_space is None:
        search_space = default_search_space(estimator, X, y)
    if isinstance(search_space, dict):
        bad = {k: v for k, v in search_space.items() if not isinstance(v, BaseDistribution)}
        if bad:
            raise ValueError(f"search_space values must be optuna distributions (e.g. "
                             f"optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True));"
                             f" got {bad!r}. Fix other values on the estimator instead.")
        _check_names(estimator, search_space)
        return _DictSpace(search_space)
    if not callable(search_space):
        raise ValueError(f"search_space must be None, a dict of name -> optuna distribution "
                         f"or a callable trial -> dict of parameters; got {search_space!r}.")
    storage = optuna.storages.InMemoryStorage()   # not create_study: it logs the creation
    storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "hsproto-probe")
    probe = optuna.Study("hsproto-probe", storage, sampler=optuna.samplers.RandomSampler(0))
    params = search_space(probe.ask())
    if not isinstance(params, dict):
        raise ValueError(f"A callable search_space must return a dict of estimator "
                         f"parameters; got {type(params).__name__}.")
    _check_names(estimator, params)
    return search_space


def _check_names(estimator, names):
    valid = estimator.get_params()
    unknown = sorted(set(names) - set(valid))
    if unknown:
        raise ValueError(f"Unknown parameter(s) {unknown} in search_space for "
                         f"{type(estimator).__name__}; valid parameters: {sorted(valid)}.")


# ---------------------------------------------------------------------- pruning
class _Fold:
    """One cross-validation fold of a trial, as seen by :class:`EpochPruning`."""

    def __init__(self, trial, estimator, train, valid, scorer, index):
        self.trial, self.estimator, self.scorer, self.index = trial, estimator, scorer, index
        self.train, self.valid = train, valid
        self._view = None

    def score(self, net):
        """The scorer's value on the held-out fold for the net as it is now."""
        if self._view is None:
            # An unfitted copy of the estimator given the fitted target state (classes,
            # target bounds) of this training fold; ``net_`` is swapped in at each epoch.
            view = clone(self.estimator)
            *_, state = view._validate_fit(*self.train, None)
            for key, value in state.items():
                setattr(view, key, value)
            self._view = view
        self._view.net_ = net
        return float(self.scorer(self._view, *self.valid))


_ACTIVE_FOLD = contextvars.ContextVar("hsproto_tuning_fold", default=None)


@contextlib.contextmanager
def _reporting(fold):
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
        score = fold.score(net)
        net.history.record("fold_score", score)
        if epoch < FOLD_STEP:
            fold.trial.report(score, fold.index * FOLD_STEP + epoch)
        if fold.trial.should_prune():
            raise optuna.TrialPruned(f"pruned in fold {fold.index}, epoch {epoch + 1}: "
                                     f"held-out score {score:.4g}")


def _make_pruner(pruning):
    if pruning is True:
        # No pruning in the first 5 trials (nothing to compare with) nor in the first
        # 5 epochs of the first fold (slow starters, e.g. small learning rates).
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    if pruning is False:
        return optuna.pruners.NopPruner()
    if isinstance(pruning, optuna.pruners.BasePruner):
        return pruning
    raise ValueError(f"pruning must be True, False or an optuna pruner, got {pruning!r}.")


# ---------------------------------------------------------------------- storage
def _mask(url):
    """``url`` with the password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))


def _open_storage(storage, heartbeat_interval):
    """None (in memory), an optuna storage as given, or an ``RDBStorage`` for a URL that
    was parsed and connected to first (clear errors before any trial runs)."""
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise ValueError(f"storage must be None, a database URL or an optuna storage; got "
                         f"{storage!r}.")
    url = _with_driver(_parse_url(storage), storage)
    _check_connection(storage, url)
    options = {}
    if url.get_backend_name() in _SERVER_DIALECTS:
        options = _heartbeat_options(heartbeat_interval)
        options["engine_kwargs"] = {"pool_pre_ping": True, **_connect_args(url)}
    return _rdb_storage(url.render_as_string(hide_password=False), options)


def _parse_url(storage):
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(storage)
    except (ArgumentError, ValueError) as exc:
        raise ValueError(f"storage {_mask(storage)!r} is not a valid database URL ({exc}); "
                         f"use e.g. 'sqlite:///study.db' or "
                         f"'postgresql://user:password@host:5432/dbname'.") from None
    if url.get_backend_name() not in _DIALECTS:
        raise ValueError(f"storage {_mask(storage)!r}: unsupported database "
                         f"{url.get_backend_name()!r}; use one of {list(_DIALECTS)} "
                         f"(e.g. 'sqlite:///study.db' or 'postgresql://user:password@host/db')"
                         f".")
    if url.get_backend_name() in _SERVER_DIALECTS and not url.host:
        raise ValueError(f"storage {_mask(storage)!r} names no database host.")
    return url


def _with_driver(url, storage):
    """A bare ``postgresql://`` URL gets the PostgreSQL driver that is installed (psycopg
    3, else psycopg2): SQLAlchemy's default driver differs between its versions."""
    if url.drivername != "postgresql":
        return url
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return url.set(drivername=f"postgresql+{driver}")
    raise ImportError(f"storage {_mask(storage)!r} needs a PostgreSQL driver: install "
                      f"hsproto[tune] (psycopg) or psycopg2.")


def _connect_args(url):
    """Engine keywords: a connection timeout for database servers (psycopg, MySQL)."""
    if url.get_backend_name() in _SERVER_DIALECTS:
        return {"connect_args": {"connect_timeout": _CONNECT_TIMEOUT_S}}
    return {}


def _check_connection(storage, url):
    import sqlalchemy
    from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

    try:
        engine = sqlalchemy.create_engine(url, **_connect_args(url))
    except ImportError as exc:
        raise ImportError(f"storage {_mask(storage)!r} needs a database driver that is not "
                          f"installed ({exc}); install hsproto[tune] (psycopg for "
                          f"PostgreSQL).") from exc
    except NoSuchModuleError as exc:
        raise ValueError(f"storage {_mask(storage)!r}: {exc}") from None
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConnectionError(f"Cannot connect to the Optuna storage {_mask(storage)!r}: "
                              f"{reason}") from None
    finally:
        engine.dispose()


def _heartbeat_options(interval):
    """RDBStorage keywords: heartbeats every ``interval`` s, a trial whose worker has been
    silent for ``2 * interval`` s is failed and retried once (Optuna 4.9 renamed the
    callback keyword; both names are handled)."""
    storages = optuna.storages
    retry = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)
    keyword = "heartbeat_stale_trial_callback"
    if retry is None or keyword not in inspect.signature(storages.RDBStorage).parameters:
        retry, keyword = storages.RetryFailedTrialCallback, "failed_trial_callback"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        callback = retry(max_retry=1)
    return {"heartbeat_interval": interval, "grace_period": 2 * interval, keyword: callback}


def _rdb_storage(storage, options):
    """``RDBStorage(storage, **options)``; workers starting together on an empty database
    may race to create Optuna's tables, so a failed creation is retried."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(storage, **options)
        except (IntegrityError, ProgrammingError):
            if attempt == 2:
                raise
            time.sleep(0.5 * (attempt + 1))


# ---------------------------------------------------------------------- sampling
class _TrialSeededTPE(optuna.samplers.BaseSampler):
    """TPE whose random draws for trial ``n`` come from a generator seeded by
    ``(seed, n)``: a run is reproducible, and a resumed study or a second worker with the
    same seed does not repeat the draws of trials already taken (trial numbers are
    unique in a study). ``seed=None`` draws fresh entropy."""

    def __init__(self, seed=None):
        self.seed = seed
        self._by_trial = {}

    def _tpe(self, trial):
        sampler = self._by_trial.get(trial.number)
        if sampler is None:
            seed = None if self.seed is None else int(
                np.random.SeedSequence([self.seed, trial.number]).generate_state(1)[0])
            sampler = self._by_trial[trial.number] = optuna.samplers.TPESampler(seed=seed)
        return sampler

    def infer_relative_search_space(self, study, trial):
        return self._tpe(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._tpe(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._tpe(trial).sample_independent(study, trial, param_name,
                                                   param_distribution)

    def before_trial(self, study, trial):
        self._tpe(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self._tpe(trial).after_trial(study, trial, state, values)
        self._by_trial.pop(trial.number, None)

    def reseed_rng(self):
        """Nothing to do: each trial's draws are seeded by its number."""


# ---------------------------------------------------------------------- tune
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
    objective = _Objective(estimator, X, y, _check_search_space(estimator, search_space, X, y),
                           _check_cv(cv, estimator, X, y), _check_scoring(estimator, scoring),
                           pruning=pruning is not False)
    pruner = _make_pruner(pruning)
    study = _create_study(_open_storage(storage, heartbeat_interval), study_name, seed, pruner)
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
    labels = split_joint_target(y)[0] if getattr(estimator, "_task", None) == "joint" else y
    splitter = check_cv(cv, labels, classifier=is_classifier(estimator))
    return list(splitter.split(X, labels))


def _check_scoring(estimator, scoring):
    if isinstance(scoring, dict | list | tuple | set):
        raise ValueError("tune maximises one score: pass one scorer name or callable as "
                         "scoring, not several.")
    return check_scoring(estimator, scoring)


def _create_study(storage, study_name, seed, pruner):
    study = optuna.create_study(storage=storage, sampler=_TrialSeededTPE(seed), pruner=pruner,
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
        with _reporting(_Fold(trial, estimator, train, valid, self.scorer, index)):
            estimator.fit(*train)
        return float(self.scorer(estimator, *valid))
