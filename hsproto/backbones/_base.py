"""Backbones: feature extractors; hsproto adds the hypersphere head."""

from __future__ import annotations

import copy
import inspect

import torch
from torch import nn

from .._validation import qualname

__all__ = ["HypersphereHead", "HypersphereNet", "build_backbone", "infer_out_features",
           "plugin_problem"]


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


def build_backbone(module, module_params=None, input_shape=None):
    """The backbone a model trains: a deep copy of a ``module`` instance, or a
    ``module`` class called with ``module_params`` plus ``input_shape`` (the shape of
    one sample) when its constructor takes that argument."""
    params = dict(module_params or {})
    if isinstance(module, nn.Module):
        if params:
            raise ValueError("module_params cannot be used with a module instance.")
        return copy.deepcopy(module)
    if not (inspect.isclass(module) and issubclass(module, nn.Module)):
        raise ValueError(f"module must be a registered backbone name, a torch.nn.Module "
                         f"class or instance, got {module!r}.")
    if "input_shape" in inspect.signature(module).parameters:
        params["input_shape"] = tuple(input_shape)
    try:
        return module(**params)
    except TypeError as exc:
        raise ValueError(f"Cannot build module {module.__name__} with module_params "
                         f"{sorted(params)}: {exc}") from exc


def plugin_problem(obj):
    """Why ``obj`` cannot be registered as a backbone (a message), or None: a backbone
    is a ``torch.nn.Module`` subclass or instance. ``hsproto.testing.check_backbone``
    checks the behaviour."""
    if isinstance(obj, nn.Module) or (inspect.isclass(obj) and issubclass(obj, nn.Module)):
        return None
    return f"{qualname(obj)} is not a torch.nn.Module subclass or instance"
