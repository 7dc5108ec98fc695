"""The loss contract: a ``torch.nn.Module`` that holds the fixed prototypes as buffers."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["PrototypeLoss", "ScaledSoftmaxLoss", "mixed_prototypes", "soft_cross_entropy",
           "unit"]


class PrototypeLoss(nn.Module):
    """Base class of a prototype loss.

    The estimator builds the loss as ``Loss(prototypes=P, poles=U, strategy=name,
    **loss_params)`` with the fixed class ``prototypes`` (K, D), the regression ``poles``
    (T, D) and the name of the strategy that placed the prototypes. The network's raw
    output ``z`` (n, D) goes to every method; :func:`unit` gives its direction.

    Training, one loss per sample (n,) (the estimator applies sample weights and the mean):

    - ``classification(z, target)``: ``target`` holds class indices (n,) or soft labels
      (n, K) (mixing);
    - ``regression(z, r)``: ``r`` (n, T) are the targets scaled to [-1, 1].

    Inference (defaults suit losses that compare directions with fixed prototypes):

    - ``class_scores(z)`` (n, K): the class scores; ``predict`` is their argmax. Default:
      cosine to each prototype.
    - ``class_proba(z)`` (n, K) or None: class probabilities; None lets the estimator use
      ``softmax(proba_scale * class_scores)``.
    - ``regression_output(z)`` (n, T): the predicted scaled targets. Default: cosine to
      each upper pole.
    - ``concentration(z)`` (n,): a confidence score (default the norm of ``z``).
    - ``current_prototypes()``: the class directions now in use (after a dynamic
      assignment, or learned ones).

    ``set_epoch(epoch)`` is called at the start of every training epoch (e.g. a margin
    warm-up). Fixed tensors are buffers, so ``.to(device)`` and pickling carry them;
    learnable parameters (a temperature, concentrations) are optimised with the network.
    Subclasses set ``tasks`` to the tasks they implement and ``fixed_prototypes = False``
    when the class directions are learned (then no dynamic assignment), and
    ``param_lr_factor`` to train the loss's own parameters at ``lr * param_lr_factor``.
    """

    tasks: tuple = ()
    fixed_prototypes = True
    param_lr_factor = 1.0

    def __init__(self, prototypes=None, poles=None, *, strategy=None):
        super().__init__()
        self.register_buffer("prototypes", _as_buffer(prototypes))
        self.register_buffer("poles", _as_buffer(poles))
        self.strategy = strategy
        self.epoch = 0

    # training
    def classification(self, z, target):
        raise NotImplementedError(f"{type(self).__name__} does not do classification.")

    def regression(self, z, r):
        raise NotImplementedError(f"{type(self).__name__} does not do regression.")

    # inference
    def class_scores(self, z):
        return unit(z) @ self.prototypes.T

    def class_proba(self, z):
        return None

    def regression_output(self, z):
        return unit(z) @ self.poles.T

    def concentration(self, z):
        return z.norm(dim=1)

    def current_prototypes(self):
        return self.prototypes

    def set_epoch(self, epoch):
        self.epoch = int(epoch)


class ScaledSoftmaxLoss(PrototypeLoss):
    """Cross-entropy over ``scale * cos(z, p_k)`` (soft labels allowed), the base of the
    normalised-softmax losses. Subclasses change the logits through :meth:`logits`.

    Parameters
    ----------
    scale : float
        The inverse temperature ``beta`` (its initial value when learned).
    learn_scale : bool
        Learn ``tau = log(beta)`` (unconstrained) with the network (seed 003, App. F).
    param_lr_factor : float
        Learning-rate factor of ``tau``: the paper starts at ``tau = 0`` and trains for
        many thousands of steps; in short fits ``tau`` barely moves at the network's lr
        and the posterior stays far too flat (digits, 100 epochs: ECE 0.16 at factor 1,
        0.013 at 10, see docs/losses.md).
    """

    tasks = ("classification",)

    def __init__(self, prototypes=None, poles=None, *, strategy=None, scale=1.0,
                 learn_scale=True, param_lr_factor=10.0):
        super().__init__(prototypes, poles, strategy=strategy)
        self.param_lr_factor = _check_factor(param_lr_factor)
        if not (isinstance(scale, int | float) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale!r}.")
        log_scale = torch.tensor(float(scale)).log()
        if learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def logits(self, cos, target):
        """Training logits from the cosines (n, K); the target allows a margin."""
        return self.log_scale.exp() * cos

    def classification(self, z, target):
        cos = unit(z) @ self.prototypes.T
        return soft_cross_entropy(self.logits(cos, target), target)

    def class_proba(self, z):
        return torch.softmax(self.log_scale.exp() * self.class_scores(z), dim=1)


def _check_factor(value):
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"param_lr_factor must be a number > 0, got {value!r}.")
    return float(value)


def unit(z, eps=1e-12):
    """Rows of ``z`` scaled to unit norm (a zero row stays zero)."""
    return F.normalize(z, dim=1, eps=eps)


def soft_cross_entropy(logits, target):
    """Per-sample cross-entropy for class indices (n,) or soft labels (n, K)."""
    if target.dim() == 1:
        return F.cross_entropy(logits, target.long(), reduction="none")
    return -(target.to(logits.dtype) * F.log_softmax(logits, dim=1)).sum(dim=1)


def _as_buffer(array):
    if array is None:
        return None
    return torch.as_tensor(array, dtype=torch.float32).clone()


def mixed_prototypes(prototypes, target, eps=1e-6):
    """Target directions: ``p_y`` for hard labels, ``P^T y / ||P^T y||`` for soft ones.

    A mix whose prototypes cancel (antipodal pair mixed 1/2-1/2) has no direction; it
    becomes the zero vector, so its cosine loss is a finite constant with no gradient.
    """
    if target.dim() == 1:
        return prototypes[target.long()]
    mixed = target.to(prototypes.dtype) @ prototypes
    norm = mixed.norm(dim=1, keepdim=True)
    return torch.where(norm > eps, mixed / norm.clamp_min(eps), torch.zeros_like(mixed))
