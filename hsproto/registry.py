"""Entry-point registry for prototype strategies, losses and backbones.

Every plugin, built-in or third-party, is found the same way: an entry point in one of
the groups below whose value is an ``"package.module:Object"`` string. Nothing is
imported until a plugin is selected by name or listed with :func:`list_plugins`.

A plugin that fails to import, or imports an object of the wrong kind for its group
(the structural contract that each base class module declares as ``plugin_problem``:
``hsproto.prototypes._base``, ``hsproto.losses._base``, ``hsproto.backbones._base``),
never affects the others: listing reports it as broken (with a warning), and selecting it raises
:class:`PluginError` naming its distribution and the cause. Two distributions
registering the same name in one group trigger a warning; hsproto's own built-in keeps
the name, and between two third-party distributions the plain name is ambiguous and
must be qualified as ``"distribution:name"``.

:func:`register` adds a plugin at run time (a notebook, a quick experiment), through
the same contract check; it is listed with the distribution ``"runtime"``.

Layering: this module imports only the base-class modules (lazily, to check a plugin);
nothing that builds on plugins (strategies, losses, estimators, testing) is imported here.
"""

from __future__ import annotations

import functools
import importlib.metadata
import threading
import warnings
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "GROUPS",
    "RUNTIME",
    "PluginContractError",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "available",
    "contract_problem",
    "describe",
    "distribution_of",
    "get",
    "list_plugins",
    "refresh",
    "register",
    "unregister",
]

GROUPS = ("hsproto.prototypes", "hsproto.losses", "hsproto.backbones")
_SHORT = {g.split(".", 1)[1]: g for g in GROUPS}
_NOUN = {"hsproto.prototypes": "prototype strategy", "hsproto.losses": "loss",
         "hsproto.backbones": "backbone"}
_OWN_DISTRIBUTION = "hsproto"
RUNTIME = "runtime"   # the distribution name of plugins added by register()


class PluginError(ImportError):
    """A registered plugin could not be loaded."""


class PluginContractError(TypeError):
    """A plugin imported but is not what its group requires (wrong type, no tasks...)."""


class PluginWarning(UserWarning):
    """A plugin is broken or its name is registered twice."""


@dataclass(frozen=True)
class PluginInfo:
    """What the registry knows about one entry point.

    Attributes
    ----------
    name, group, value : str
        The entry point's name, group and ``"module:object"`` target.
    distribution, version : str
        The installed distribution that declares the entry point.
    status : str
        ``"ok"`` (imported), ``"not loaded"``, ``"broken"`` (import failed),
        ``"shadowed"`` (a duplicate name that hsproto's built-in keeps) or
        ``"ambiguous"`` (a duplicate name between third-party distributions).
    error : str or None
        Why the plugin is broken or shadowed.
    """

    name: str
    group: str
    value: str
    distribution: str
    version: str
    status: str = "not loaded"
    error: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.distribution}:{self.name}"


class _Registered(NamedTuple):
    """What :func:`register` keeps: the entry point's name and value, and the object."""

    name: str
    value: str
    obj: object

    def load(self):
        return self.obj


class _Entry:
    """One entry point (or :func:`register` call) plus its lazily loaded object."""

    def __init__(self, ep, group: str, distribution: str, version: str):
        self.ep = ep
        self.group = group
        self.distribution = distribution
        self.version = version
        self.obj = None
        self.error: BaseException | None = None
        self.loaded = False

    def load(self):
        if not self.loaded:
            try:
                self.obj = self.ep.load()
                reason = _validate(self.group, self.obj)
                if reason is not None:
                    self.obj, self.error = None, PluginContractError(reason)
            except Exception as exc:  # any failure of third-party code is contained
                self.error = exc
            self.loaded = True
        return self.obj

    def info(self, group: str, status: str | None = None, error: str | None = None):
        if status is None:
            if not self.loaded:
                status = "not loaded"
            elif self.error is not None:
                status, error = "broken", _describe(self.error)
            else:
                status = "ok"
        return PluginInfo(self.ep.name, group, self.ep.value, self.distribution,
                          self.version, status, error)


def _validate(group: str, obj) -> str | None:
    """Why ``obj`` breaks the structural contract of ``group``, asked of the group's base
    class module (imported here, on first use: it may import torch)."""
    if group == "hsproto.prototypes":
        from .prototypes._base import plugin_problem
    elif group == "hsproto.losses":
        from .losses._base import plugin_problem
    else:
        from .backbones._base import plugin_problem
    return plugin_problem(obj)


