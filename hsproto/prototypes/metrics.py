"""Separation statistics of a prototype set and the known limits for (K, D)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TAMMES_D3", "known_limit", "pairwise_cosine_stats"]

#: Best known minimal angles (degrees) of K points on S^2 (Tammes problem).
TAMMES_D3 = {7: 77.8695, 8: 74.8585, 9: 70.5288, 10: 66.1468, 11: 63.4349, 12: 63.4349,
             13: 57.1367, 14: 55.6706, 24: 43.6908}


def pairwise_cosine_stats(prototypes, chunk=2048):
    """Min, mean and max cosine over distinct pairs of rows.

    Returns a dict with keys ``min``, ``mean``, ``max``. Works in chunks, so it is
    usable for large K.
    """
    p = np.asarray(prototypes, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 2:
        raise ValueError(f"prototypes must be a 2-d array with at least 2 rows, got "
                         f"shape {p.shape}.")
    if not np.all(np.isfinite(p)):
        raise ValueError("prototypes contain NaN or inf.")
    norms = np.linalg.norm(p, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("prototypes contain a zero row.")
    p = p / norms
    n = len(p)
    lo, hi, total = math.inf, -math.inf, 0.0
    for start in range(0, n, chunk):
        g = p[start:start + chunk] @ p.T
        rows = np.arange(g.shape[0])
        diag = g[rows, rows + start].copy()
        total += g.sum() - diag.sum()
        g[rows, rows + start] = np.nan
        lo, hi = min(lo, np.nanmin(g)), max(hi, np.nanmax(g))
    return {"min": float(lo), "mean": float(total / (n * (n - 1))), "max": float(hi)}


def known_limit(n_classes, n_dims):
    """The smallest possible maximum pairwise cosine for (K, D), where it is known.

    Returns
    -------
    value : float
        The limit (or, where no optimum is known, the best lower bound known here).
    kind : str
        ``"optimal"`` (proved), ``"best known"`` (Tammes tables) or ``"lower bound"``.
    """
    k, d = int(n_classes), int(n_dims)
    if k < 2 or d < 1:
        raise ValueError(f"need n_classes >= 2 and n_dims >= 1, got ({k}, {d}).")
    if k <= d + 1:
        return -1.0 / (k - 1), "optimal"
    if d == 1:
        return 1.0, "optimal"
    if d == 2:
        return math.cos(2 * math.pi / k), "optimal"
    if k <= 2 * d:
        return 0.0, "optimal"
    if d == 3 and k in TAMMES_D3:
        return math.cos(math.radians(TAMMES_D3[k])), "best known"
    return 0.0, "lower bound"
