"""Every direct dependency has a lower bound, which CI installs for its lowest-versions run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "dependency_bounds.py"


def _bounds() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dependency_bounds", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_direct_dependency_is_pinned_to_its_lower_bound() -> None:
    bounds = _bounds()
    requirements = bounds.direct_requirements()
    written = subprocess.run(
        [sys.executable, str(SCRIPT), "lowest"], check=True, capture_output=True, text=True
    ).stdout
    pins = [line for line in written.splitlines() if line and not line.startswith("#")]
    assert len(pins) == len(requirements)
    for req, pin in zip(requirements, pins, strict=True):
        name, version = pin.split("==")
        assert name == req.name
        assert req.specifier.contains(version), pin


@pytest.mark.parametrize("line", ["aiogram", "aiogram<4", "aiogram!=3.21,<4"])
def test_a_dependency_without_a_lower_bound_is_refused(line: str) -> None:
    with pytest.raises(SystemExit, match="no lower bound"):
        _bounds().lower_bound(Requirement(line))


@pytest.mark.parametrize(
    ("line", "lowest"),
    [("SQLAlchemy[asyncio]>=2.0.38,<2.2", "2.0.38"), ("ruff~=0.6", "0.6"), ("x==1.2", "1.2")],
)
def test_the_lower_bound_is_the_version_named(line: str, lowest: str) -> None:
    assert str(_bounds().lower_bound(Requirement(line))) == lowest
