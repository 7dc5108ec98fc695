"""``auto``: the best known placement for (K, D)."""

from __future__ import annotations

from ._base import PrototypeStrategy
from .polytopes import OrthoplexStrategy, PolygonStrategy, SimplexStrategy
from .separation import SeparationStrategy

__all__ = ["AutoStrategy", "choose"]


def choose(n_classes, n_dims):
    """The name of the placement ``auto`` uses for ``(n_classes, n_dims)``.

    - ``K <= D + 1``: the regular simplex, optimal (max cos ``-1/(K-1)``);
    - ``D == 2``: the regular polygon, optimal (max cos ``cos(2 pi / K)``);
    - ``K <= 2 D``: the orthoplex, optimal (max cos 0, Rankin's bound);
    - otherwise: ``separation`` (optimised; no closed form is known).
    """
    if n_classes <= n_dims + 1:
        return "simplex"
    if n_dims == 2:
        return "polygon"
    if n_classes <= 2 * n_dims:
        return "orthoplex"
    return "separation"


_CONSTRUCTIONS = {"simplex": SimplexStrategy, "polygon": PolygonStrategy,
                  "orthoplex": OrthoplexStrategy}


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
        return self.resolve(n_classes, n_dims)._generate(n_classes, n_dims, seed)