def contract_problem(group: str, obj) -> str | None:
    """Why ``obj`` cannot serve as a plugin of ``group`` (a message), or None.

    Only structure is checked (types, declared tasks, required methods), so it is cheap
    enough to run on every plugin loaded; ``hsproto.testing``'s ``check_*`` functions run
    the behaviour.
    """
    return _validate(_group(group), obj)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


_lock = threading.RLock()
_state: dict[str, dict] = {}
_runtime: dict[str, dict[str, _Registered]] = {g: {} for g in GROUPS}


def _group(group: str) -> str:
    if group in GROUPS:
        return group
    if group in _SHORT:
        return _SHORT[group]
    raise ValueError(f"Unknown plugin group {group!r}; expected one of {', '.join(GROUPS)}.")


def _entry_points(group: str):
    """The entry points of ``group`` with their distributions (patched in tests)."""
    found = []
    for ep in importlib.metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else "unknown"
        version = dist.version if dist is not None else "unknown"
        found.append((ep, name, version))
    return found


def _all_entries(group: str):
    """Entry points plus the plugins added by :func:`register`."""
    return [*_entry_points(group), *((reg, RUNTIME, "-") for reg in _runtime[group].values())]


@functools.lru_cache(maxsize=1)
def _packages_distributions():
    # scans every installed distribution: once per process (pickling a model in a
    # grid search would otherwise pay it per candidate)
    return importlib.metadata.packages_distributions()


def distribution_of(module: str):
    """``(distribution, version)`` that installs the module named ``module``, or
    ``(None, None)`` (e.g. a notebook's ``__main__``)."""
    top = module.partition(".")[0]
    dists = _packages_distributions().get(top)
    if not dists:                               # installed since the last scan?
        _packages_distributions.cache_clear()
        dists = _packages_distributions().get(top)
    if not dists:
        return None, None
    try:
        return dists[0], importlib.metadata.version(dists[0])
    except importlib.metadata.PackageNotFoundError:
        return dists[0], None


def _canonical(dist: str) -> str:
    return dist.lower().replace("_", "-")


def _discover(group: str) -> dict:
    """Index ``group`` once: name -> winning entry, plus duplicates."""
    with _lock:
        if group in _state:
            return _state[group]
        by_name: dict[str, list[_Entry]] = {}
        seen = set()
        for ep, dist, version in _all_entries(group):
            key = (ep.name, ep.value, _canonical(dist))
            if key in seen:  # the same distribution visible twice on sys.path
                continue
            seen.add(key)
            entry = _Entry(ep, group, dist, version)
            if isinstance(ep, _Registered):     # checked by register(): already loaded
                entry.obj, entry.loaded = ep.obj, True
            by_name.setdefault(ep.name, []).append(entry)
        state = {"entries": by_name, "winner": {}, "conflicts": {}}
        for name, entries in by_name.items():
            entries.sort(key=lambda e: (_canonical(e.distribution) != _OWN_DISTRIBUTION,
                                        _canonical(e.distribution)))
            if len(entries) == 1:
                state["winner"][name] = entries[0]
                continue
            dists = ", ".join(e.distribution for e in entries)
            if _canonical(entries[0].distribution) == _OWN_DISTRIBUTION:
                state["winner"][name] = entries[0]
                msg = (f"{group} plugin {name!r} is registered by {dists}; hsproto's "
                       f"built-in keeps the name, select another one as "
                       f"'distribution:{name}'.")
            else:
                state["conflicts"][name] = entries
                msg = (f"{group} plugin {name!r} is registered by {dists}; select one as "
                       f"'distribution:{name}'.")
            warnings.warn(msg, PluginWarning, stacklevel=3)
        _state[group] = state
        return state


def refresh() -> None:
    """Forget what was discovered and loaded; re-read entry points on next use (plugins
    added by :func:`register` stay registered)."""
    with _lock:
        _state.clear()


