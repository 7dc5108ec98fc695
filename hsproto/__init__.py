"""hsproto: hyperspherical prototype learning for scikit-learn."""

from ._config import config_context, get_config, set_config
from ._layout import Layout
from ._version import __version__
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
