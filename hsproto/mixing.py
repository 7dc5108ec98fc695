"""MixUp / CutMix batches into soft targets (HMPN, seed 002), on torchvision's transforms."""

from __future__ import annotations

import numbers

from torchvision.transforms import v2

__all__ = ["MIXING", "Mixer"]

MIXING = (None, "mixup", "cutmix", "both")


class Mixer:
    """Mix a training batch and return soft labels.

    Wraps ``torchvision.transforms.v2.MixUp`` / ``CutMix`` (``"both"``: one of the two
    with probability 1/2 per batch, HMPN's setting). Tabular input (n, F) is mixed by
    MixUp as (n, 1, 1, F); CutMix needs images (n, C, H, W). Sample weights are mixed
    with the same coefficient as the labels, so class weights become ``y_soft^T w``.

    Parameters
    ----------
    kind : {"mixup", "cutmix", "both"}
    alpha : float
        Beta(alpha, alpha) parameter of the mixing coefficient.
    n_classes : int
    n_input_dims : int
        ``X.ndim`` of the training data (2 for tabular, 4 for images).
    """

    def __init__(self, kind, alpha, n_classes, n_input_dims):
        self.check(kind, n_input_dims)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
            raise ValueError(f"mixing_alpha must be a number > 0, got {alpha!r}.")
        self.kind, self.alpha, self.n_classes = kind, float(alpha), int(n_classes)
        mixup = v2.MixUp(alpha=self.alpha, num_classes=self.n_classes)
        cutmix = v2.CutMix(alpha=self.alpha, num_classes=self.n_classes)
        self.transform = {"mixup": mixup, "cutmix": cutmix,
                          "both": v2.RandomChoice([mixup, cutmix])}[kind]

    @staticmethod
    def check(kind, n_input_dims):
        """Raise a ValueError when ``kind`` cannot mix X with ``n_input_dims`` axes."""
        if kind not in MIXING[1:]:
            raise ValueError(f"mixing must be one of {list(MIXING)}, got {kind!r}.")
        if kind in ("cutmix", "both") and n_input_dims != 4:
            raise ValueError(f"mixing={kind!r} uses CutMix, which needs image input of shape "
                             f"(n_samples, channels, height, width); X has {n_input_dims} "
                             f"dimensions. Use mixing='mixup' for tabular data.")
        if n_input_dims not in (2, 4):
            raise ValueError(f"mixing needs X of shape (n, features) or (n, C, H, W); got "
                             f"{n_input_dims} dimensions.")

    def __call__(self, X, y, weight=None):
        """``(X_mixed, soft labels (n, K), mixed weight or None)``; ``y`` class indices."""
        y = y.long()
        shape = X.shape
        X4 = X.reshape(shape[0], 1, 1, -1) if X.dim() == 2 else X
        X4, soft = self.transform(X4, y)
        if weight is not None:
            weight = _mix_like(weight, y, soft)
        return X4.reshape(shape), soft.to(X.dtype), weight


def _mix_like(weight, y, soft):
    """Mix per-sample weights with the labels' coefficient (torchvision pairs sample i
    with sample i-1): ``lam = soft[i, y_i]`` at any i whose partner has another class."""
    partner = y.roll(1, 0)
    differ = (partner != y).nonzero()
    if len(differ) == 0:            # one class in the batch: the weights are alike
        lam = 0.5
    else:
        i = int(differ[0, 0])
        lam = float(soft[i, y[i]])
    return lam * weight + (1.0 - lam) * weight.roll(1, 0)
