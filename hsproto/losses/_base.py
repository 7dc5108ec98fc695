"""The loss contract: a ``torch.nn.Module`` that holds the fixed prototypes as buffers."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PrototypeLoss", "mixed_prototypes"]


class PrototypeLoss(nn.Module):
    """Base class of a prototype loss.

    The estimator builds the loss with the fixed class ``prototypes`` (K, D) and/or the
    regression ``poles`` (T, D) and calls

    - ``classification(z, target)`` with unit embeddings ``z`` (n, D) and ``target``
      either class indices (n,) or soft labels (n, K) (mixing);
    - ``regression(z, r)`` with ``r`` (n, T), the targets scaled to [-1, 1];

    each returning one loss per sample (n,); the estimator applies sample weights and
    the mean. Fixed tensors are buffers, so ``.to(device)`` and pickling carry them;
    learnable parameters (e.g. a temperature) are optimised with the network.
    Subclasses set ``tasks`` to the tasks they implement.
    """

    tasks: tuple = ()

    def __init__(self, prototypes=None, poles=None):
        super().__init__()
        self.register_buffer("prototypes", _as_buffer(prototypes))
        self.register_buffer("poles", _as_buffer(poles))

    def classification(self, z, target):
        raise NotImplementedError(f"{type(self).__name__} does not do classification.")

    def regression(self, z, r):
        raise NotImplementedError(f"{type(self).__name__} does not do regression.")


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
