"""Prototype placement on the unit hypersphere."""

from ._api import get_strategy, make_prototypes
from ._base import PrototypeStrategy
from .auto import AutoStrategy
from .codes import GoldStrategy
from .layout import joint_layout, make_layout, regression_poles
from .metrics import known_limit, pairwise_cosine_stats
from .polytopes import (
    CubeStrategy,
    OneHotStrategy,
    OrthoplexStrategy,
    PolygonStrategy,
    SimplexStrategy,
    neighbour_angle,
)
from .privileged import PrivilegedStrategy, triplet_agreement
from .separation import SeparationStrategy
from .simple import EmbeddingStrategy, RandomStrategy
from .uniformity import UniformityStrategy

__all__ = [
    "AutoStrategy",
    "CubeStrategy",
    "EmbeddingStrategy",
    "GoldStrategy",
    "OneHotStrategy",
    "OrthoplexStrategy",
    "PolygonStrategy",
    "PrivilegedStrategy",
    "PrototypeStrategy",
    "RandomStrategy",
    "SeparationStrategy",
    "SimplexStrategy",
    "UniformityStrategy",
    "get_strategy",
    "joint_layout",
    "known_limit",
    "make_layout",
    "make_prototypes",
    "neighbour_angle",
    "pairwise_cosine_stats",
    "regression_poles",
    "triplet_agreement",
]
