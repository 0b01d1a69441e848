"""Every public name is on the API page, and the README test command runs
the doctests."""

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import skrobust

ROOT = Path(__file__).resolve().parents[1]


def _public_packages():
    yield "skrobust"
    for info in pkgutil.iter_modules(skrobust.__path__, "skrobust."):
        if not info.name.rsplit(".", 1)[1].startswith("_"):
            yield info.name


def _documented():
    """``{module: names}`` from the autosummary blocks of docs/api.rst."""
    out, module = {}, None
    for line in (ROOT / "docs" / "api.rst").read_text().splitlines():
        current = re.match(r"\.\. currentmodule:: ([\w.]+)", line)
        if current:
            module = current.group(1)
        entry = re.fullmatch(r"   (\w+)", line)
        if entry and module:
            out.setdefault(module, set()).add(entry.group(1))
    return out


@pytest.mark.parametrize("package", sorted(_public_packages()))
def test_every_public_name_is_on_the_api_page(package):
    module = importlib.import_module(package)
    # classes and functions (modules and constants are named in the text)
    names = {n for n in module.__all__ if callable(getattr(module, n))}
    missing = sorted(names - _documented().get(package, set()))
    assert not missing, f"add to docs/api.rst under {package}: {missing}"


def test_doctests_run_with_the_test_suite():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pytest_options = config["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in pytest_options["addopts"]
    assert "skrobust" in pytest_options["testpaths"]
