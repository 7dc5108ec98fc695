"""Backbones: feature extractors; hsproto adds the hypersphere head."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["HypersphereHead", "HypersphereNet"]


class HypersphereHead(nn.Module):
    """Linear map to ``n_dims``. The output is not normalised here: each loss takes the
    direction (and, for ``vmf``, the norm as a concentration); ``transform`` returns
    unit vectors."""

    def __init__(self, in_features, n_dims):
        super().__init__()
        self.linear = nn.Linear(in_features, n_dims)

    def forward(self, x):
        return self.linear(x)


class HypersphereNet(nn.Module):
    """``backbone`` then :class:`HypersphereHead`; extra keyword inputs are ignored
    (the estimator passes sample weights alongside ``X``)."""

    def __init__(self, backbone, in_features, n_dims):
        super().__init__()
        self.backbone = backbone
        self.head = HypersphereHead(in_features, n_dims)

    def forward(self, X, **_):
        return self.head(self.backbone(X))


def infer_out_features(backbone, sample):
    """Run ``backbone`` on a small sample and return its feature count."""
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            out = backbone(sample)
    except Exception as exc:
        raise ValueError(f"The backbone {type(backbone).__name__} failed on input of shape "
                         f"{tuple(sample.shape)}: {type(exc).__name__}: {exc}") from exc
    finally:
        backbone.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"The backbone {type(backbone).__name__} must return a 2-d tensor "
                         f"(n_samples, n_features); got {shape}.")
    return out.shape[1]
