"""``Layout``: where the classes and the regression targets live on the hypersphere.

Placement produces a layout; the loss reads it (never re-deriving how it was placed);
a dynamic assignment changes it through :meth:`Layout.reassign` only; the fitted
estimator exposes it as ``layout_``. Bottom layer: numpy only.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["Layout"]


def _frozen(array, name, n_dims):
    if array is None:
        return None
    out = np.array(array, dtype=np.float64)
    if out.ndim != 2 or out.shape[1] != n_dims or len(out) == 0:
        raise ValueError(f"Layout {name} must be a non-empty (n, {n_dims}) array, got shape "
                         f"{out.shape}.")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"Layout {name} contain NaN or inf.")
    out.flags.writeable = False
    return out


class Layout:
    """The output space of a fitted model: class prototypes and regression poles.

    Parameters
    ----------
    n_dims : int
        Dimension D of the output space.
    prototypes : array-like of shape (n_classes, n_dims), default=None
        Unit class prototypes as placed (row i for class i), None without classes.
    poles : array-like of shape (n_targets, n_dims), default=None
        Upper regression poles (the lower poles are their negatives), None without
        regression targets.
    strategy : str, default=None
        The strategy that really placed the prototypes (``"simplex"`` where ``"auto"``
        chose the simplex, ...).
    neighbour_angle : float, default=None
        The angle (radians) between a prototype and its nearest neighbours when the
        placement is a polytope with equal neighbour angles (simplex, orthoplex, cube),
        else None; e.g. ArcFace's ``margin="auto"`` (seed 004).
    assignment : array-like of shape (n_classes,), default=None
        Class c uses placed prototype ``assignment[c]`` (a permutation); None is the
        identity. Change it with :meth:`reassign`.

    Attributes
    ----------
    prototypes : ndarray of shape (n_classes, n_dims) or None
        The prototypes in use, ``placed_prototypes[assignment]``.
    placed_prototypes, poles : ndarray or None (read-only)
    n_classes, n_targets : int

    Examples
    --------
    >>> import numpy as np
    >>> from hsproto import Layout
    >>> layout = Layout(2, prototypes=np.eye(2), strategy="one_hot")
    >>> layout.reassign([1, 0]).prototypes
    array([[0., 1.],
           [1., 0.]])
    """

    def __init__(self, n_dims, *, prototypes=None, poles=None, strategy=None,
                 neighbour_angle=None, assignment=None):
        if isinstance(n_dims, bool) or not isinstance(n_dims, numbers.Integral) or n_dims < 1:
            raise ValueError(f"Layout n_dims must be an integer >= 1, got {n_dims!r}.")
        self.n_dims = int(n_dims)
        self.placed_prototypes = _frozen(prototypes, "prototypes", self.n_dims)
        self.poles = _frozen(poles, "poles", self.n_dims)
        if self.placed_prototypes is None and self.poles is None:
            raise ValueError("A Layout needs class prototypes, regression poles or both.")
        self.strategy = strategy
        self.neighbour_angle = None if neighbour_angle is None else float(neighbour_angle)
        self.assignment = self._check_assignment(assignment)

    @property
    def n_classes(self):
        return 0 if self.placed_prototypes is None else len(self.placed_prototypes)

    @property
    def n_targets(self):
        return 0 if self.poles is None else len(self.poles)

    @property
    def prototypes(self):
        if self.placed_prototypes is None or self.assignment is None:
            return self.placed_prototypes
        out = self.placed_prototypes[self.assignment]
        out.flags.writeable = False
        return out

    def _check_assignment(self, assignment):
        if assignment is None:
            return None
        out = np.asarray(assignment)
        k = self.n_classes
        if out.shape != (k,) or not np.issubdtype(out.dtype, np.integer) \
                or not np.array_equal(np.sort(out), np.arange(k)):
            raise ValueError(f"A Layout assignment must be a permutation of 0..{k - 1}, got "
                             f"{assignment!r}.")
        out = out.astype(np.int64)
        out.flags.writeable = False
        return out

    def reassign(self, assignment):
        """A new layout in which class c uses placed prototype ``assignment[c]``
        (seed 001's dynamic assignment). The placement itself is unchanged."""
        if self.placed_prototypes is None:
            raise ValueError("This Layout has no class prototypes to reassign.")
        return Layout(self.n_dims, prototypes=self.placed_prototypes, poles=self.poles,
                      strategy=self.strategy, neighbour_angle=self.neighbour_angle,
                      assignment=assignment)

    def __repr__(self):
        parts = [f"n_dims={self.n_dims}", f"n_classes={self.n_classes}",
                 f"n_targets={self.n_targets}", f"strategy={self.strategy!r}"]
        if self.neighbour_angle is not None:
            parts.append(f"neighbour_angle={self.neighbour_angle:.4f}")
        if self.assignment is not None:
            parts.append("reassigned")
        return f"Layout({', '.join(parts)})"
