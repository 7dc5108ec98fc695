"""Library-wide settings (a small sklearn-style config)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["config_context", "get_config", "set_config"]


def _default_cache_dir():
    env = os.environ.get("HSPROTO_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "none") else env
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return str(Path(base) / "hsproto")


_config = {"cache_dir": _default_cache_dir()}


def get_config() -> dict:
    """Current settings: ``cache_dir`` (where optimised prototypes are cached, or None)."""
    return dict(_config)


def set_config(*, cache_dir=...):
    """Change settings.

    Parameters
    ----------
    cache_dir : str, path or None
        Directory of the on-disk prototype cache (``joblib.Memory``); ``None`` turns
        caching off. Defaults to ``$HSPROTO_CACHE_DIR`` or ``~/.cache/hsproto``.
    """
    if cache_dir is not ...:
        if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
            raise TypeError(f"cache_dir must be a path or None, got {cache_dir!r}.")
        _config["cache_dir"] = None if cache_dir is None else str(cache_dir)


@contextlib.contextmanager
def config_context(**changes):
    """Temporarily change settings: ``with config_context(cache_dir=None): ...``."""
    old = get_config()
    set_config(**changes)
    try:
        yield
    finally:
        set_config(**old)
