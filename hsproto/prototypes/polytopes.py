"""Exact constructions: polygon, simplex ETF, orthoplex, cube and one-hot (seed 004)."""

from __future__ import annotations

import math

import numpy as np

from ._base import PrototypeStrategy

__all__ = [
    "CubeStrategy",
    "OneHotStrategy",
    "OrthoplexStrategy",
    "PolygonStrategy",
    "SimplexStrategy",
    "neighbour_angle",
]


class PolygonStrategy(PrototypeStrategy):
    """K equally spaced points on a great circle (the first two axes).

    Optimal for ``n_dims == 2``: the largest cosine is ``cos(2 pi / K)``.
    """

    name = "polygon"

    def _unsupported(self, n_classes, n_dims):
        return "a polygon needs n_dims >= 2." if n_dims < 2 else None

    def _generate(self, n_classes, n_dims, seed):
        angles = 2 * np.pi * np.arange(n_classes) / n_classes
        out = np.zeros((n_classes, n_dims))
        out[:, 0], out[:, 1] = np.cos(angles), np.sin(angles)
        return out


class SimplexStrategy(PrototypeStrategy):
    """Vertices of the regular simplex (simplex ETF): all pairwise cosines ``-1/(K-1)``.

    Needs ``n_classes <= n_dims + 1``; the vertices span the first ``K - 1`` axes.
    """

    name = "simplex"

    def _unsupported(self, n_classes, n_dims):
        if n_classes > n_dims + 1:
            return f"a simplex has at most n_dims + 1 = {n_dims + 1} vertices."
        return None

    def neighbour_angle(self, n_classes, n_dims):
        return math.acos(-1.0 / (n_classes - 1))

    def _generate(self, n_classes, n_dims, seed):
        centred = np.eye(n_classes) - 1.0 / n_classes
        # An orthonormal basis of the (K-1)-dim subspace orthogonal to the all-ones vector.
        basis = np.linalg.svd(centred)[2][: n_classes - 1].T
        out = np.zeros((n_classes, n_dims))
        out[:, : n_classes - 1] = centred @ basis
        return out


class OrthoplexStrategy(PrototypeStrategy):
    """Vertices ``+e_1, -e_1, +e_2, -e_2, ...`` of the cross-polytope (K <= 2 D).

    Neighbouring vertices are orthogonal: for ``D + 1 < K <= 2 D`` the largest cosine,
    0, is optimal (Rankin).
    """

    name = "orthoplex"

    def _unsupported(self, n_classes, n_dims):
        if n_classes > 2 * n_dims:
            return f"an orthoplex has at most 2 * n_dims = {2 * n_dims} vertices."
        return None

    def neighbour_angle(self, n_classes, n_dims):
        return math.pi / 2 if n_classes > 2 else math.pi

    def _generate(self, n_classes, n_dims, seed):
        out = np.zeros((n_classes, n_dims))
        k = np.arange(n_classes)
        out[k, k // 2] = np.where(k % 2 == 0, 1.0, -1.0)
        return out


class CubeStrategy(PrototypeStrategy):
    """Vertices of the d-cube ``{-1, +1}^d / sqrt(d)`` (seed 004), K <= 2^d.

    ``d = ceil(log2 K)`` (at least 2 when the space allows it) is the smallest cube
    holding K vertices; it spans the first d axes, the rest are zero. Vertex i is the
    binary code of i. Neighbours differ in one sign: cosine ``(d - 2) / d``.
    """

    name = "cube"

    def _unsupported(self, n_classes, n_dims):
        if n_dims < 63 and n_classes > 2**n_dims:
            return f"a cube in {n_dims} dimensions has 2**{n_dims} = {2**n_dims} vertices."
        return None

    @staticmethod
    def cube_dims(n_classes, n_dims):
        return min(n_dims, max(2, math.ceil(math.log2(n_classes))))

    def neighbour_angle(self, n_classes, n_dims):
        d = self.cube_dims(n_classes, n_dims)
        return math.acos((d - 2) / d)

    def _generate(self, n_classes, n_dims, seed):
        d = self.cube_dims(n_classes, n_dims)
        bits = (np.arange(n_classes)[:, None] >> np.arange(d)[None, :]) & 1
        out = np.zeros((n_classes, n_dims))
        out[:, :d] = (2.0 * bits - 1.0) / math.sqrt(d)
        return out


class OneHotStrategy(PrototypeStrategy):
    """Standard basis vectors ``e_1``, ..., ``e_K`` (needs ``n_dims >= n_classes``)."""

    name = "one_hot"

    def _unsupported(self, n_classes, n_dims):
        if n_dims < n_classes:
            return f"one-hot prototypes need n_dims >= n_classes = {n_classes}."
        return None

    def _generate(self, n_classes, n_dims, seed):
        return np.eye(n_classes, n_dims)


def neighbour_angle(strategy, n_classes, n_dims):
    """Angle (radians) between a polytope vertex and its nearest neighbours (seed 004).

    This is the margin the polytope loss of seed 004 derives, not tunes:
    ``arccos(-1/(K-1))`` for the simplex, ``pi/2`` for the orthoplex and
    ``arccos((d-2)/d)`` for the cube. The placement's own angle is in
    ``Layout.neighbour_angle``.
    """
    polytopes = {"simplex": SimplexStrategy, "orthoplex": OrthoplexStrategy,
                 "cube": CubeStrategy}
    if strategy not in polytopes:
        raise ValueError(f"neighbour_angle is defined for 'simplex', 'orthoplex' and 'cube', "
                         f"got {strategy!r}.")
    return polytopes[strategy]().neighbour_angle(n_classes, n_dims)
