"""Output-space layouts for regression and joint regression + classification (HPN §1)."""

from __future__ import annotations

import numpy as np

from .._layout import Layout
from ._api import check_placement, describe_strategy, get_strategy, make_prototypes
from ._base import check_sizes

__all__ = ["class_dims", "joint_layout", "make_layout", "regression_poles"]


def regression_poles(n_targets, n_dims):
    """Upper poles ``p_u`` of each target, shape (n_targets, n_dims).

    Target t interpolates between ``p_u = e_t`` and the antipodal ``p_l = -e_t`` (HPN
    Eq. 7), each target on its own axis, so targets do not interfere.
    """
    n_targets = _check_targets(n_targets)
    if isinstance(n_dims, bool) or not isinstance(n_dims, (int, np.integer)):
        raise TypeError(f"n_dims must be an integer, got {n_dims!r}.")
    if n_dims < n_targets:
        raise ValueError(f"n_dims={n_dims} is too small for {n_targets} regression "
                         f"targets: each needs its own axis (n_dims >= n_targets).")
    return np.eye(n_targets, int(n_dims))


def make_layout(n_dims, *, n_classes=0, n_targets=0, strategy="auto", random_state=None,
                **params):
    """Place an output space: class prototypes, regression poles or both.

    Regression poles lie on the first ``n_targets`` axes; class prototypes are placed by
    ``strategy`` in the ``n_dims - n_targets`` axes orthogonal to every pole, so class and
    regression similarities are independent (HPN's rotated-digits layout: classes in the
    xy-plane, rotation along z).

    Parameters
    ----------
    n_dims : int
    n_classes : int, default=0
        0 for regression only, else >= 2.
    n_targets : int, default=0
        0 for classification only.
    strategy : str, PrototypeStrategy class or instance, default="auto"
    random_state : None, int, RandomState or Generator
    **params
        Parameters of the strategy.

    Returns
    -------
    Layout
        With the strategy that really placed the classes (``auto`` resolved) and, for a
        polytope, its neighbour angle.

    Examples
    --------
    >>> from hsproto.prototypes import make_layout
    >>> make_layout(9, n_classes=10)
    Layout(n_dims=9, n_classes=10, n_targets=0, strategy='simplex', neighbour_angle=1.6821)
    """
    n_targets = _check_targets(n_targets, allow_zero=True)
    poles = regression_poles(n_targets, n_dims) if n_targets else None
    if not n_classes:
        if poles is None:
            raise ValueError("make_layout needs n_classes >= 2, n_targets >= 1 or both.")
        return Layout(int(n_dims), poles=poles)
    n_classes, n_dims = check_sizes(n_classes, n_dims)
    rest = class_dims(n_classes, n_dims, n_targets)
    placer = get_strategy(strategy, **params)
    placed = make_prototypes(placer, n_classes, rest, random_state=random_state)
    check_placement(placed, n_classes, rest, lambda: describe_strategy(strategy, placer))
    prototypes = np.zeros((n_classes, n_dims))
    prototypes[:, n_targets:] = placed
    used = placer.resolve(n_classes, rest)
    return Layout(n_dims, prototypes=prototypes, poles=poles, strategy=used._label(),
                  neighbour_angle=used.neighbour_angle(n_classes, rest))


def class_dims(n_classes, n_dims, n_targets):
    """The ``n_dims - n_targets`` axes left to the classes beside ``n_targets`` poles;
    a ValueError when they cannot hold ``n_classes`` distinct prototypes."""
    rest = n_dims - n_targets
    if n_targets and (rest < 1 or (rest == 1 and n_classes > 2)):
        need = n_targets + (1 if n_classes <= 2 else 2)
        raise ValueError(f"n_dims={n_dims} is too small for {n_targets} regression "
                         f"target(s) and {n_classes} classes: the class prototypes live "
                         f"in the n_dims - n_targets = {rest} remaining axes; use "
                         f"n_dims >= {need}.")
    return rest


def joint_layout(n_classes, n_dims, *, n_targets=1, strategy="auto", random_state=None,
                 **kwargs):
    """Regression poles on the first axes and class prototypes in their complement.

    Returns
    -------
    poles : ndarray of shape (n_targets, n_dims)
        Upper poles ``e_1 .. e_T``; the lower poles are their negatives.
    prototypes : ndarray of shape (n_classes, n_dims)
        Class prototypes placed by ``strategy`` in the ``n_dims - n_targets`` axes
        orthogonal to every pole (see :func:`make_layout`, which also names the
        strategy that placed them).
    """
    _check_targets(n_targets)
    layout = make_layout(n_dims, n_classes=n_classes, n_targets=n_targets, strategy=strategy,
                         random_state=random_state, **kwargs)
    return np.array(layout.poles), np.array(layout.prototypes)


def _check_targets(n_targets, allow_zero=False):
    if isinstance(n_targets, bool) or not isinstance(n_targets, (int, np.integer)):
        raise TypeError(f"n_targets must be an integer, got {n_targets!r}.")
    if n_targets < (0 if allow_zero else 1):
        raise ValueError(f"n_targets must be >= 1, got {n_targets}.")
    return int(n_targets)
