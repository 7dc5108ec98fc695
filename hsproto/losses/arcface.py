"""``arcface``: additive angular margin on the target class (seeds 003 and 004)."""

from __future__ import annotations

import math

import torch

from ._base import ScaledSoftmaxLoss

__all__ = ["ArcFaceLoss", "arcface_target_logit"]


class ArcFaceLoss(ScaledSoftmaxLoss):
    """Normalised softmax whose target logit is ``scale * psi(theta_y)``,
    ``psi(theta) = cos(theta + m)`` while ``theta + m <= pi`` and
    ``cos(theta) + cos(m) - 1`` beyond (continuous and still decreasing, so the
    gradient does not vanish); the other logits are ``scale * cos(theta_k)``.
    Soft labels (mixing) put the margin on each class in proportion to its weight.

    Parameters
    ----------
    margin : float, "auto" or "polytope", default="auto"
        Angular margin m in radians. "polytope": the layout's ``neighbour_angle`` phi
        when the prototypes are a polytope with one (``simplex``, ``orthoplex``,
        ``cube``: seed 004, derived, not tuned), otherwise 0.5. "auto": 0.5, ArcFace's
        usual value, chosen by the cross-dataset suite (benchmarks/suite.py: mean
        accuracy 0.833 against 0.825 for "polytope", which fails at 20 classes, 0.52
        against 0.69, and on nested shells, 0.52 against 0.72; docs/defaults.md).
    warmup_epochs : int, default=0
        Epochs trained with m = 0 before the margin applies (seed 003).
    scale : float, default=30.0
        Inverse temperature (seed 004 uses a fixed 30).
    learn_scale : bool, default=False
    param_lr_factor : float, default=10.0
        Learning-rate factor of the scale when it is learned.
    min_scale : float, default=1.0
        Lower bound of a learned scale (see :class:`~hsproto.losses.ScaledSoftmaxLoss`).
    """

    def __init__(self, layout, *, margin="auto", warmup_epochs=0, scale=30.0,
                 learn_scale=False, param_lr_factor=10.0, min_scale=1.0):
        super().__init__(layout, scale=scale, learn_scale=learn_scale,
                         param_lr_factor=param_lr_factor, min_scale=min_scale)
        if margin == "polytope":
            margin = 0.5 if layout.neighbour_angle is None else layout.neighbour_angle
        elif margin == "auto":
            margin = 0.5
        if not (isinstance(margin, int | float) and 0 <= margin <= math.pi):
            raise ValueError(f"margin must be 'auto', 'polytope' or an angle in [0, pi] "
                             f"radians, got {margin!r}.")
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) \
                or warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be an integer >= 0, got {warmup_epochs!r}.")
        self.margin = float(margin)
        self.warmup_epochs = warmup_epochs

    def _margin(self):
        return self.margin if self.epoch >= self.warmup_epochs else 0.0

    def target_logit(self, cos_y):
        return self.inverse_temperature() * arcface_target_logit(cos_y, self._margin())

    def logits(self, cos, target):
        margin = self._margin()
        weight = (torch.nn.functional.one_hot(target.long(), cos.shape[1]).to(cos.dtype)
                  if target.dim() == 1 else target.to(cos.dtype))
        shifted = arcface_target_logit(cos, margin)
        return self.inverse_temperature() * (cos + weight * (shifted - cos))


def arcface_target_logit(cos, margin, eps=1e-7):
    """``psi(theta)`` for ``cos = cos(theta)``: ``cos(theta + m)`` up to ``theta = pi - m``,
    then ``cos(theta) + cos(m) - 1``."""
    if margin == 0:
        return cos
    c = cos.clamp(-1.0, 1.0)
    sin = (1.0 - c * c).clamp_min(eps).sqrt()
    inside = c * math.cos(margin) - sin * math.sin(margin)
    beyond = c + math.cos(margin) - 1.0
    return torch.where(c >= math.cos(math.pi - margin), inside, beyond)
