"""``make_prototypes``: resolve a strategy by name, seed it, cache its result."""

from __future__ import annotations

import inspect

from .. import registry
from .._config import get_config
from .._random import seed_from
from .._version import __version__
from ._base import PrototypeStrategy, check_sizes

__all__ = ["get_strategy", "make_prototypes", "seed_from"]

GROUP = "hsproto.prototypes"


def get_strategy(strategy, **params) -> PrototypeStrategy:
    """A :class:`PrototypeStrategy` instance from a registered name, class or instance."""
    if isinstance(strategy, str):
        strategy = registry.get(GROUP, strategy)
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
        import joblib

        memory = joblib.Memory(cache_dir, verbose=0)
        return memory.cache(_generate)(obj, n_classes, n_dims, seed, __version__)
    return obj.generate(n_classes, n_dims, random_state=seed)
