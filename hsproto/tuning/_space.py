"""Search spaces: the default per estimator, and user spaces checked before any trial."""

from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import is_classifier

from ..estimators import JointEstimator
from ..estimators.joint import split_joint_target

__all__ = ["check_search_space", "default_search_space"]


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
    if isinstance(estimator, JointEstimator):
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


def check_search_space(estimator, search_space, X, y):
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
