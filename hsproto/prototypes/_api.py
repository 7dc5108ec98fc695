"""``make_prototypes``: resolve a strategy by name, seed it, cache its result."""

from __future__ import annotations

import copy
import inspect
import warnings

import numpy as np

from .. import registry
from .._config import get_config
from .._random import seed_from
from .._version import __version__
from ._base import PrototypeStrategy, check_sizes

__all__ = ["check_placement", "describe_strategy", "get_strategy", "make_prototypes",
           "seed_from"]

#: Above this many K * K * D multiply-adds the near-duplicate check compares rounded
#: rows instead of every pair (100 000 x 512 would take minutes on 2 cores).
_PAIRWISE_LIMIT = 2e10

GROUP = "hsproto.prototypes"


def get_strategy(strategy, **params) -> PrototypeStrategy:
    """A :class:`PrototypeStrategy` instance from a registered name, class or instance.

    An instance selected by name is labelled with that name in its error messages and
    in the layouts it places, whatever its class's ``name`` attribute says.
    """
    if isinstance(strategy, str):
        registered = registry.get(GROUP, strategy)
        obj = get_strategy(registered, **params)
        obj = copy.copy(obj) if obj is registered else obj    # never relabel the shared one
        obj._selected_as = strategy
        return obj
    if inspect.isclass(strategy):
        if not issubclass(strategy, PrototypeStrategy):
            raise TypeError(f"{strategy.__name__} is not a PrototypeStrategy subclass.")
        try:
            inspect.signature(strategy).bind(**params)
        except TypeError as exc:
            allowed = list(inspect.signature(strategy).parameters)
            raise ValueError(f"Invalid parameters {sorted(params)} for prototype strategy "
                             f"{strategy.name or strategy.__name__!r}; it accepts "
                             f"{allowed or 'none'}.") from exc
        return strategy(**params)
    if isinstance(strategy, PrototypeStrategy):
        if params:
            raise ValueError("Parameters cannot be passed with a strategy instance; set "
                             "them on the instance.")
        return strategy
    raise TypeError(f"strategy must be a registered name, a PrototypeStrategy class or "
                    f"instance, got {strategy!r}.")


def _generate(strategy, n_classes, n_dims, seed, version):
    # ``version`` only keys the cache so that a new release recomputes.
    return strategy.generate(n_classes, n_dims, random_state=seed)


def make_prototypes(strategy, n_classes, n_dims, *, random_state=None, **kwargs):
    """Place ``n_classes`` unit prototypes in ``n_dims`` dimensions.

    Parameters
    ----------
    strategy : str, PrototypeStrategy class or instance
        A registered name (see ``hsproto.list_plugins("prototypes")``), e.g. ``"auto"``,
        ``"separation"``, ``"simplex"``.
    n_classes : int
        Number of prototypes K (>= 2).
    n_dims : int
        Dimension D of the output space (>= 1).
    random_state : None, int, RandomState or Generator
        Seeds stochastic strategies; with an int the result is deterministic.
    **kwargs
        Parameters of the strategy (e.g. ``class_embeddings`` for ``"privileged"``).

    Returns
    -------
    prototypes : ndarray of shape (n_classes, n_dims)
        Float64 array of unit-norm rows; row i is the prototype of class i.

    Notes
    -----
    Results of optimised strategies with a deterministic seed are cached on disk with
    ``joblib.Memory`` in ``hsproto.get_config()["cache_dir"]`` (``None`` turns it off).

    Examples
    --------
    >>> import numpy as np
    >>> from hsproto import make_prototypes
    >>> P = make_prototypes("simplex", 4, 3)
    >>> P.shape
    (4, 3)
    >>> bool(np.allclose(P @ P.T, np.where(np.eye(4) == 1, 1.0, -1 / 3)))
    True
    """
    n_classes, n_dims = check_sizes(n_classes, n_dims)
    obj = get_strategy(strategy, **kwargs)
    obj.check_support(n_classes, n_dims)
    seed = seed_from(random_state)
    cache_dir = get_config()["cache_dir"]
    if obj.cacheable and random_state is not None and cache_dir is not None:
        return _cached(obj, n_classes, n_dims, seed, cache_dir)
    return obj.generate(n_classes, n_dims, random_state=seed)


