"""The import rules of ARCHITECTURE.md: no Telegram framework outside bot/, layers point down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = {"telegram", "aiogram"}
# Which of our packages each layer may import.
ALLOWED = {
    "domain": {"domain"},
    "handlers": {"handlers", "domain"},
    "scheduler": {"scheduler", "handlers", "domain"},
    "bot": {"bot", "handlers", "domain", "scheduler"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    files = list((ROOT / layer).rglob("*.py"))
    assert files
    for path in files:
        imported = _imports(path)
        ours = imported & set(ALLOWED)
        assert ours <= ALLOWED[layer], f"{path.relative_to(ROOT)} imports {ours - ALLOWED[layer]}"
        if layer != "bot":
            assert not imported & FRAMEWORKS, f"{path.relative_to(ROOT)} imports a framework"


# Services that see the unit of work only through the protocols of `domain/repositories/`.
ON_PROTOCOLS = (
    "audit",
    "broadcasts",
    "campaign_catalogue",
    "consent",
    "customers",
    "dashboard_access",
    "dashboard_figures",
    "fulfilment",
    "loyalty",
    "ordering",
    "outcomes",
    "paying",
    "pins",
    "privacy",
    "recharge",
    "reminders",
    "reward_coupons",
    "risk",
    "staff",
    "support",
    "ticket_refunds",
    "wallet",
)


def _reaches_persistence(path: Path) -> bool:
    return any(
        name.startswith("domain.persistence") or name.startswith("sqlalchemy")
        for name in _full_imports(path)
    )


def test_domain_rules_and_repository_protocols_do_not_import_persistence() -> None:
    paths = [*(ROOT / "domain").glob("*.py"), *(ROOT / "domain" / "repositories").glob("*.py")]
    assert len(paths) > 20
    for path in paths:
        assert not _reaches_persistence(path), path.relative_to(ROOT)


def test_services_on_the_protocols_import_nothing_of_persistence() -> None:
    for name in ON_PROTOCOLS:
        path = ROOT / "domain" / "services" / f"{name}.py"
        assert not _reaches_persistence(path), path.relative_to(ROOT)


def test_the_checker_sees_a_persistence_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from domain.persistence.unit_of_work import UnitOfWorkFactory\n")
    assert _reaches_persistence(sample)


def test_services_see_no_sqlalchemy() -> None:
    """Services work on the unit of work's repositories and domain exceptions only."""
    for path in (ROOT / "domain" / "services").glob("*.py"):
        assert not any(name.startswith("sqlalchemy") for name in _full_imports(path)), path.name


def _full_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_checker_sees_a_framework_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from aiogram import Bot\nimport telegram.ext\n")
    assert _imports(sample) >= FRAMEWORKS
