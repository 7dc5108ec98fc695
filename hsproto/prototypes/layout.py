"""Output-space layouts for regression and joint regression + classification (HPN §1)."""

from __future__ import annotations

import numpy as np

from ._base import check_sizes

__all__ = ["joint_layout", "regression_poles"]


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


def joint_layout(n_classes, n_dims, *, n_targets=1, strategy="auto", random_state=None,
                 **kwargs):
    """Regression poles on the first axes and class prototypes in their complement.

    Returns
    -------
    poles : ndarray of shape (n_targets, n_dims)
        Upper poles ``e_1 .. e_T``; the lower poles are their negatives.
    prototypes : ndarray of shape (n_classes, n_dims)
        Class prototypes placed by ``strategy`` in the ``n_dims - n_targets`` axes
        orthogonal to every pole, so class and regression similarities are independent
        (the rotated-digits layout of HPN: classes in the xy-plane, rotation along z).
    """
    from ._api import make_prototypes

    n_targets = _check_targets(n_targets)
    n_classes, n_dims = check_sizes(n_classes, n_dims)
    rest = n_dims - n_targets
    if rest < 1 or (rest == 1 and n_classes > 2):
        need = n_targets + (1 if n_classes <= 2 else 2)
        raise ValueError(f"n_dims={n_dims} is too small for {n_targets} regression "
                         f"target(s) and {n_classes} classes: the class prototypes live "
                         f"in the n_dims - n_targets = {rest} remaining axes; use "
                         f"n_dims >= {need}.")
    classes = make_prototypes(strategy, n_classes, rest, random_state=random_state,
                              **kwargs)
    poles = regression_poles(n_targets, n_dims)
    prototypes = np.zeros((n_classes, n_dims))
    prototypes[:, n_targets:] = classes
    return poles, prototypes


def _check_targets(n_targets):
    if isinstance(n_targets, bool) or not isinstance(n_targets, (int, np.integer)):
        raise TypeError(f"n_targets must be an integer, got {n_targets!r}.")
    if n_targets < 1:
        raise ValueError(f"n_targets must be >= 1, got {n_targets}.")
    return int(n_targets)