def _cached(obj, n_classes, n_dims, seed, cache_dir):
    """The placement from the on-disk cache, checked on read: an entry that is not a
    valid placement (tampered or damaged) is recomputed and replaced; a cache directory
    that cannot be created or written is skipped with one warning."""
    import joblib

    args = (obj, n_classes, n_dims, seed, __version__)
    try:
        cached = joblib.Memory(cache_dir, verbose=0).cache(_generate)
        P = cached(*args)
        if _placement_problem(P, n_classes, n_dims) is None:
            return P
        warnings.warn(f"The cached prototypes of {type(obj).__name__} for "
                      f"({n_classes}, {n_dims}) in {cache_dir} are not a valid placement "
                      f"({_placement_problem(P, n_classes, n_dims)}); recomputing them.",
                      UserWarning, stacklevel=3)
        return cached.call(*args)[0]
    except OSError as exc:
        if not _warned_caches.get(cache_dir):
            _warned_caches[cache_dir] = True
            warnings.warn(f"The prototype cache directory {cache_dir} cannot be used "
                          f"({type(exc).__name__}: {exc}); placing prototypes without a "
                          f"cache. Point HSPROTO_CACHE_DIR to a writable directory, or "
                          f"turn the cache off with hsproto.set_config(cache_dir=None).",
                          UserWarning, stacklevel=3)
        return obj.generate(n_classes, n_dims, random_state=seed)


_warned_caches = {}


def describe_strategy(strategy, placer):
    """How an error names a strategy: the registered name with its distribution and
    version, or the class with the distribution that installs its module."""
    if isinstance(strategy, str):
        info = registry.describe(GROUP, strategy)
        return (f"prototype strategy {info.name!r} from distribution "
                f"{info.distribution!r} (version {info.version})")
    cls = type(placer)
    dist, version = registry.distribution_of(cls.__module__)
    where = f" from distribution {dist!r} (version {version})" if dist else ""
    return f"prototype strategy {cls.__module__}.{cls.__qualname__}{where}"


def check_placement(prototypes, n_classes, n_dims, describe):
    """Refuse a degenerate placement before anything trains on it: not a finite
    ``(n_classes, n_dims)`` array, rows that are not unit vectors, or two rows closer
    than cosine ``1 - 1e-6`` (two classes on one prototype can never be told apart).
    ``describe()`` names the strategy in the ``ValueError``."""
    problem = _placement_problem(prototypes, n_classes, n_dims)
    if problem is not None:
        raise ValueError(f"{describe()} returned {problem}; hsproto refuses to train on "
                         f"it. Check the strategy with "
                         f"hsproto.testing.check_prototype_strategy.")


def _placement_problem(prototypes, n_classes, n_dims):
    """What makes ``prototypes`` a degenerate placement, or None."""
    P = np.asarray(prototypes)
    problem = None
    if P.shape != (n_classes, n_dims) or not np.issubdtype(P.dtype, np.floating):
        problem = f"a {P.dtype} array of shape {P.shape}, expected {(n_classes, n_dims)} floats"
    elif not np.all(np.isfinite(P)):
        problem = "non-finite values"
    else:
        norms = np.linalg.norm(P, axis=1)
        if np.abs(norms - 1).max() > 1e-6:
            problem = (f"rows that are not unit vectors (norms from {norms.min():.6g} to "
                       f"{norms.max():.6g})")
        else:
            pair = _duplicate_pair(P)
            if pair is not None:
                problem = (f"near-duplicate prototypes: rows {pair[0]} and {pair[1]} have "
                           f"cosine {pair[2]:.9f}, so their classes cannot be told apart")
    return problem


def _duplicate_pair(P):
    """(i, j, cos) of two rows with cosine >= 1 - 1e-6, or None."""
    k, d = P.shape
    if k * k * d > _PAIRWISE_LIMIT:
        _, first, counts = np.unique(np.round(P, 6), axis=0, return_index=True,
                                     return_counts=True)
        if counts.max() == 1:
            return None
        i = int(first[counts.argmax()])
        j = int(np.flatnonzero(np.all(np.round(P, 6) == np.round(P[i], 6), axis=1))[1])
        return i, j, float(P[i] @ P[j])
    for start in range(0, k, 2048):
        block = P[start:start + 2048] @ P.T
        rows = np.arange(len(block))
        block[rows, rows + start] = -np.inf
        i, j = np.unravel_index(np.argmax(block), block.shape)
        if block[i, j] >= 1 - 1e-6:
            return int(i + start), int(j), float(block[i, j])
    return None
