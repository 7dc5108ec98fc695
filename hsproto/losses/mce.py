"""``mce``: soft-label cross-entropy over prototype dot products (HMPN Eq. 4)."""

from __future__ import annotations

from ._base import PrototypeLoss, soft_cross_entropy, unit

__all__ = ["MCELoss"]


class MCELoss(PrototypeLoss):
    """``-y^T log softmax(P z_hat)``: cross-entropy whose logits are the cosines to the
    fixed prototypes (no temperature, as in HMPN). Soft labels (mixing) are the target
    distribution directly."""

    tasks = ("classification",)
    logit_adjustable = True

    def classification(self, z, target):
        return soft_cross_entropy(self.adjusted(unit(z) @ self.prototypes.T), target)
