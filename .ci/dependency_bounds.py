"""The direct dependencies of pyproject.toml at either end of their ranges.

    python .ci/dependency_bounds.py lowest      # a pip constraints file: each at its lower bound
    python .ci/dependency_bounds.py installed   # what this interpreter has of each (name==version)

`lowest` pins every direct dependency ([project].dependencies and the `dev` extra) to the
version its lower bound names (`>=X`, `~=X`, `==X` -> `==X`); extras such as `[asyncio]` are
dropped from the constraint (pip refuses them there) and still come from the requirement itself.
A direct dependency with no lower bound is refused: its lowest version would be whatever is oldest
on the index, which nobody has tested. `installed` exits non-zero when one is missing.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.version import Version
except ModuleNotFoundError:  # a bare interpreter: pip carries its own copy
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.version import Version  # type: ignore[no-redef]

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
EXTRAS = ("dev",)


def direct_requirements() -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    lines = list(project.get("dependencies", []))
    for extra in EXTRAS:
        lines += project.get("optional-dependencies", {}).get(extra, [])
    return [Requirement(line) for line in lines]


def lower_bound(req: Requirement) -> Version:
    bounds = [
        Version(spec.version)
        for spec in req.specifier
        if spec.operator in (">=", "~=", "==", "===")
    ]
    if not bounds:
        raise SystemExit(
            f"pyproject.toml: {req} has no lower bound (>=, ~= or ==); give it one, "
            "the lowest version the project is tested with"
        )
    return max(bounds)


def lowest() -> int:
    print("# The lowest versions pyproject.toml allows for its direct dependencies.")
    print("# Written by .ci/dependency_bounds.py lowest; used as pip's constraints (-c).")
    for req in direct_requirements():
        version = lower_bound(req)
        if not req.specifier.contains(version, prereleases=True):
            raise SystemExit(f"pyproject.toml: {req} excludes its own lower bound {version}")
        print(f"{req.name}=={version}")
    return 0


def installed() -> int:
    problems = 0
    for req in direct_requirements():
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            print(f"{req.name}: NOT INSTALLED")
            problems += 1
            continue
        if req.specifier.contains(version, prereleases=True):
            print(f"{req.name}=={version}")
        else:
            print(f"{req.name}=={version}: OUTSIDE {req.specifier}")
            problems += 1
    return 1 if problems else 0


if __name__ == "__main__":
    commands = {"lowest": lowest, "installed": installed}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(__doc__)
    sys.exit(commands[sys.argv[1]]())
