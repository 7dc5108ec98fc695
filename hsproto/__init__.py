"""hsproto: hyperspherical prototype learning for scikit-learn."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hsproto")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from ._config import config_context, get_config, set_config
from .estimators import (
    HypersphericalClassifier,
    HypersphericalRegressor,
    JointEstimator,
    joint_scorers,
)
from .prototypes import (
    PrototypeStrategy,
    joint_layout,
    known_limit,
    make_prototypes,
    pairwise_cosine_stats,
    regression_poles,
)
from .registry import PluginError, list_plugins

__all__ = [
    "HypersphericalClassifier",
    "HypersphericalRegressor",
    "JointEstimator",
    "PluginError",
    "PrototypeStrategy",
    "__version__",
    "config_context",
    "get_config",
    "joint_layout",
    "joint_scorers",
    "known_limit",
    "list_plugins",
    "make_prototypes",
    "pairwise_cosine_stats",
    "regression_poles",
    "set_config",
]
