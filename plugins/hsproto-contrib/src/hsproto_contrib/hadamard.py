"""``hadamard``: prototypes from the rows of a Sylvester Hadamard matrix."""

from __future__ import annotations

import numpy as np
from scipy.linalg import hadamard

from hsproto.prototypes import PrototypeStrategy

__all__ = ["HadamardStrategy"]


class HadamardStrategy(PrototypeStrategy):
    """Rows of the ``n_dims`` x ``n_dims`` Sylvester Hadamard matrix scaled by
    ``1 / sqrt(n_dims)``: mutually orthogonal prototypes whose every coordinate is
    ``+-1/sqrt(n_dims)``, so each class uses every output dimension (Hoffer et al., 2018,
    fix the last layer of a classifier to such a matrix).

    Supports ``n_classes <= n_dims`` with ``n_dims`` a power of two. Deterministic: the
    seed is ignored.

    Parameters
    ----------
    skip_constant : bool, default=True
        Skip the all-ones first row, so that every prototype sums to zero over the
        output dimensions (then ``n_classes <= n_dims - 1``).
    """

    name = "hadamard"

    def __init__(self, skip_constant=True):
        if not isinstance(skip_constant, bool):
            raise ValueError(f"skip_constant must be a bool, got {skip_constant!r}.")
        self.skip_constant = skip_constant

    def _unsupported(self, n_classes, n_dims):
        if n_dims & (n_dims - 1):
            return "the Sylvester construction needs n_dims to be a power of two"
        rows = n_dims - int(self.skip_constant)
        if n_classes > rows:
            return (f"at most {rows} orthogonal rows are available"
                    + (" (skip_constant=True drops the all-ones row)"
                       if self.skip_constant else ""))
        return None

    def _generate(self, n_classes, n_dims, seed):
        start = int(self.skip_constant)
        H = hadamard(n_dims).astype(np.float64)
        return H[start:start + n_classes] / np.sqrt(n_dims)
