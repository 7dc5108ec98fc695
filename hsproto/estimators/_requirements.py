"""The third-party code a fitted model needs: recorded at fit, checked when loading."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import warnings

import numpy as np

from .. import registry

__all__ = ["check_requirements", "plugins_used"]

_PLUGIN_PARAMS = (("module", "hsproto.backbones"), ("loss", "hsproto.losses"),
                  ("prototypes", "hsproto.prototypes"))


def plugins_used(params, names=True):
    """The third-party code a model with ``params`` needs to be loaded: plugins selected
    by name from a distribution other than hsproto (``names=True``) and classes or
    instances from outside hsproto given as ``module``, ``loss`` or ``prototypes``."""
    used = []
    for param, group in _PLUGIN_PARAMS:
        value = params.get(param)
        if isinstance(value, str):
            if not names:
                continue
            info = registry.describe(group, value)
            if info.distribution.lower() == "hsproto":
                continue
            used.append({"param": param, "group": group, "name": info.name,
                         "distribution": info.distribution, "version": info.version,
                         "module": info.value.partition(":")[0]})
        elif value is not None and not isinstance(value, np.ndarray):
            cls = value if inspect.isclass(value) else type(value)
            if cls.__module__.partition(".")[0] == "hsproto":
                continue
            dist, version = registry.distribution_of(cls.__module__)
            used.append({"param": param, "group": group, "name": cls.__qualname__,
                         "distribution": dist, "version": version,
                         "module": cls.__module__})
    return used


def check_requirements(owner, requires):
    """Raise a :class:`~hsproto.registry.PluginError` naming the first plugin in
    ``requires`` that cannot be imported; warn when an installed version differs."""
    for req in requires:
        what = (f"{registry._NOUN[req['group']]} {req['name']!r} ({req['param']}=) from "
                f"distribution {req['distribution']!r} version {req['version']}")
        try:
            importlib.import_module(req["module"])
        except ImportError as exc:
            hint = (f" Install {req['distribution']}=={req['version']} to load it."
                    if req["distribution"] else "")
            raise registry.PluginError(
                f"This {owner} was fitted with the {what}, which cannot be imported here "
                f"({type(exc).__name__}: {exc}).{hint}") from exc
        if req["distribution"] and req["version"]:
            try:
                here = importlib.metadata.version(req["distribution"])
            except importlib.metadata.PackageNotFoundError:
                continue
            if here != req["version"]:
                warnings.warn(f"This {owner} was fitted with the {what}; version {here} is "
                              f"installed here.", registry.PluginWarning, stacklevel=3)
