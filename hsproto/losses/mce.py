"""``mce``: soft-label cross-entropy over prototype dot products (HMPN Eq. 4)."""

from __future__ import annotations

import torch

from ._base import (
    PrototypeLoss,
    chunked_cross_entropy,
    soft_cross_entropy,
    unit,
)

__all__ = ["MCELoss"]


class MCELoss(PrototypeLoss):
    """``-y^T log softmax(P z_hat)``: cross-entropy whose logits are the cosines to the
    fixed prototypes (no temperature, as in HMPN). Soft labels (mixing) are the target
    distribution directly."""

    tasks = ("classification",)
    logit_adjustable = True

    def target_logit(self, cos_y):
        return cos_y

    def classification(self, z, target):
        if self.chunked_training(target):
            return chunked_cross_entropy(self, unit(z), target, torch.ones((), device=z.device))
        return soft_cross_entropy(self.adjusted(self.cosines(unit(z))), target)
