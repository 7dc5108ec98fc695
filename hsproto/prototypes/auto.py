"""``auto``: the best known placement for (K, D)."""

from __future__ import annotations

import warnings

import numpy as np

from ._base import PrototypeStrategy
from .codes import GoldStrategy, gold_degree
from .metrics import pairwise_cosine_stats
from .polytopes import OrthoplexStrategy, PolygonStrategy, SimplexStrategy
from .separation import SeparationStrategy

__all__ = ["AutoStrategy", "choose"]


def choose(n_classes, n_dims):
    """The name of the placement ``auto`` uses for ``(n_classes, n_dims)``.

    - ``K <= D + 1``: the regular simplex, optimal (max cos ``-1/(K-1)``);
    - ``D == 2``: the regular polygon, optimal (max cos ``cos(2 pi / K)``);
    - ``K <= 2 D``: the orthoplex, optimal (max cos 0, Rankin's bound);
    - above 16 384 classes, where the optimiser's cost (O(K^2 D) per neighbour refresh)
      grows out of reach: the Gold code (``gold``) where one fits, for (100 000, 512)
      a largest cosine of 0.061 in seconds;
    - otherwise: ``separation`` (optimised; no closed form is known). ``auto`` then
      keeps whichever of the optimised placement and the candidates below separates
      the classes better (exact largest cosines): in three dimensions the Fibonacci
      lattice (``separation`` wins up to K = 1000 at least: smallest angle 6.04°
      against 5.60° there; at K = 5000 its neighbour-list mode left two prototypes
      0.043° apart against the lattice's 2.51°); above 2 D classes the Gold code where
      one fits (the optimiser wins at 4 000 x 512, 0.057 against 0.061, and 5 000 x
      256, 0.108 against 0.118; the code at 10 000 x 512, 0.061 against 0.090).
    """
    if n_classes <= n_dims + 1:
        return "simplex"
    if n_dims == 2:
        return "polygon"
    if n_classes <= 2 * n_dims:
        return "orthoplex"
    if n_classes > _SEPARATION_MAX_K and gold_degree(n_classes, n_dims) is not None:
        return "gold"
    return "separation"


_CONSTRUCTIONS = {"simplex": SimplexStrategy, "polygon": PolygonStrategy,
                  "orthoplex": OrthoplexStrategy, "gold": GoldStrategy}
#: Above this many classes ``auto`` does not optimise when the Gold code fits.
_SEPARATION_MAX_K = 16384


class AutoStrategy(PrototypeStrategy):
    """Exact where a construction is optimal, optimised (``separation``) otherwise.

    Parameters
    ----------
    **separation_params
        Passed to :class:`SeparationStrategy` when it is used.
    """

    name = "auto"
    cacheable = True

    def __init__(self, **separation_params):
        self.separation_params = separation_params
        self._separation = SeparationStrategy(**separation_params)

    def resolve(self, n_classes, n_dims):
        choice = choose(n_classes, n_dims)
        return _CONSTRUCTIONS[choice]() if choice in _CONSTRUCTIONS else self._separation

    def _generate(self, n_classes, n_dims, seed):
        P = self.resolve(n_classes, n_dims)._generate(n_classes, n_dims, seed)
        if choose(n_classes, n_dims) != "separation":
            return P
        largest = None
        if n_classes * n_classes * n_dims <= _PAIRWISE_LIMIT:
            largest = pairwise_cosine_stats(P)["max"]
            candidates = []
            if n_dims == 3:
                candidates.append(lambda: fibonacci_sphere(n_classes))
            if gold_degree(n_classes, n_dims) is not None:
                candidates.append(lambda: GoldStrategy()._generate(n_classes, n_dims, seed))
            for make in candidates:
                other_P = make()
                other = pairwise_cosine_stats(other_P)["max"]
                if other < largest:
                    P, largest = other_P, other
        if largest is not None and largest > np.cos(np.radians(_TOO_CLOSE_DEGREES)):
            warnings.warn(f"The closest of {n_classes} prototypes in {n_dims} dimensions are "
                          f"{np.degrees(np.arccos(min(largest, 1.0))):.3f} degrees apart: "
                          f"too close to tell their classes apart reliably. Use more "
                          f"dimensions (n_dims).", UserWarning, stacklevel=4)
        return P


#: Below this angle between two prototypes, hsproto warns (cosine above cos(1°)).
_TOO_CLOSE_DEGREES = 1.0
_PAIRWISE_LIMIT = 2e11   # exact largest cosines up to 16 384 x 762 (screened, seconds)


def fibonacci_sphere(n_points):
    """``n_points`` unit vectors of S² on the Fibonacci (golden-angle) lattice."""
    i = np.arange(n_points) + 0.5
    z = 1.0 - 2.0 * i / n_points
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])
