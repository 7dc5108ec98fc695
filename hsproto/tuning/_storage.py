"""Study storages: in memory, SQLite, or a database server with heartbeats."""

from __future__ import annotations

import importlib
import inspect
import re
import time
import warnings

import optuna

__all__ = ["open_storage"]

_DIALECTS = ("sqlite", "postgresql", "mysql")
_SERVER_DIALECTS = ("postgresql", "mysql")
_CONNECT_TIMEOUT_S = 10


def _mask(url):
    """``url`` with the password replaced by ``***``."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))


def open_storage(storage, heartbeat_interval):
    """None (in memory), an optuna storage as given, or an ``RDBStorage`` for a URL that
    was parsed and connected to first (clear errors before any trial runs)."""
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise ValueError(f"storage must be None, a database URL or an optuna storage; got "
                         f"{storage!r}.")
    url = _with_driver(_parse_url(storage), storage)
    _check_connection(storage, url)
    options = {}
    if url.get_backend_name() in _SERVER_DIALECTS:
        options = _heartbeat_options(heartbeat_interval)
        options["engine_kwargs"] = {"pool_pre_ping": True, **_connect_args(url)}
    return _rdb_storage(url.render_as_string(hide_password=False), options)


def _parse_url(storage):
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(storage)
    except (ArgumentError, ValueError) as exc:
        raise ValueError(f"storage {_mask(storage)!r} is not a valid database URL ({exc}); "
                         f"use e.g. 'sqlite:///study.db' or "
                         f"'postgresql://user:password@host:5432/dbname'.") from None
    if url.get_backend_name() not in _DIALECTS:
        raise ValueError(f"storage {_mask(storage)!r}: unsupported database "
                         f"{url.get_backend_name()!r}; use one of {list(_DIALECTS)} "
                         f"(e.g. 'sqlite:///study.db' or 'postgresql://user:password@host/db')"
                         f".")
    if url.get_backend_name() in _SERVER_DIALECTS and not url.host:
        raise ValueError(f"storage {_mask(storage)!r} names no database host.")
    return url


def _with_driver(url, storage):
    """A bare ``postgresql://`` URL gets the PostgreSQL driver that is installed (psycopg
    3, else psycopg2): SQLAlchemy's default driver differs between its versions."""
    if url.drivername != "postgresql":
        return url
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return url.set(drivername=f"postgresql+{driver}")
    raise ImportError(f"storage {_mask(storage)!r} needs a PostgreSQL driver: install "
                      f"hsproto[tune] (psycopg) or psycopg2.")


def _connect_args(url):
    """Engine keywords: a connection timeout for database servers (psycopg, MySQL)."""
    if url.get_backend_name() in _SERVER_DIALECTS:
        return {"connect_args": {"connect_timeout": _CONNECT_TIMEOUT_S}}
    return {}


def _check_connection(storage, url):
    import sqlalchemy
    from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

    try:
        engine = sqlalchemy.create_engine(url, **_connect_args(url))
    except ImportError as exc:
        raise ImportError(f"storage {_mask(storage)!r} needs a database driver that is not "
                          f"installed ({exc}); install hsproto[tune] (psycopg for "
                          f"PostgreSQL).") from exc
    except NoSuchModuleError as exc:
        raise ValueError(f"storage {_mask(storage)!r}: {exc}") from None
    try:
        with engine.connect() as connection:
            if url.get_backend_name() == "sqlite":
                _check_writable(connection, storage)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConnectionError(f"Cannot connect to the Optuna storage {_mask(storage)!r}: "
                              f"{reason}") from None
    finally:
        engine.dispose()


def _check_writable(connection, storage):
    """A read-only SQLite file (permissions, a read-only file system, ``mode=ro``) is
    named as such: Optuna reports it as invalid data in a commit."""
    from sqlalchemy.exc import OperationalError

    try:
        version = connection.exec_driver_sql("PRAGMA user_version").scalar()
        connection.exec_driver_sql(f"PRAGMA user_version = {int(version)}")  # unchanged
    except OperationalError as exc:
        if "readonly" not in str(exc).replace("read-only", "readonly").replace(" ", ""):
            raise
        raise ValueError(f"The SQLite study database {_mask(storage)!r} is read-only; tune "
                         f"records every trial in it. Use a writable file (or a copy of "
                         f"this one).") from None


def _heartbeat_options(interval):
    """RDBStorage keywords: heartbeats every ``interval`` s, a trial whose worker has been
    silent for ``2 * interval`` s is failed and retried once (Optuna 4.9 renamed the
    callback keyword; both names are handled)."""
    storages = optuna.storages
    retry = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)
    keyword = "heartbeat_stale_trial_callback"
    if retry is None or keyword not in inspect.signature(storages.RDBStorage).parameters:
        retry, keyword = storages.RetryFailedTrialCallback, "failed_trial_callback"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        callback = retry(max_retry=1)
    return {"heartbeat_interval": interval, "grace_period": 2 * interval, keyword: callback}


def _rdb_storage(storage, options):
    """``RDBStorage(storage, **options)``; workers starting together on an empty database
    may race to create Optuna's tables, so a failed creation is retried."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(storage, **options)
        except (IntegrityError, ProgrammingError):
            if attempt == 2:
                raise
            time.sleep(0.5 * (attempt + 1))