def register(group: str, name: str, obj, *, replace: bool = False) -> None:
    """Register ``obj`` as plugin ``name`` of ``group`` for this process.

    The way to try a strategy, loss or backbone in a notebook before packaging it:
    ``obj`` goes through the same contract check as an entry point's object, then is
    selectable by name (``HypersphericalClassifier(loss=name)``) and listed by
    :func:`list_plugins` with the distribution ``"runtime"``. A published package
    declares an entry point instead (docs/plugins.md).

    Parameters
    ----------
    group : str
        ``"prototypes"``, ``"losses"`` or ``"backbones"`` (or the full group name).
    name : str
        The name to select it by; must not be taken by an installed plugin.
    obj : object
        A ``PrototypeStrategy`` subclass or instance, a ``PrototypeLoss`` subclass, or a
        ``torch.nn.Module`` subclass or instance.
    replace : bool, default=False
        Replace an earlier :func:`register` of the same name (never an installed one).

    Raises
    ------
    PluginContractError
        ``obj`` breaks the group's contract (the message says how).
    ValueError
        The name is invalid, taken by an installed plugin, or registered already.
    """
    group = _group(group)
    if not isinstance(name, str) or not name or ":" in name or name != name.strip():
        raise ValueError(f"A plugin name must be a non-empty string without ':' or "
                         f"surrounding spaces, got {name!r}.")
    reason = _validate(group, obj)
    if reason is not None:
        raise PluginContractError(f"Cannot register {name!r} in {group}: {reason}.")
    with _lock:
        installed = [e for e in _discover(group)["entries"].get(name, ())
                     if e.distribution != RUNTIME]
        if installed:
            raise ValueError(f"{group} plugin name {name!r} is taken by distribution "
                             f"{installed[0].distribution!r}; register under another name.")
        if name in _runtime[group] and not replace:
            raise ValueError(f"{group} plugin {name!r} is registered already; pass "
                             f"replace=True to replace it.")
        value = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"
        _runtime[group][name] = _Registered(name, value, obj)
        _state.pop(group, None)


def unregister(group: str, name: str) -> None:
    """Remove a plugin added by :func:`register` (installed plugins cannot be removed)."""
    group = _group(group)
    with _lock:
        if _runtime[group].pop(name, None) is None:
            raise ValueError(f"{group} has no plugin {name!r} added by register().")
        _state.pop(group, None)


def available(group: str) -> tuple[str, ...]:
    """Sorted names that can be selected in ``group`` (broken ones included)."""
    state = _discover(_group(group))
    names = set(state["winner"]) | set(state["conflicts"])
    return tuple(sorted(names))


def _resolve(group: str, name: str) -> _Entry:
    state = _discover(group)
    if ":" in name:
        dist, _, plain = name.partition(":")
        for entry in state["entries"].get(plain, ()):
            if _canonical(entry.distribution) == _canonical(dist):
                return entry
    elif name in state["winner"]:
        return state["winner"][name]
    elif name in state["conflicts"]:
        options = ", ".join(f"'{e.distribution}:{name}'" for e in state["conflicts"][name])
        raise ValueError(f"{group} plugin name {name!r} is ambiguous; use one of {options}.")
    names = ", ".join(available(group)) or "none"
    raise ValueError(f"Unknown {_NOUN[group]} {name!r}; available: {names}.")


def get(group: str, name: str):
    """Load and return the object registered as ``name`` in ``group``.

    Raises
    ------
    ValueError
        If no plugin of that name exists (the message lists the available names),
        or the name is ambiguous.
    PluginError
        If the plugin is registered but fails to import or is not the kind of object
        its group requires (see :func:`contract_problem`).
    """
    group = _group(group)
    if not isinstance(name, str):
        raise TypeError(f"A {group} plugin name must be a string, got {type(name).__name__}.")
    entry = _resolve(group, name)
    with _lock:
        obj = entry.load()
    if entry.error is not None:
        raise PluginError(
            f"{group} plugin {entry.ep.name!r} from distribution {entry.distribution!r} "
            f"(version {entry.version}) is broken ({entry.ep.value}): "
            f"{_describe(entry.error)}"
        ) from entry.error
    return obj


def describe(group: str, name: str) -> PluginInfo:
    """The :class:`PluginInfo` of the plugin that ``name`` selects in ``group`` (not
    imported by this call)."""
    group = _group(group)
    return _resolve(group, name).info(group)


def list_plugins(group: str | None = None) -> list[PluginInfo]:
    """Import and describe every registered plugin, in ``group`` or in all groups.

    Broken plugins are listed with status ``"broken"`` and a :class:`PluginWarning`;
    they never stop the others from loading.
    """
    groups = GROUPS if group is None else (_group(group),)
    infos = []
    for g in groups:
        state = _discover(g)
        for name in sorted(state["entries"]):
            entries = state["entries"][name]
            winner = state["winner"].get(name)
            for entry in entries:
                with _lock:
                    entry.load()
                if entry.error is not None:
                    info = entry.info(g)
                    warnings.warn(f"{g} plugin {name!r} from {entry.distribution!r} is "
                                  f"broken: {info.error}", PluginWarning, stacklevel=2)
                elif winner is not None and entry is not winner:
                    info = entry.info(g, "shadowed", f"name kept by {winner.distribution!r}")
                elif name in state["conflicts"]:
                    info = entry.info(g, "ambiguous", "name registered by several "
                                      "distributions; select it as 'distribution:name'")
                else:
                    info = entry.info(g)
                infos.append(info)
    return infos
