"""A study name is a name, never a path.

A new study's name is refused (:func:`check_study_name`) when it holds a path separator, ``..``, a
control character or more than :data:`MAX_NAME` characters. Every file path built from a name
goes through :func:`study_slug`, so a name can never lead a file out of the study's directories,
whatever it holds: studies created before these rules, with unusual names, keep working.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_NAME = 128  # characters; a longer name is refused for a new study
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # names used as they are in file names
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a new study (None when it can)."""
    if not isinstance(name, str) or not name.strip():
        return "a study name must be a non-empty string"
    if len(name) > MAX_NAME:
        return f"it has {len(name)} characters, more than {MAX_NAME}"
    if "/" in name or "\\" in name:
        return "it holds a path separator ('/' or '\\')"
    if ".." in name:
        return "it holds '..'"
    bad = [c for c in name if unicodedata.category(c) == "Cc"]
    if bad:
        return f"it holds a control character ({bad[0]!r})"
    return None


def check_study_name(name: object) -> None:
    """Refuse a new study's name in one line (StudyError) unless it is a plain name."""
    problem = name_problem(name)
    if problem is not None:
        from searchspace.errors import StudyError

        shown = repr(name) if not isinstance(name, str) or len(name) <= 60 else repr(name[:60] + "...")
        raise StudyError(f"study name {shown} is not valid: {problem}; use letters, digits, '.', '_' and '-' "
                         f"(at most {MAX_NAME} characters)")


def study_slug(name: str) -> str:
    """The part of a file name that stands for study ``name``: the name itself when it is plain
    (letters, digits, ``._-``, at most 64 characters, not starting with a dot or dash), else its
    safe characters plus a short hash of the whole name, so two names never share a path."""
    if _SAFE.fullmatch(name):
        return name
    safe = _UNSAFE_RUN.sub("_", name).strip("._-")[:40] or "study"
    return f"{safe}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
