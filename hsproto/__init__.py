"""hsproto: hyperspherical prototype learning for scikit-learn.

The public names below are imported on first use (PEP 562): ``import hsproto`` reads no
torch, skorch or scikit-learn, so the command line and prototype-only scripts start fast.
``from hsproto import HypersphericalClassifier`` and ``hsproto.HypersphericalClassifier``
work as usual; the first access imports the submodule that defines the name.
"""

from __future__ import annotations

from importlib import import_module as _import_module
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:  # what static analysers and IDEs see; never runs
    from ._config import config_context, get_config, set_config
    from ._layout import Layout
    from .estimators import (
        HypersphericalClassifier,
        HypersphericalRegressor,
        JointEstimator,
        joint_scorers,
    )
    from .persistence import load
    from .prototypes import (
        PrototypeStrategy,
        joint_layout,
        known_limit,
        make_layout,
        make_prototypes,
        pairwise_cosine_stats,
        regression_poles,
    )
    from .registry import PluginError, PluginWarning, list_plugins, register, unregister

#: Public name -> the submodule (relative to this package) that defines it. Keep in step
#: with the ``TYPE_CHECKING`` block above and ``__all__`` (tests/test_lazy_imports.py
#: checks that all three agree).
_LAZY = {
    "config_context": "_config",
    "get_config": "_config",
    "set_config": "_config",
    "Layout": "_layout",
    "HypersphericalClassifier": "estimators",
    "HypersphericalRegressor": "estimators",
    "JointEstimator": "estimators",
    "joint_scorers": "estimators",
    "load": "persistence",
    "PrototypeStrategy": "prototypes",
    "joint_layout": "prototypes",
    "known_limit": "prototypes",
    "make_layout": "prototypes",
    "make_prototypes": "prototypes",
    "pairwise_cosine_stats": "prototypes",
    "regression_poles": "prototypes",
    "PluginError": "registry",
    "PluginWarning": "registry",
    "list_plugins": "registry",
    "register": "registry",
    "unregister": "registry",
}

__all__ = [
    "HypersphericalClassifier",
    "HypersphericalRegressor",
    "JointEstimator",
    "Layout",
    "PluginError",
    "PluginWarning",
    "PrototypeStrategy",
    "__version__",
    "config_context",
    "get_config",
    "joint_layout",
    "joint_scorers",
    "known_limit",
    "list_plugins",
    "load",
    "make_layout",
    "make_prototypes",
    "pairwise_cosine_stats",
    "register",
    "regression_poles",
    "set_config",
    "unregister",
]


def __getattr__(name: str):
    """Import the submodule that defines the public ``name`` and return the object.

    Parameters
    ----------
    name : str
        An attribute of the package that is not set yet.

    Returns
    -------
    object
        The object, also stored in the package namespace so that later lookups skip
        this function.

    Raises
    ------
    AttributeError
        ``name`` is not one of hsproto's lazily imported public names.
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The package's attributes, including the public names not imported yet."""
    return sorted(set(globals()) | set(__all__))
