"""Model files that are safe to load: ``save`` and ``load``.

:func:`save` (or ``estimator.save(path)``) writes a fitted estimator as one
``.safetensors`` file: the weights and buffers of the network and the loss as tensors,
and in the file's metadata a JSON document with the parameters, the fitted metadata
(classes, sizes, target bounds, the layout, history, plugins with their distributions and
versions, hsproto/torch versions) and a SHA-256 of the document and every tensor.
:func:`load` verifies the digest before it builds anything, never unpickles, and imports
nothing but hsproto, torch's optimisers and schedulers, and registered plugins.
Parameters that cannot be written as data (a user's own ``nn.Module`` class, a
transform, callbacks) are named in the document; ``load(path, module=MyNet,
preprocess=...)`` passes them back.

Pickle and joblib keep working for scikit-learn's tools (``GridSearchCV``,
``joblib.Parallel``), but loading a pickle runs whatever code it names: only unpickle
files you made yourself, and share models as ``save`` files.
"""

from __future__ import annotations

import json
import os
import warnings

import torch

from ._modelfile import FORMAT, FORMAT_VERSION, NEEDED, decode, read, read_layout
from ._modelfile import class_for as _class
from ._modelfile import no_class as _no_class
from ._version import __version__
from .estimators import HypersphericalClassifier, HypersphericalRegressor, JointEstimator
from .estimators._requirements import check_requirements

_ESTIMATORS = {c.__name__: c for c in (HypersphericalClassifier, HypersphericalRegressor,
                                       JointEstimator)}

__all__ = ["load", "save"]


def save(estimator, path):
    """Write a fitted hsproto estimator to ``path``: ``estimator.save(path)``."""
    return estimator.save(path)


def load(path, *, device=None, **params):
    """Load an estimator written by :func:`save`, without unpickling anything.

    The file's SHA-256 digest is checked first; classes are resolved only among
    hsproto's own, torch's optimisers and schedulers, and registered plugins (a missing
    plugin raises :class:`hsproto.PluginError` naming its distribution).

    Parameters
    ----------
    path : str or path-like
    device : str, default=None
        Where to load the network; None keeps the saved device, or the CPU when it was
        a CUDA device and CUDA is not available here.
    **params
        Parameters to set on the loaded estimator: required for those the file could
        not hold and that prediction needs (a user's own ``module`` class or instance,
        ``loss``, ``prototypes``, ``preprocess``); others not saved (``augment``,
        ``callbacks``, a ``RandomState``) are reset to their defaults with a warning.

    Returns
    -------
    estimator
        Fitted: ``predict``, ``predict_proba``, ``transform`` etc. give what the saved
        estimator gave.
    """
    text, tensors = read(os.fspath(path))
    doc = json.loads(text)
    if doc.get("format") != FORMAT or doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path} is not an hsproto model file of format version "
                         f"{FORMAT_VERSION} (found {doc.get('format')!r} "
                         f"{doc.get('format_version')!r}).")
    cls = _estimator_class(doc["estimator"])
    if doc.get("hsproto") != __version__:
        warnings.warn(f"{path} was saved by hsproto {doc.get('hsproto')} and is loaded by "
                      f"hsproto {__version__}.", UserWarning, stacklevel=2)
    check_requirements(cls.__name__, doc.get("plugins", []))
    values = {}
    for name, value in doc["params"].items():
        if name in params:
            continue                          # given by the caller: not even resolved
        values[name] = decode(value, tensors, lambda ref, n=name: _class(ref, n))
    missing = [n for n in doc["unsaved"] if n in NEEDED and n not in params]
    if missing:
        raise ValueError(f"{path} could not store {missing} ("
                         f"{', '.join(doc['unsaved'][n] for n in missing)}); pass "
                         f"{', '.join(f'{n}=...' for n in missing)} to hsproto.load.")
    reset = sorted(set(doc["unsaved"]) - set(params))
    if reset:
        warnings.warn(f"{path} does not hold {reset}; they are reset to their defaults "
                      f"(pass them to hsproto.load to set them).", UserWarning, stacklevel=2)
    values.update(params)
    if device is not None:
        values["device"] = device
    elif str(values.get("device", "cpu")).startswith("cuda") and \
            not torch.cuda.is_available():
        values["device"] = "cpu"
    estimator = cls(**values)
    fitted = {k: decode(v, tensors, _no_class) for k, v in doc["fitted"].items()}
    layout = read_layout(doc["layout"], tensors)
    state = {k: v for k, v in tensors.items() if not k.startswith("data/")}
    estimator._restore(fitted, layout, state, doc["history"])
    return estimator


def _estimator_class(ref):
    module, _, name = ref.partition(":")
    if not module.startswith("hsproto."):
        raise ValueError(f"The model file names estimator {ref!r}, not an hsproto one.")
    cls = _ESTIMATORS.get(name)
    if cls is None:
        raise ValueError(f"Unknown hsproto estimator {name!r} in the model file.")
    return cls


