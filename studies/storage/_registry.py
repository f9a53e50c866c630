"""The storage backends by URL scheme, and what can be read from a URL without opening it.

Each backend module registers its class here when ``studies.storage`` is imported. This module
imports no backend, so every other module of the package can use it without a cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from searchspace.errors import StorageError, valid_list

_BACKENDS: dict[str, Any] = {}  # scheme -> Backend subclass, in registration order
_ALIASES: dict[str, str] = {}  # another spelling of a scheme ("postgres") -> the scheme


def register(cls: Any) -> Any:
    """Record a backend class under its ``scheme`` (and ``aliases``); a scheme taken twice is a bug."""
    for name in (cls.scheme, *cls.aliases):
        if name in _BACKENDS or name in _ALIASES:
            raise ValueError(f"storage scheme {name!r} is registered twice ({cls.__name__})")
    _BACKENDS[cls.scheme] = cls
    _ALIASES.update({alias: cls.scheme for alias in cls.aliases})
    return cls


def list_schemes() -> tuple[str, ...]:
    """The URL schemes layerlab opens, e.g. ``('sqlite', 'postgresql', 'mysql', 'journal', 'memory')``."""
    return tuple(_BACKENDS)


def registered() -> list[Any]:
    """Every backend class, in registration order."""
    return list(_BACKENDS.values())


def scheme_of(url: str) -> str:
    if "://" not in url:
        for cls in _BACKENDS.values():
            if cls.suffixes and url.endswith(cls.suffixes):
                return cls.scheme
        raise StorageError(
            f"storage URL {url!r} has no scheme; valid schemes: {valid_list(list_schemes())} "
            "(e.g. sqlite:///runs/layerlab.db, postgresql://user@127.0.0.1/db, journal:///path/study.log)"
        )
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    scheme = _ALIASES.get(scheme, scheme)
    if scheme not in _BACKENDS:
        raise StorageError(f"unknown storage scheme {scheme!r} in {redact(url)!r}; "
                           f"valid schemes: {valid_list(list_schemes())}")
    return scheme


def backend_class(url: str) -> Any:
    return _BACKENDS[scheme_of(url)]


def storage_file(url: str) -> Path | None:
    """The file holding a file-based storage (SQLite, journal); None for database servers and memory."""
    return backend_class(url).file_path(url)


def check_url(url: str, *, create: bool = False) -> None:
    """Validate ``url`` without writing anything (``create`` allows a missing file)."""
    cls = backend_class(url)
    path = cls.file_path(url)
    if path is not None and not create and not path.exists():
        # a relative path (the default storage's is) is read from the working directory: say which
        where = "" if path.is_absolute() else f", relative to the working directory {Path.cwd()}"
        raise StorageError(f"no {cls.file_kind} at {path} (from {url!r}{where}); give --storage the URL the study "
                           "was launched with")


def redact(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"
