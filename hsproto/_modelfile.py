"""The model file format (bottom layer: it never imports the estimators).

One ``.safetensors`` file: tensors for the weights and arrays, and in its metadata a
JSON document and the SHA-256 of the document and every tensor. :mod:`hsproto.persistence`
has the user-facing ``save``/``load``; see there.

Model files that are safe to load: a JSON document and safetensors weights in one file.

:func:`save` writes a fitted estimator as one ``.safetensors`` file: the weights and
buffers of the network and the loss as tensors, and in the file's metadata a JSON
document with the parameters, the fitted metadata (classes, sizes, target bounds, the
layout, history, plugins with their distributions and versions, hsproto/torch versions)
and a SHA-256 of the document and every tensor. :func:`load` verifies the digest before
it builds anything, never unpickles, and imports nothing but hsproto, torch's optimisers
and schedulers, and registered plugins. Parameters that cannot be written as data (a
user's own ``nn.Module`` class, a transform, callbacks) are named in the document;
``load(path, module=MyNet, preprocess=...)`` passes them back.

Pickle and joblib keep working for scikit-learn's tools (``GridSearchCV``,
``joblib.Parallel``), but loading a pickle runs whatever code it names: only unpickle
files you made yourself.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os

import numpy as np
import torch

from . import registry
from ._layout import Layout
from ._version import __version__

__all__ = ["decode", "read", "write"]

FORMAT = "hsproto-model"
FORMAT_VERSION = 1
#: Parameters needed to predict: they must be passed to ``load`` when not saveable.
NEEDED = ("module", "loss", "prototypes", "preprocess")
_PLUGIN_GROUPS = {"module": "hsproto.backbones", "loss": "hsproto.losses",
                  "prototypes": "hsproto.prototypes"}
_TORCH_CLASSES = ("torch.optim", "torch.optim.lr_scheduler")
#: Parameters of the running process, not of the model: written as None (their default).
RUNTIME = ("accelerator",)


# ---------------------------------------------------------------------- encoding
class _Encoder:
    """Parameters and fitted attributes -> JSON-able values; arrays go to ``tensors``."""

    def __init__(self):
        self.tensors, self.unsaved = {}, {}

    def value(self, v, where):
        if v is None or isinstance(v, bool | str):
            return v
        if isinstance(v, int | float | np.integer | np.floating | np.bool_):
            return v.item() if isinstance(v, np.generic) else v
        if isinstance(v, tuple):
            return {"__tuple__": [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"__dict__": {k: self.value(x, f"{where}.{k}") for k, x in v.items()}}
        if isinstance(v, np.ndarray | torch.Tensor):
            return self.array(v, where)
        if inspect.isclass(v):
            return {"__class__": f"{v.__module__}:{v.__qualname__}"}
        raise _Unsaveable(f"a {type(v).__module__}.{type(v).__qualname__}")

    def array(self, a, where):
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        if a.dtype.kind in "biuf":
            self.tensors[f"data/{where}"] = torch.from_numpy(np.array(a, order="C"))
            return {"__array__": f"data/{where}"}
        if a.dtype.kind in "UO" and all(isinstance(x, str) for x in a.ravel()):
            return {"__strings__": a.tolist(), "shape": list(a.shape)}
        raise _Unsaveable(f"an array of dtype {a.dtype}")


class _Unsaveable(Exception):
    pass


def decode(v, tensors, allow_class):
    if isinstance(v, list):
        return [decode(x, tensors, allow_class) for x in v]
    if not isinstance(v, dict):
        return v
    if "__tuple__" in v:
        return tuple(decode(x, tensors, allow_class) for x in v["__tuple__"])
    if "__dict__" in v:
        return {k: decode(x, tensors, allow_class) for k, x in v["__dict__"].items()}
    if "__array__" in v:
        return tensors[v["__array__"]].numpy()
    if "__strings__" in v:
        return np.asarray(v["__strings__"], dtype=object).reshape(v["shape"])
    if "__class__" in v:
        return allow_class(v["__class__"])
    raise ValueError(f"Unknown value {v!r} in the model file.")


# ---------------------------------------------------------------------- save
def write(estimator, path):
    """Write a fitted hsproto estimator to ``path`` (one ``.safetensors`` file).

    Parameters
    ----------
    estimator : HypersphericalClassifier, HypersphericalRegressor or JointEstimator
        A fitted estimator.
    path : str or path-like
        The file to write (conventionally ending in ``.safetensors``).

    Returns
    -------
    path : str
    """
    enc = _Encoder()
    params, unsaved = {}, {}
    for name, value in estimator.get_params(deep=False).items():
        if name in RUNTIME:
            params[name] = None
            continue
        if isinstance(value, np.random.RandomState | np.random.Generator):
            unsaved[name] = type(value).__name__
            continue
        try:
            params[name] = enc.value(value, f"params/{name}")
        except _Unsaveable as exc:
            unsaved[name] = str(exc)
    net = estimator.net_
    state = {f"module/{k}": v for k, v in _module(net).state_dict().items()}
    state.update({f"criterion/{k}": v for k, v in net.criterion_.state_dict().items()})
    for key, value in state.items():
        enc.tensors[key] = value.detach().to("cpu").contiguous()
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "estimator": f"{type(estimator).__module__}:{type(estimator).__qualname__}",
        "hsproto": __version__, "torch": torch.__version__,
        "params": params, "unsaved": unsaved,
        "fitted": _fitted(estimator, enc),
        "layout": _layout(estimator.layout_, enc),
        "history": _history(estimator.history_),
        "plugins": estimator.plugins_,
    }
    text = json.dumps(doc, allow_nan=True, sort_keys=True)
    from safetensors.torch import save_file

    path = os.fspath(path)
    save_file(enc.tensors, path, metadata={"hsproto": text,
                                           "sha256": _digest(text, enc.tensors)})
    return path


def _module(net):
    module = net.module_
    return getattr(module, "_orig_mod", module)     # torch.compile'd: the original


def _fitted(est, enc):
    out = {}
    for name in ("classes_", "y_min_", "y_max_", "n_targets_", "_single_output",
                 "n_features_in_", "feature_names_in_", "n_dims_", "_input_ndim",
                 "_input_shape", "proba_scale_"):
        if name in vars(est):
            out[name] = enc.value(getattr(est, name), f"fitted/{name}")
    return out


def _layout(layout, enc):
    return {"n_dims": layout.n_dims,
            "prototypes": enc.value(layout.placed_prototypes, "layout/prototypes"),
            "poles": enc.value(layout.poles, "layout/poles"),
            "strategy": layout.strategy, "neighbour_angle": layout.neighbour_angle,
            "assignment": enc.value(layout.assignment, "layout/assignment")}


def _history(history):
    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, torch.Tensor):
            return v.item() if v.numel() == 1 else v.tolist()
        return v if v is None or isinstance(v, bool | int | float | str) else repr(v)

    return plain(list(history))


def _digest(text, tensors):
    h = hashlib.sha256(text.encode())
    for key in sorted(tensors):
        t = tensors[key]
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()
                 if t.numel() else b"")
    return h.hexdigest()


# ---------------------------------------------------------------------- read
def read(path):
    from safetensors import safe_open

    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file {path!r}.")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise ValueError(f"{path} is not a readable hsproto model file (damaged or not a "
                         f"safetensors file): {type(exc).__name__}: {exc}") from exc
    if "hsproto" not in meta or "sha256" not in meta:
        raise ValueError(f"{path} is a safetensors file but not an hsproto model (no "
                         f"hsproto document in its metadata).")
    if _digest(meta["hsproto"], tensors) != meta["sha256"]:
        raise ValueError(f"{path} failed its integrity check: the SHA-256 of its document "
                         f"and weights does not match the one recorded at save time (the "
                         f"file was modified or damaged). Do not use it.")
    return meta["hsproto"], tensors


def class_for(ref, param):
    """A class named in the file: hsproto's, torch's optimisers/schedulers, or a
    registered plugin's; anything else is refused."""
    module, _, qualname = ref.partition(":")
    if module == "hsproto" or module.startswith("hsproto."):
        return _attr(importlib.import_module(module), qualname, ref)
    if module.startswith(_TORCH_CLASSES):
        for home in (torch.optim, torch.optim.lr_scheduler):
            if hasattr(home, qualname):
                return getattr(home, qualname)
    group = _PLUGIN_GROUPS.get(param)
    if group is not None:
        for info in registry.list_plugins(group):
            if info.value == ref:
                return registry.get(group, info.name)
    raise ValueError(f"The model file names the class {ref!r} for {param!r}, which is "
                     f"neither hsproto's, torch's nor a registered plugin; pass "
                     f"{param}=... to hsproto.load.")


def _attr(module, qualname, ref):
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValueError(f"The model file names {ref!r}, which does not exist in this "
                             f"hsproto version.")
    return obj


def no_class(ref):
    raise ValueError(f"Unexpected class {ref!r} among the fitted attributes.")


def read_layout(d, tensors):
    get = lambda v: None if v is None else decode(v, tensors, no_class)  # noqa: E731
    return Layout(d["n_dims"], prototypes=get(d["prototypes"]), poles=get(d["poles"]),
                  strategy=d["strategy"], neighbour_angle=d["neighbour_angle"],
                  assignment=get(d["assignment"]))
