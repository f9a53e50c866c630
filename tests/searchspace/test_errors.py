"""searchspace.errors names every error class, searchspace names the ones a user catches, and
nothing reaches past them."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import searchspace
import searchspace.errors as errors

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("searchspace", "objectives", "studies")
NAMES = sorted(name for name in dir(errors) if not name.startswith("_") and name != "annotations")


def _all_modules():
    for package in PACKAGES:
        module = importlib.import_module(package)
        yield module
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            yield importlib.import_module(info.name)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_user_error_class_is_exported():
    modules = list(_all_modules())  # import everything so every subclass is defined
    assert modules
    defined = {
        cls.__name__ for cls in _subclasses(errors.LayerlabError)
        if cls.__module__.split(".")[0] in PACKAGES
    }
    missing = defined - set(NAMES)
    assert not missing, f"not exported by searchspace.errors: {sorted(missing)}"


def test_the_errors_a_user_catches_are_public_and_the_rest_are_their_subclasses():
    public = {name for name in searchspace.__all__ if name.endswith("Error")}
    assert {"LayerlabError", "ConfigError", "StudyError", "FaultError"} <= public
    for name in NAMES:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, errors.LayerlabError):
            assert any(issubclass(value, getattr(searchspace, p)) for p in public), name
        if name in public:
            assert getattr(searchspace, name) is value, name


@pytest.mark.parametrize("name", NAMES)
def test_each_exported_name_resolves(name):
    value = getattr(errors, name)
    if name in ("valid_list", "did_you_mean"):  # the two helpers that build the one-line messages
        assert callable(value), name
    else:
        assert issubclass(value, Exception), name


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchError"):
        errors.NoSuchError  # noqa: B018


def test_other_packages_import_errors_from_the_public_module():
    offenders = []
    for package in ("objectives", "studies"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module == "searchspace._errors":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"import searchspace.errors instead: {offenders}"
