"""``uniformity``: the Gaussian-potential objective of seed 001 (Eq. 3-5)."""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _solver
from ._base import PrototypeStrategy
from ._params import check_number

__all__ = ["UniformityStrategy"]


class UniformityStrategy(PrototypeStrategy):
    """Prototypes spread uniformly by minimising a Gaussian potential.

    ``L = log((1/c) sum_{i in S} sum_{j != i} exp(-t ||w_i - w_j||^2))`` over a random
    subset S of ``subset_size`` prototypes per step (all of them by default, the paper's
    "batch size equal to the number of classes"), SGD with a constant learning rate,
    re-normalising after each step. Defaults are the paper's: lr 0.1, 1000 steps, t = 2.

    Parameters
    ----------
    steps : int, default=1000
    lr : float, default=0.1
    t : float, default=2.0
    subset_size : int or None, default=None
    momentum : float, default=0.0
    """

    name = "uniformity"
    cacheable = True

    def __init__(self, steps=1000, lr=0.1, t=2.0, subset_size=None, momentum=0.0):
        self.steps = check_number("steps", steps, low=1, integer=True)
        self.lr = check_number("lr", lr, low=0, inclusive_low=False)
        self.t = check_number("t", t, low=0, inclusive_low=False)
        if subset_size is not None:
            check_number("subset_size", subset_size, low=1, integer=True)
        self.subset_size = subset_size
        self.momentum = check_number("momentum", momentum, low=0, high=1)

    def _generate(self, n_classes, n_dims, seed):
        dtype = torch.float64 if n_classes * n_classes * n_dims <= 2e7 else torch.float32
        x = _solver.random_sphere(1, n_classes, n_dims, seed, dtype)
        size = min(self.subset_size or n_classes, n_classes)
        rng = np.random.default_rng(seed)

        def grad(x, step):
            rows = (torch.arange(n_classes) if size == n_classes
                    else torch.from_numpy(rng.choice(n_classes, size, replace=False)))
            return potential_grad(x[0], rows, self.t).unsqueeze(0)

        with torch.no_grad():
            x = _solver.descend(x, grad, steps=self.steps, lr=self.lr, method="sgd",
                                momentum=self.momentum, lr_final=1.0, tangent=False)
        return x[0].double().numpy()


def potential_grad(x, rows, t):
    """Gradient of ``log(mean_i sum_j exp(-t ||x_i - x_j||^2))`` for i in ``rows``."""
    sub = x[rows]
    # ||u - v||^2 = 2 - 2 u.v on the sphere
    logits = -t * (2.0 - 2.0 * (sub @ x.T))
    logits[torch.arange(len(rows)), rows] = -math.inf
    w = torch.softmax(logits.flatten(), 0).view_as(logits)   # d L / d (u.v) = 2 t w
    grad = torch.zeros_like(x)
    grad.index_add_(0, rows, 2.0 * t * (w @ x))
    grad += 2.0 * t * (w.T @ sub)
    return grad
