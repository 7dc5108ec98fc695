"""Prototype losses (registered in the ``hsproto.losses`` entry-point group)."""

from ._base import PrototypeLoss, mixed_prototypes
from .hpn import HPNLoss

__all__ = ["HPNLoss", "PrototypeLoss", "mixed_prototypes"]
