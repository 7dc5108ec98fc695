"""``torchvision``: any torchvision classification model, without its classifier."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

__all__ = ["TorchvisionBackbone"]

_RESNET_FAMILY = ("resnet", "resnext", "wide_resnet")
_AUX_HEADS = ("AuxLogits", "aux1", "aux2")  # inception_v3, googlenet
_FILE_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".tar", ".safetensors"}
_SHOWN = 5  # keys, names or suggestions quoted in an error message
_LIST_HINT = "torchvision.models.list_models(module=torchvision.models)"


class TorchvisionBackbone(nn.Module):
    """A torchvision classification model whose classifier (its last ``nn.Linear``) is
    replaced by the identity, for ``(n_samples, C, H, W)`` images; hsproto adds the
    hypersphere head.

    Parameters
    ----------
    input_shape : tuple
        ``(C, H, W)``, given by the estimator. When ``C != 3`` the first convolution is
        rebuilt for ``C`` channels from the 3-channel one (random or pretrained): for one
        channel the sum of its RGB filters, otherwise their mean repeated ``C`` times and
        scaled by ``3 / C``, so that a grey image gives the same response as its RGB copy.
    arch : str, default="resnet18"
        A name from ``torchvision.models.list_models(module=torchvision.models)`` (the
        classification models). Models without a linear classifier (``squeezenet*``) are
        rejected. The aux heads of ``googlenet`` and ``inception_v3`` are removed.
        Some models need large images (``inception_v3``: at least 75x75; ``vit_*``:
        exactly 224x224).
    weights : None, str or path-like, default=None
        None: random initialisation. A torchvision weights name of ``arch`` (``"DEFAULT"``,
        ``"IMAGENET1K_V1"`` or ``"ResNet18_Weights.IMAGENET1K_V1"``, see
        ``torchvision.models.get_model_weights(arch)``): torchvision's own loader, which
        reads the torch hub cache (``torch.hub.get_dir()``) and **downloads the file when
        it is not there**. Otherwise a local file written by
        ``torch.save(model.state_dict(), path)`` for the unmodified torchvision model of
        ``arch`` (any number of classes: the classifier's entries are ignored), read with
        ``torch.load(path, map_location="cpu", weights_only=True)``; nothing is
        downloaded. The weights are loaded before ``small_input`` and ``C != 3`` change
        the first layers.
    freeze : bool, default=False
        Train nothing of the torchvision model: its parameters get
        ``requires_grad=False`` and it stays in eval mode when ``train()`` is called, so
        its batch-norm statistics do not change either (a linear probe). hsproto's
        hypersphere head, added outside this module, still trains.
    small_input : bool, default=False
        ResNet family only (``resnet*``, ``resnext*``, ``wide_resnet*``): replace the
        ImageNet stem (7x7 stride-2 convolution, then max-pool) by a randomly initialised
        3x3 stride-1 convolution, as usual for 32x32 images. Not with ``freeze=True``.

    Attributes
    ----------
    trunk : torch.nn.Module
        The torchvision model with its classifier replaced by ``nn.Identity``; its
        parameter names start with ``"trunk."``, e.g. for a learning rate of its own.
    n_features : int
        Number of output features (the removed classifier's ``in_features``).
    """

    example_input_shape = (3, 32, 32)  # used by hsproto.testing.check_backbone
    _display_name = "torchvision"      # the registered name, for error messages

    def __init__(self, input_shape, arch="resnet18", weights=None, freeze=False,
                 small_input=False):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"The {self._display_name!r} backbone expects images: 4-d X "
                             f"(n_samples, channels, height, width); got samples of shape "
                             f"{tuple(input_shape)}.")
        import torchvision.models as tvm

        _check_arch(tvm, arch)
        if small_input and not arch.startswith(_RESNET_FAMILY):
            raise ValueError(f"small_input=True is only for the ResNet family "
                             f"(resnet*, resnext*, wide_resnet*), not arch={arch!r}.")
        if small_input and freeze:
            raise ValueError("freeze=True with small_input=True would freeze the new, "
                             "randomly initialised stem; train it (freeze=False, perhaps "
                             "with a small backbone_lr) or keep the ImageNet stem.")
        kind, resolved = _resolve_weights(tvm, arch, weights)
        state = _read_state_dict(resolved) if kind == "file" else None
        if kind == "name":
            model = tvm.get_model(arch, weights=resolved, progress=False)
        else:
            model = tvm.get_model(arch, weights=None)
        if getattr(model, "aux_logits", False):
            model.aux_logits = False
            for name in _AUX_HEADS:
                if hasattr(model, name):
                    setattr(model, name, None)
        n_classes = len(resolved.meta.get("categories") or ()) if kind == "name" else 0
        n_classes = n_classes or 1000  # torchvision's default
        head_name, head = _classifier(model, arch, n_classes)
        if state is not None:
            _load(model, state, arch, head_name, resolved)
        channels = int(input_shape[0])
        if small_input:
            stem = model.conv1
            model.conv1 = nn.Conv2d(channels, stem.out_channels, 3, padding=1, bias=False)
            nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
            model.maxpool = nn.Identity()
        elif channels != 3:
            _adapt_first_conv(model, channels, arch)
            if getattr(model, "transform_input", False):  # an RGB renormalisation
                model.transform_input = False
        _set_submodule(model, head_name, nn.Identity())
        self.trunk = model
        self.arch, self.weights, self.freeze = arch, weights, bool(freeze)
        self.small_input, self.n_features = bool(small_input), head.in_features
        if self.freeze:
            self.trunk.requires_grad_(False)
            self.trunk.eval()

    def train(self, mode=True):
        """Set train or eval mode; with ``freeze=True`` the trunk stays in eval mode."""
        super().train(mode)
        if self.freeze:
            self.trunk.eval()
        return self

    def forward(self, x):
        return self.trunk(x)


def _check_arch(tvm, arch):
    names = tvm.list_models(module=tvm)
    if isinstance(arch, str) and arch in names:
        return
    close = difflib.get_close_matches(str(arch), names, n=_SHOWN, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"Unknown torchvision classification model arch={arch!r}.{hint} The "
                     f"full list: {_LIST_HINT}.")


def _resolve_weights(tvm, arch, weights):
    """``("none", None)``, ``("name", weights enum member)`` or ``("file", Path)``."""
    if weights is None:
        return "none", None
    if isinstance(weights, os.PathLike):
        return "file", _existing_file(weights, arch)
    if not isinstance(weights, str):
        raise ValueError(f"weights must be None, a torchvision weights name or the path of "
                         f"a state-dict file, got {type(weights).__name__}.")
    try:
        enum = tvm.get_model_weights(arch)
    except Exception:  # a model without published weights
        enum, members = None, []
    else:
        members = list(enum.__members__)
        name = weights.removeprefix(f"{enum.__name__}.")
        if name in members:
            return "name", enum[name]
    path = Path(weights)
    if path.is_file() or os.sep in weights or "/" in weights or path.suffix in _FILE_SUFFIXES:
        return "file", _existing_file(path, arch)
    valid = ", ".join(map(repr, members)) if members else "none"
    prefix = f" (optionally prefixed by '{enum.__name__}.')" if enum is not None else ""
    raise ValueError(f"Unknown weights={weights!r} for arch={arch!r}: not a torchvision "
                     f"weights name, nor an existing file. Valid names: {valid}{prefix}; or "
                     f"the path of a file saved with torch.save(model.state_dict(), path).")


def _existing_file(path, arch):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No weights file {str(path)!r} (arch={arch!r}): weights "
                                f"must be a torchvision weights name or the path of a "
                                f"state-dict file saved with torch.save(model.state_dict(), "
                                f"path).")
    return path


def _read_state_dict(path):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"Cannot read the weights file {str(path)!r} as a state dict "
                         f"({type(exc).__name__}: {str(exc).strip()[:300]}). weights must be a "
                         f"torchvision weights name or a file saved with "
                         f"torch.save(model.state_dict(), path).") from exc
    if not (isinstance(state, Mapping) and state and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        raise ValueError(f"The weights file {str(path)!r} does not hold a state dict (a "
                         f"mapping of parameter names to tensors); save it with "
                         f"torch.save(model.state_dict(), path).")
    if all(k.startswith("module.") for k in state):  # saved from nn.DataParallel
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return dict(state)


def _classifier(model, arch, n_classes):
    """``(name, module)`` of the last ``nn.Linear``, checked to give the class scores
    (torchvision registers every classifier last)."""
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears or linears[-1][1].out_features != n_classes:
        raise ValueError(f"arch={arch!r} has no nn.Linear classifier (its output layer is "
                         f"not a Linear), so the 'torchvision' backbone cannot remove it; "
                         f"use a model from {_LIST_HINT} with a linear classifier, or pass "
                         f"your own nn.Module as the estimator's module.")
    return linears[-1]


def _load(model, state, arch, head_name, path):
    skip = tuple(f"{p}." for p in (head_name, *_AUX_HEADS))
    state = {k: v for k, v in state.items() if not k.startswith(skip)}
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(skip)}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state and state[k].shape != v.shape]
    problems = [f"{what} {', '.join(keys[:_SHOWN])}{' ...' if len(keys) > _SHOWN else ''}"
                for what, keys in (("missing keys:", missing), ("unexpected keys:", unexpected),
                                   ("shape mismatches (file vs model):", shapes)) if keys]
    if problems:
        raise ValueError(f"The weights file {str(path)!r} does not fit torchvision's "
                         f"arch={arch!r} ({'; '.join(problems)}). Save the unmodified "
                         f"torchvision model with torch.save(model.state_dict(), path).")
    model.load_state_dict(state, strict=False)


def _adapt_first_conv(model, channels, arch):
    name, conv = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)),
                      (None, None))
    if conv is None or conv.groups != 1:
        raise ValueError(f"Cannot adapt arch={arch!r} to {channels} input channels: no "
                         f"ungrouped first nn.Conv2d found.")
    new = nn.Conv2d(channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                    padding=conv.padding, dilation=conv.dilation, bias=conv.bias is not None,
                    padding_mode=conv.padding_mode)
    with torch.no_grad():
        rgb = conv.weight.mean(dim=1, keepdim=True)
        new.weight.copy_(rgb.repeat(1, channels, 1, 1) * (3 / channels))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    _set_submodule(model, name, new)


def _set_submodule(model, name, module):
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)
