"""Dynamic label-to-prototype assignment (seed 001) as a skorch callback."""

from __future__ import annotations

import numbers
import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from skorch.callbacks import Callback

from .losses._base import unit

__all__ = ["DynamicAssignment", "assign"]


def assign(class_means, prototypes):
    """The prototype of each class maximising ``sum_c mean_c^T p_A(c)`` (seed 001 Eq. 9).

    Returns ``(assignment (K,), cost)``: class c takes prototype ``assignment[c]``;
    ``cost = -sum_c mean_c^T p_A(c)``. Solved exactly by
    ``scipy.optimize.linear_sum_assignment``.
    """
    cost = -np.asarray(class_means, dtype=np.float64) @ np.asarray(prototypes,
                                                                   dtype=np.float64).T
    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)], float(cost[rows, cols].sum())


class DynamicAssignment(Callback):
    """Re-assign classes to the fixed prototypes during training.

    Keeps a momentum average of each class's unit embeddings over the training batches,
    ``m_c <- momentum m_c + (1 - momentum) mean(z_hat of class c in the batch)``, and every
    ``interval`` epochs solves the linear assignment of classes to prototypes (Hungarian,
    scipy) and writes the permuted prototypes into the loss. Each epoch's history row
    gets ``assignment_cost`` (``-sum_c m_c^T p_A(c)``, the value minimised), the number of
    classes that changed prototype (``assignment_changes``) and the solver time
    (``assignment_time``, seconds). With mixing, the means use the batch's original hard
    labels (skorch hands callbacks the unmixed batch), so a mixed embedding counts for
    sample i's own class.

    Parameters
    ----------
    interval : int, default=1
        Epochs between assignments.
    momentum : float, default=0.9
    """

    def __init__(self, interval=1, momentum=0.9):
        self.interval = interval
        self.momentum = momentum

    def initialize(self):
        if isinstance(self.interval, bool) or not isinstance(self.interval, numbers.Integral) \
                or self.interval < 1:
            raise ValueError(f"assignment interval must be an integer >= 1, got "
                             f"{self.interval!r}.")
        if not (isinstance(self.momentum, numbers.Real) and 0 <= self.momentum < 1):
            raise ValueError(f"assignment momentum must be in [0, 1), got {self.momentum!r}.")
        self.means_ = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        loss = net.criterion_.loss
        self.base_ = loss.prototypes.detach().clone()
        self.assignment_ = np.arange(len(self.base_))
        self.means_ = torch.zeros_like(self.base_)
        self.seen_ = torch.zeros(len(self.base_), dtype=torch.bool, device=self.base_.device)

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if not training or y_pred is None:
            return
        y = batch[1]
        labels = (y.argmax(dim=1) if y.dim() == 2 else y.long()).to(self.means_.device)
        z = unit(y_pred.detach().to(self.means_.dtype))
        classes, inverse = torch.unique(labels, return_inverse=True)   # only these rows
        sums = torch.zeros(len(classes), z.shape[1], dtype=z.dtype, device=z.device)
        sums.index_add_(0, inverse, z)
        batch_mean = sums / torch.bincount(inverse, minlength=len(classes))[:, None]
        keep = torch.where(self.seen_[classes], self.momentum, 0.0)[:, None]
        self.means_[classes] = keep * self.means_[classes] + (1 - keep) * batch_mean
        self.seen_[classes] = True

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.interval:
            return
        start = time.perf_counter()
        new, cost = assign(self.means_.cpu().numpy(), self.base_.cpu().numpy())
        elapsed = time.perf_counter() - start
        net.criterion_.loss.prototypes.copy_(self.base_[torch.as_tensor(new)])
        net.history.record("assignment_cost", cost)
        net.history.record("assignment_changes", int(np.sum(new != self.assignment_)))
        net.history.record("assignment_time", elapsed)
        self.assignment_ = new
