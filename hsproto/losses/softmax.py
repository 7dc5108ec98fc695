"""``softmax``: the STANDARD baseline, a learnable linear classifier with cross-entropy."""

from __future__ import annotations

from torch import nn

from ._base import PrototypeLoss, soft_cross_entropy, unit

__all__ = ["SoftmaxLoss"]


class SoftmaxLoss(PrototypeLoss):
    """Cross-entropy over ``W z + b`` with a learned ``W`` (K, D) and bias: the usual
    softmax classifier on the raw network output, so that every comparison with the
    prototype losses runs inside hsproto with the same backbone and training. The fixed
    prototypes are not used (nor kept); ``prototypes_`` becomes the learned directions
    ``W / ||W||``.

    Parameters
    ----------
    bias : bool, default=True
    """

    tasks = ("classification",)
    fixed_prototypes = False
    logit_adjustable = True

    def __init__(self, layout, *, bias=True):
        super().__init__(layout)
        n_classes, n_dims = self.prototypes.shape
        self.classifier = nn.Linear(n_dims, n_classes, bias=bias)
        # the placed prototypes are not used: no (K, D) buffer beside the weights
        self.prototypes = None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # model files written before the buffer was dropped still hold it
        state_dict.pop(prefix + "prototypes", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def classification(self, z, target):
        return soft_cross_entropy(self.adjusted(self.classifier(z)), target)

    def class_scores(self, z):
        return self.classifier(z)

    def class_logits(self, z):
        return self.classifier(z)

    def class_proba(self, z):
        return self.classifier(z).softmax(dim=1)

    def current_prototypes(self):
        return unit(self.classifier.weight.detach())
