"""Separation statistics of a prototype set and the known limits for (K, D)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TAMMES_D3", "known_limit", "pairwise_cosine_stats"]

#: Best known minimal angles (degrees) of K points on S^2 (Tammes problem).
TAMMES_D3 = {7: 77.8695, 8: 74.8585, 9: 70.5288, 10: 66.1468, 11: 63.4349, 12: 63.4349,
             13: 57.1367, 14: 55.6706, 24: 43.6908}


def pairwise_cosine_stats(prototypes, chunk=2048):
    """Min, mean and max cosine over distinct pairs of rows, computed exactly.

    Returns a dict with keys ``min``, ``mean``, ``max``. The mean comes from the sum of
    the rows (``(|sum p|^2 - K) / (K (K - 1))``); the extremes from a chunked pass over
    all pairs, so memory stays O(chunk K). Up to about 10^10 pair-dimension products the
    pass is in float64. Above, a bfloat16 pass screens the rows (its error on a cosine of
    unit rows is at most ``2 u = 2^-7``), and every row that could hold an extreme is
    recomputed against all rows in float64: the result is the float64 value, not an
    estimate. (Where the extremes are attained by nearly every row, as in a Gold code,
    that is a full float64 pass: 100 000 x 512 takes minutes on 2 cores.)
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
    total = p.sum(axis=0)
    mean = (float(total @ total) - float((p * p).sum())) / (n * (n - 1))
    if n * n * p.shape[1] <= _FLOAT64_PASS:
        lo, hi = _extremes(p, np.arange(n), chunk)
    else:
        lo, hi = _screened_extremes(p, chunk)
    return {"min": lo, "mean": mean, "max": hi}


#: Above this many pair-dimension products, a bfloat16 pass screens the rows first.
_FLOAT64_PASS = 1e10
#: Bound on |bf16 cosine - cosine| for unit rows (inputs rounded to 8 significant bits,
#: products accumulated in float32), with room to spare: 2 u (1 + u) + accumulation.
_BF16_ERROR = 2.0 ** -7 + 1e-4


def _extremes(p, rows, chunk):
    """Exact (float64) min and max cosine between ``p[rows]`` and the other rows."""
    lo, hi = math.inf, -math.inf
    for start in range(0, len(rows), chunk):
        idx = rows[start:start + chunk]
        g = p[idx] @ p.T
        g[np.arange(len(idx)), idx] = np.nan
        lo, hi = min(lo, float(np.nanmin(g))), max(hi, float(np.nanmax(g)))
    return lo, hi


def _screened_extremes(p, chunk):
    import torch

    x = torch.from_numpy(p).to(torch.bfloat16)
    n = len(p)
    row_max = torch.empty(n)
    row_min = torch.empty(n)
    for start in range(0, n, chunk):
        g = (x[start:start + chunk] @ x.T).float()
        rows = torch.arange(g.shape[0])
        g[rows, rows + start] = -math.inf
        row_max[start:start + chunk] = g.max(dim=1).values
        g[rows, rows + start] = math.inf
        row_min[start:start + chunk] = g.min(dim=1).values
    # a row whose screened extremes are farther than twice the error bound from the
    # screened global ones cannot hold the exact ones; the candidate rows (one set for
    # both ends) are recomputed in float64 against all rows
    margin = 2 * _BF16_ERROR
    rows = torch.nonzero((row_max >= row_max.max() - margin)
                         | (row_min <= row_min.min() + margin)).flatten().numpy()
    lo, hi = _extremes(p, rows, chunk)
    return lo, hi


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
