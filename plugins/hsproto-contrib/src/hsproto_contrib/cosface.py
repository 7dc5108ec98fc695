"""``cosface``: softmax over scaled cosines with an additive margin on the target."""

from __future__ import annotations

import torch

from hsproto.losses import ScaledSoftmaxLoss

__all__ = ["CosFaceLoss"]


class CosFaceLoss(ScaledSoftmaxLoss):
    """Large-margin cosine loss (Wang et al., 2018):
    ``-log softmax(s * (cos(z, p_k) - m * y_k))_y``.

    The margin ``m`` is subtracted from the target class's cosine during training only,
    so the network must reach ``cos(z, p_y) > cos(z, p_k) + m``. With soft labels
    (MixUp/CutMix) each class's cosine loses ``m`` times its label weight. Prediction uses
    the plain cosines.

    Parameters
    ----------
    scale : float, default=30.0
        ``s``, fixed unless ``learn_scale=True``.
    margin : float, default=0.35
        ``m`` in ``[0, 1)``.
    learn_scale : bool, default=False
    param_lr_factor : float, default=10.0
        Learning-rate factor of the scale when it is learned.
    """

    def __init__(self, layout, *, scale=30.0, margin=0.35, learn_scale=False,
                 param_lr_factor=10.0):
        super().__init__(layout, scale=scale, learn_scale=learn_scale,
                         param_lr_factor=param_lr_factor)
        if isinstance(margin, bool) or not isinstance(margin, int | float) \
                or not 0 <= margin < 1:
            raise ValueError(f"margin must be a number in [0, 1), got {margin!r}.")
        self.margin = float(margin)

    def logits(self, cos, target):
        if target.dim() == 1:
            weight = torch.nn.functional.one_hot(target.long(), cos.shape[1]).to(cos.dtype)
        else:
            weight = target.to(cos.dtype)
        return self.log_scale.exp() * (cos - self.margin * weight)
