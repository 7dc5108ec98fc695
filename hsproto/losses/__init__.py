"""Prototype losses (registered in the ``hsproto.losses`` entry-point group).

The loss modules are imported by the registry when their name is first used.
"""

from ._base import PrototypeLoss, ScaledSoftmaxLoss, mixed_prototypes, soft_cross_entropy, unit

__all__ = ["PrototypeLoss", "ScaledSoftmaxLoss", "mixed_prototypes", "soft_cross_entropy",
           "unit"]
